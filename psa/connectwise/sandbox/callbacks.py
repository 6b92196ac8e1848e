"""Callbacks in the sandbox: `/system/callbacks` records, signed deliveries, the key URL.

* `GET|POST /system/callbacks`, `GET|DELETE /system/callbacks/{id}` (CallbackEntry; a second
  record with the same type, level, objectId and url is refused with 400 ObjectExists, as the
  real API does).
* Every change to a ticket, through the API (status PATCH, note POST) or through the admin
  endpoints below, is delivered to each active `ticket` callback whose level covers it
  (`owner`: all tickets; `board`: objectId = the ticket's board; `ticket`: objectId = the
  ticket): a POST of the ConnectWise payload (MessageId, FromUrl, CompanyId, MemberId, Action,
  Type, ID, Entity as a JSON string, Metadata.key_url) signed in `x-content-signature`. A URL
  ending in `recordId=` gets the ticket id appended. Deliveries answered 404, 409, 419 or 429
  are retried twice (after `retry_delays`), as ConnectWise does; timeout 5 s.
* `GET /{codebase}system/callbackkey/index.rails?id=…`: `{"signing_key": …}` of a callback
  (no auth, like the real one).
* Admin: `GET /_sandbox/callbacks` (records and the delivery log), `POST
  /_sandbox/tickets/{id}/notes` (`{"text", "member", "internal"|"resolution"}`) and `POST
  /_sandbox/tickets/{id}/status` (`{"status": name or id, "member"}`): changes made "in
  ConnectWise" by a person, delivered like any other.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from psa.connectwise.sandbox.context import api_key_of, context_of
from psa.connectwise.sandbox.errors import ApiError, JsonObject
from psa.connectwise.sandbox.errors import not_found as missing
from psa.connectwise.sandbox.hub import KEY_PATH, CallbackHub
from psa.connectwise.sandbox.render import json_response
from psa.connectwise.sandbox.resources import CALLBACKS
from psa.connectwise.sandbox.routes import list_response

# -- API routes -------------------------------------------------------------------------------


def _hub(request: web.Request) -> CallbackHub:
    return context_of(request).callbacks


def _member_id(request: web.Request) -> int:
    member = context_of(request).state.member(api_key_of(request).member_identifier)
    return int(member["id"]) if member else 0


async def list_callbacks(request: web.Request) -> web.Response:
    return list_response(request, _hub(request).entries.values(), CALLBACKS)


async def create_callback(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    entry = _hub(request).add(body, _member_id(request))
    return json_response(entry, status=201)


async def get_callback(request: web.Request) -> web.Response:
    entry = _hub(request).entries.get(int(request.match_info["id"]))
    if entry is None:
        raise missing("Callback", request.match_info["id"])
    return json_response(entry)


async def delete_callback(request: web.Request) -> web.Response:
    _hub(request).remove(int(request.match_info["id"]))
    return web.Response(status=204)


async def callback_key(request: web.Request) -> web.Response:
    key = _hub(request).keys.get(request.query.get("id", ""))
    if key is None:
        return json_response({"error": "unknown key"}, status=404)
    return json_response({"signing_key": key})


def add_callback_routes(app: web.Application, api: str) -> None:
    r = app.router
    r.add_get(api + "/system/callbacks", list_callbacks)
    r.add_post(api + "/system/callbacks", create_callback)
    r.add_get(api + r"/system/callbacks/{id:\d+}", get_callback)
    r.add_delete(api + r"/system/callbacks/{id:\d+}", delete_callback)
    r.add_get("/{codebase}/" + KEY_PATH, callback_key)


# -- admin: changes made by a person in ConnectWise -------------------------------------------


async def _admin_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidObject", "the body must be a JSON object")
    return body


def _person(request: web.Request, body: dict[str, Any]) -> JsonObject:
    member = context_of(request).state.member(str(body.get("member") or "msmith"))
    if member is None:
        raise ApiError(400, "InvalidObject", f"no member {body.get('member')!r}")
    return member


async def _admin(request: web.Request, change: Any) -> web.Response:
    try:
        return json_response(await change())
    except ApiError as error:
        return json_response(error.body(), status=error.status)


async def admin_note(request: web.Request) -> web.Response:
    async def change() -> JsonObject:
        body = await _admin_body(request)
        member = _person(request, body)
        flags = {
            "internalAnalysisFlag": bool(body.get("internal")),
            "resolutionFlag": bool(body.get("resolution")),
        }
        flags["detailDescriptionFlag"] = not any(flags.values())
        note: JsonObject = context_of(request).state.add_note(
            int(request.match_info["id"]),
            {"text": body.get("text"), "member": {"id": member["id"]}, **flags},
            member["identifier"],
        )
        return note

    return await _admin(request, change)


async def admin_status(request: web.Request) -> web.Response:
    async def change() -> JsonObject:
        body = await _admin_body(request)
        member = _person(request, body)
        wanted = body.get("status")
        value = {"id": wanted} if isinstance(wanted, int) else {"name": str(wanted)}
        ticket: JsonObject = context_of(request).state.patch_ticket(
            int(request.match_info["id"]),
            [{"op": "replace", "path": "status", "value": value}],
            member["identifier"],
        )
        return ticket

    return await _admin(request, change)


async def admin_overview(request: web.Request) -> web.Response:
    hub = _hub(request)
    return json_response(
        {
            "callbacks": list(hub.entries.values()),
            "deliveries": [
                {
                    "callback_id": d.callback_id,
                    "ticket_id": d.ticket_id,
                    "message_id": d.message_id,
                    "status": d.status,
                    "attempts": d.attempts,
                }
                for d in hub.deliveries
            ],
        }
    )


def add_callback_admin_routes(app: web.Application, prefix: str) -> None:
    r = app.router
    r.add_get(prefix + "/callbacks", admin_overview)
    r.add_post(prefix + r"/tickets/{id:\d+}/notes", admin_note)
    r.add_post(prefix + r"/tickets/{id:\d+}/status", admin_status)
