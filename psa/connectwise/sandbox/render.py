"""Turning records into HTTP responses: absolute `_href` links, JSON and plain-text bodies."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

NOT_ROUTED = "Cannot route. Codebase/company is invalid"


def api_root(request: web.Request, codebase: str) -> str:
    return f"{request.scheme}://{request.host}/{codebase}apis/3.0/"


# In `json.dumps` output a raw `"` is always a string's edge (inside one it is `\"`), and only
# a key is followed by `: `, so this matches exactly the keys ending in `_href` that have a
# string value, and only when that string holds no `://` (an absolute link is left alone).
# The look-ahead walks the string in runs without `"`, `\` or `:`, escapes and lone colons,
# never backtracking (each step is decided by its first character).
_RELATIVE_HREF = re.compile(r'_href": "(?!(?:[^"\\:]++|\\.|:(?!//))*+://)')


def absolute_links(text: str, root: str) -> str:
    """`text` (from `json.dumps`) with each relative `*_href` string prefixed with `root`.

    The same bytes as making the links absolute in a deep copy of the records and dumping
    that, in one pass over the text instead of a Python walk over every value.
    """
    escaped = json.dumps(root, ensure_ascii=False)[1:-1].replace("\\", "\\\\")
    return _RELATIVE_HREF.sub('_href": "' + escaped, text)


def json_response(
    body: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    links_under: str | None = None,
) -> web.Response:
    """`body` as JSON; with `links_under`, relative `*_href` links made absolute under it."""
    text = json.dumps(body, ensure_ascii=False)
    return web.Response(
        text=text if links_under is None else absolute_links(text, links_under),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def not_routed() -> web.Response:
    """What ConnectWise answers for an unknown or moved codebase: plain text, not JSON."""
    return web.Response(text=NOT_ROUTED, status=404, content_type="text/plain")


def rate_limited(retry_after: int | str) -> web.Response:
    return json_response(
        {
            "error": "ConnectWiseAPI",
            "message": f"Too many requests. Please try again in {retry_after} seconds.",
        },
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def echo_headers_page(request: web.Request) -> web.Response:
    """A proxy's 502 page that lists the request headers, Authorization included."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(value)}</td></tr>"
        for name, value in request.headers.items()
    )
    page = (
        "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
        f"<p>The upstream server did not answer {html.escape(request.method)} "
        f"{html.escape(request.path)}.</p><table>{rows}</table></body></html>"
    )
    return web.Response(text=page, status=502, content_type="text/html")


def _oversized_chunk(size: int) -> bytes:
    """Ticket-like records, comma separated, about `size` bytes (each chunk starts with `,`)."""
    record = json.dumps({"id": 1, "summary": "x" * 400, "closedFlag": False}).encode()
    count = max(1, size // (len(record) + 1))
    return b"".join(b"," + record for _ in range(count))


async def oversized_list(request: web.Request, megabytes: float) -> web.StreamResponse:
    """A 200 JSON list of about `megabytes` MB, generated while sent (chunked, no length)."""
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.charset = "utf-8"
    response.enable_chunked_encoding()
    await response.prepare(request)
    target = int(megabytes * 1024 * 1024)
    chunk = _oversized_chunk(64 * 1024)
    sent = 0
    try:
        await response.write(b'[{"id": 0}')
        while sent < target:
            await response.write(chunk)
            sent += len(chunk)
        await response.write(b"]")
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading and closed the connection: that is the point
    return response


def server_error() -> web.Response:
    return json_response(
        {"code": "ConnectWiseApi", "message": "A timeout has occured. Please try again."},
        status=500,
    )
