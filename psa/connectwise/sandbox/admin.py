"""The `/_sandbox/*` control endpoints: faults, reset, request log, codebase moves.

These are never faulted, never logged and need no auth (the sandbox is a local test tool):

* `GET /_sandbox`: overview (seed, codebase, demo credentials, well-known ticket ids).
* `GET|POST|DELETE /_sandbox/faults`: read, change (JSON: any FaultOptions field, plus
  `script`: `{"method", "path_contains", "faults": [...]}` or a list of those), clear. E.g.
  `{"write_apply_delay": 30, "script": {"method": "POST", "faults": ["late_commit"]}}`,
  `{"endless_next": true, "listing_path_contains": "/service/tickets"}`,
  `{"retry_after": "soon", "script": {"faults": ["429"]}}`; kinds are listed in `faults`.
* `POST /_sandbox/reset`: reseed (`{"seed": n}` optional; `{"tickets": 2000}` changes how many
  tickets the data has, 200 to 20,000), clear faults and the request log.
* `GET|DELETE /_sandbox/requests`: the request log (method, path, query, client id, status,
  fault), or clear it.
* `GET|POST /_sandbox/codebase`: read, or move (`{"codebase": "v2025_2/"}`) as a ConnectWise
  upgrade does; requests under the old codebase then get the plain-text 404.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from psa.connectwise.sandbox import data
from psa.connectwise.sandbox.context import context_of, normalize_codebase
from psa.connectwise.sandbox.render import json_response

ADMIN_PREFIX = "/_sandbox"


def _problem(message: str) -> web.Response:
    return json_response({"error": message}, status=400)


async def _body(request: web.Request) -> dict[str, Any] | None:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


async def overview(request: web.Request) -> web.Response:
    ctx = context_of(request)
    return json_response(
        {
            "seed": ctx.state.seed,
            "codebase": ctx.codebase,
            "company_id": ctx.auth.company_id,
            "keys": [
                {
                    "public_key": k.public_key,
                    "private_key": k.private_key,
                    "member": k.member_identifier,
                    "full_access": k.full_access,
                }
                for k in ctx.auth.keys
            ],
            "well_known_tickets": {
                "open": data.OPEN_TICKET_ID,
                "closed": data.CLOSED_TICKET_ID,
                "new": data.NEW_TICKET_ID,
                "escalation": data.ESCALATION_TICKET_ID,
            },
        }
    )


async def get_faults(request: web.Request) -> web.Response:
    return json_response(context_of(request).faults.snapshot())


async def set_faults(request: web.Request) -> web.Response:
    body = await _body(request)
    if body is None:
        return _problem("the body must be a JSON object")
    faults = context_of(request).faults
    try:
        faults.apply_json(body)
    except (TypeError, ValueError) as exc:
        return _problem(str(exc))
    return json_response(faults.snapshot())


async def clear_faults(request: web.Request) -> web.Response:
    faults = context_of(request).faults
    faults.clear()
    return json_response(faults.snapshot())


def _optional_int(body: dict[str, Any], name: str) -> tuple[bool, int | None]:
    value = body.get(name)
    ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
    return ok, value


async def reset(request: web.Request) -> web.Response:
    body = await _body(request)
    if body is None:
        return _problem('the body must be empty or {"seed": <int>, "tickets": <int>}')
    seed_ok, seed = _optional_int(body, "seed")
    count_ok, tickets = _optional_int(body, "tickets")
    if not (seed_ok and count_ok):
        return _problem('the body must be empty or {"seed": <int>, "tickets": <int>}')
    ctx = context_of(request)
    try:
        ctx.reset(seed, tickets)
    except ValueError as exc:
        return _problem(str(exc))
    return json_response(
        {"seed": ctx.state.seed, "tickets": ctx.state.ticket_count, "codebase": ctx.codebase}
    )


async def get_requests(request: web.Request) -> web.Response:
    return json_response(context_of(request).log.to_json())


async def clear_requests(request: web.Request) -> web.Response:
    context_of(request).log.clear()
    return json_response([])


async def get_codebase(request: web.Request) -> web.Response:
    return json_response({"codebase": context_of(request).codebase})


async def set_codebase(request: web.Request) -> web.Response:
    body = await _body(request)
    raw = None if body is None else body.get("codebase")
    if not isinstance(raw, str):
        return _problem('the body must be {"codebase": "v2025_2/"}')
    try:
        codebase = normalize_codebase(raw)
    except ValueError as exc:
        return _problem(str(exc))
    context_of(request).codebase = codebase
    return json_response({"codebase": codebase})


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(ADMIN_PREFIX, overview)
    r.add_get(ADMIN_PREFIX + "/faults", get_faults)
    r.add_post(ADMIN_PREFIX + "/faults", set_faults)
    r.add_delete(ADMIN_PREFIX + "/faults", clear_faults)
    r.add_post(ADMIN_PREFIX + "/reset", reset)
    r.add_get(ADMIN_PREFIX + "/requests", get_requests)
    r.add_delete(ADMIN_PREFIX + "/requests", clear_requests)
    r.add_get(ADMIN_PREFIX + "/codebase", get_codebase)
    r.add_post(ADMIN_PREFIX + "/codebase", set_codebase)
