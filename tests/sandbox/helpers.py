"""Test helpers for the sandbox: a validating ConnectWise HTTP client and the OpenAPI check.

Every JSON body the client receives is checked against the OpenAPI 2025.1 subset in
tests/data/connectwise: 2xx bodies against the documented response of the matching path
(lists item by item), error bodies against ErrorResponseMessage.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
from multidict import CIMultiDictProxy
from yarl import URL

from psa.connectwise.sandbox import SandboxServer

DATA_DIR = Path(__file__).parent.parent / "data" / "connectwise"
SPEC_FILE = DATA_DIR / "manage-openapi-2025.1-subset.json"
ERRORS_FILE = DATA_DIR / "errors.json"
CLIENT_ID = "5d1f3b0e-7a52-4c1e-9e4b-2f8a6c0d9b17"
ACCEPT = "application/vnd.connectwise.com+json; version=2025.1"
_DROPPED_KEYS = {"format", "description", "nullable", "example", "readOnly", "writeOnly"}


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll `condition` until it holds, failing after `seconds`."""
    step = 0.01
    for _ in range(int(seconds / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {seconds} s")


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


FULL_AUTH = basic("psabot+sandbox-public", "sandbox-private")
RESTRICTED_AUTH = basic("psabot+restricted-public", "restricted-private")


def _convert(node: Any, *, strict: bool, partial: bool) -> Any:
    """OpenAPI 3.0 schema → JSON Schema 2020-12 (refs to $defs, nullable → null type)."""
    if isinstance(node, list):
        return [_convert(item, strict=strict, partial=partial) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": "#/$defs/" + node["$ref"].rsplit("/", 1)[1]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or key.startswith("x-") or (key == "required" and partial):
            continue
        if key == "properties":
            out[key] = {
                name: _convert(sub, strict=strict, partial=partial) for name, sub in value.items()
            }
        else:
            out[key] = _convert(value, strict=strict, partial=partial)
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if strict and "properties" in out and "additionalProperties" not in out:
        # the sandbox should send only fields the spec knows (a typo is a bug here)
        out["additionalProperties"] = False
    return out


class OpenApiSubset:
    """Response validation against the saved OpenAPI subset."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.schemas: Mapping[str, Any] = spec["components"]["schemas"]
        templates = sorted(spec["paths"], key=lambda t: (t.count("{"), t))
        self.paths = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$"), t) for t in templates
        ]

    @cache  # noqa: B019 - one instance per test session
    def _defs(self, strict: bool, partial: bool) -> dict[str, Any]:
        return {
            name: _convert(schema, strict=strict, partial=partial)
            for name, schema in self.schemas.items()
        }

    def validator(
        self, schema: Mapping[str, Any], *, strict: bool = True, partial: bool = False
    ) -> jsonschema.Draft202012Validator:
        root = {
            "$defs": self._defs(strict, partial),
            **_convert(schema, strict=strict, partial=partial),
        }
        return jsonschema.Draft202012Validator(root)

    def template(self, api_path: str) -> str | None:
        return next((t for regex, t in self.paths if regex.match(api_path)), None)

    def response_schema(self, method: str, api_path: str, status: int) -> Any:
        template = self.template(api_path)
        assert template is not None, f"{api_path} is not in the OpenAPI subset"
        operation = self.spec["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not in the OpenAPI subset"
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {template} documents no {status} response"
        return next(iter(response["content"].values()))["schema"]

    def error_schema(self) -> dict[str, Any]:
        schema = json.loads(json.dumps(self.schemas["ErrorResponseMessage"]))
        # real error bodies carry "errors": null (samples/errors.json), the spec says array
        schema["properties"]["errors"]["nullable"] = True
        return dict(schema)

    def check(self, method: str, api_path: str, status: int, body: Any, *, partial: bool) -> None:
        if 200 <= status < 300:
            schema = self.response_schema(method, api_path, status)
            if schema.get("type") == "array":
                assert isinstance(body, list), f"{method} {api_path}: expected a JSON array"
                validator = self.validator(schema["items"], partial=partial)
                for item in body:
                    validator.validate(item)
            else:
                self.validator(schema, partial=partial).validate(body)
        elif status != 429:  # the documented 429 body uses "error", not "code"
            self.validator(self.error_schema()).validate(body)


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    text: str
    body: Any

    @property
    def links(self) -> dict[str, str]:
        """rel → URL from the Link header."""
        header = self.headers.get("Link", "")
        return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', header)}


class CWClient:
    """Talks to the sandbox like the provider will, and validates every JSON answer."""

    def __init__(
        self, session: aiohttp.ClientSession, server: SandboxServer, openapi: OpenApiSubset
    ) -> None:
        self.session = session
        self.server = server
        self.openapi = openapi

    def headers(
        self, auth: str | None = FULL_AUTH, client_id: str | None = CLIENT_ID
    ) -> dict[str, str]:
        headers = {"Accept": ACCEPT}
        if auth is not None:
            headers["Authorization"] = auth
        if client_id is not None:
            headers["clientId"] = client_id
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        data: str | None = None,
        auth: str | None = FULL_AUTH,
        client_id: str | None = CLIENT_ID,
        url: str | URL | None = None,
        client_timeout: float | None = None,
        validate: bool = True,
    ) -> Reply:
        target = url if url is not None else self.server.api_url + path
        kwargs: dict[str, Any] = {"headers": self.headers(auth, client_id)}
        if params is not None:
            kwargs["params"] = {k: str(v) for k, v in params.items()}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
            kwargs["headers"]["Content-Type"] = "application/json"
        if client_timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=client_timeout)
        async with self.session.request(method, target, **kwargs) as response:
            text = await response.text()
            is_json = response.content_type == "application/json"
            reply = Reply(
                response.status, response.headers, text, json.loads(text) if is_json else None
            )
            api_path = response.url.path.partition("/apis/3.0")[2]
        if validate and is_json and api_path:
            partial = bool(params and "fields" in params)
            self.openapi.check(method, api_path, reply.status, reply.body, partial=partial)
        return reply

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json_body: Any, **kwargs: Any) -> Reply:
        return await self.request("POST", path, json_body=json_body, **kwargs)

    async def patch(self, path: str, json_body: Any, **kwargs: Any) -> Reply:
        return await self.request("PATCH", path, json_body=json_body, **kwargs)

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(
            method, f"{self.server.url}/_sandbox{path}", json=body
        ) as response:
            assert response.status == 200, await response.text()
            return await response.json()
