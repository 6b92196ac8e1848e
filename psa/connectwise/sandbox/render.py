"""Turning records into HTTP responses: absolute `_href` links, JSON and plain-text bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

NOT_ROUTED = "Cannot route. Codebase/company is invalid"


def api_root(request: web.Request, codebase: str) -> str:
    return f"{request.scheme}://{request.host}/{codebase}apis/3.0/"


def absolutize(value: Any, root: str) -> Any:
    """A deep copy of `value` with relative `*_href` links made absolute under `root`."""
    if isinstance(value, dict):
        return {
            key: (
                root + item
                if key.endswith("_href") and isinstance(item, str) and "://" not in item
                else absolutize(item, root)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [absolutize(item, root) for item in value]
    return value


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def not_routed() -> web.Response:
    """What ConnectWise answers for an unknown or moved codebase: plain text, not JSON."""
    return web.Response(text=NOT_ROUTED, status=404, content_type="text/plain")


def rate_limited(retry_after: int) -> web.Response:
    return json_response(
        {"error": "ConnectWiseAPI",
         "message": f"Too many requests. Please try again in {retry_after} seconds."},
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def server_error() -> web.Response:
    return json_response(
        {"code": "ConnectWiseApi", "message": "A timeout has occured. Please try again."},
        status=500,
    )
