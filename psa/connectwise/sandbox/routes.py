"""The emulated ConnectWise endpoints: companyinfo and the `apis/3.0` resources psabot uses."""

from __future__ import annotations

import json
from collections.abc import Iterable

from aiohttp import web

from psa.connectwise.sandbox import resources, work
from psa.connectwise.sandbox.context import VERSION_NUMBER, api_key_of, context_of
from psa.connectwise.sandbox.errors import (
    ApiError,
    FieldProblem,
    JsonObject,
    invalid_object,
    not_found,
)
from psa.connectwise.sandbox.paging import (
    endless_link,
    forward_link,
    link_header,
    page_id,
    parse_paging,
)
from psa.connectwise.sandbox.query import compile_conditions, order, project
from psa.connectwise.sandbox.render import api_root, json_response
from psa.connectwise.sandbox.resources import Resource

API_PREFIX = "/{codebase}/apis/3.0"
UNSUPPORTED_PARAMS = ("childconditions", "customfieldconditions")


def _params(request: web.Request) -> dict[str, str]:
    """Query parameters by lower-cased name (ConnectWise ignores their case); first one wins."""
    params: dict[str, str] = {}
    for name, value in request.query.items():
        params.setdefault(name.lower(), value)
    return params


def _api_response(
    request: web.Request,
    body: JsonObject | list[JsonObject],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Records as sent: their relative `_href` links made absolute under this API's root."""
    root = api_root(request, context_of(request).codebase)
    return json_response(body, status=status, headers=headers, links_under=root)


def _selected(
    request: web.Request, items: Iterable[JsonObject], resource: Resource
) -> list[JsonObject]:
    params = _params(request)
    for name in UNSUPPORTED_PARAMS:
        if params.get(name, "").strip():
            raise ApiError(400, "InvalidObject", f"{name} is not supported by the sandbox.")
    predicate = compile_conditions(params.get("conditions"), resource)
    return [item for item in items if predicate(item)]


def list_response(
    request: web.Request, items: Iterable[JsonObject], resource: Resource
) -> web.Response:
    """conditions → orderBy → page → fields, with the Link header ConnectWise sends."""
    params = _params(request)
    matched = _selected(request, items, resource)
    paging = parse_paging(params)
    headers: dict[str, str] = {}
    if request.headers.get("pagination-type", "").lower() == "forward-only":
        if params.get("orderby", "").strip():
            raise ApiError(
                400, "InvalidObject", "orderBy cannot be used with forward-only pagination."
            )
        after = page_id(params)
        remaining = [r for r in order(matched, None, resource) if int(r["id"]) > after]
        chunk = remaining[: paging.page_size]
        if chunk:
            headers["Link"] = forward_link(request.url, int(chunk[-1]["id"]))
    elif context_of(request).faults.listing_fault(request.path) and matched:
        # The endless_next fault: pages past the end repeat earlier ones and always link on.
        ordered = order(matched, params.get("orderby"), resource)
        pages = -(-len(ordered) // paging.page_size)
        start = ((paging.page - 1) % pages) * paging.page_size
        chunk = ordered[start : start + paging.page_size]
        headers["Link"] = endless_link(request.url, paging)
    else:
        ordered = order(matched, params.get("orderby"), resource)
        chunk = ordered[paging.start : paging.end]
        link = link_header(request.url, paging, len(ordered))
        if link is not None:
            headers["Link"] = link
    fields = params.get("fields")
    return _api_response(request, [project(r, fields) for r in chunk], headers=headers)


def count_response(
    request: web.Request, items: Iterable[JsonObject], resource: Resource
) -> web.Response:
    return json_response({"count": len(_selected(request, items, resource))})


def one_response(request: web.Request, record: JsonObject, *, status: int = 200) -> web.Response:
    return _api_response(request, project(record, _params(request).get("fields")), status=status)


def _int_param(request: web.Request, name: str = "id") -> int:
    return int(request.match_info[name])


async def _json_body(request: web.Request, resource: str) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid_object(
            resource, [FieldProblem("", "The request body is not valid JSON.")]
        ) from None


def _ticket(request: web.Request) -> JsonObject:
    ticket_id = _int_param(request)
    ticket = context_of(request).state.tickets.get(ticket_id)
    if ticket is None:
        raise not_found("Ticket", ticket_id)
    return ticket


# --- handlers ----------------------------------------------------------------------------


async def company_info(request: web.Request) -> web.Response:
    ctx = context_of(request)
    if request.match_info["company_id"].casefold() != ctx.auth.company_id.casefold():
        return json_response(None)  # the real endpoint answers 200 with JSON null
    return json_response(
        {
            "CompanyName": ctx.company_name,
            "Codebase": ctx.codebase,
            "VersionCode": ctx.version_code,
            "VersionNumber": VERSION_NUMBER,
            "CompanyID": ctx.auth.company_id,
            "IsCloud": True,
        }
    )


async def system_info(request: web.Request) -> web.Response:
    ctx = context_of(request)
    return json_response(
        {
            "version": f"{ctx.version_code}.{VERSION_NUMBER.rsplit('.', 1)[-1]}",
            "isCloud": True,
            "serverTimeZone": "Eastern Standard Time",
            "licenseBits": [
                {"name": name, "activeFlag": True}
                for name in ("Service", "Company", "Time", "Project")
            ],
            "cloudRegion": "NA",
            "maxWorkFlowRecordsAllowed": 500,
        }
    )


async def tickets_list(request: web.Request) -> web.Response:
    return list_response(request, context_of(request).state.tickets.values(), resources.TICKETS)


async def tickets_count(request: web.Request) -> web.Response:
    return count_response(request, context_of(request).state.tickets.values(), resources.TICKETS)


async def ticket_get(request: web.Request) -> web.Response:
    return one_response(request, _ticket(request))


async def ticket_patch(request: web.Request) -> web.Response:
    body = await _json_body(request, "ticket")
    actor = api_key_of(request).member_identifier
    ticket = context_of(request).state.patch_ticket(_int_param(request), body, actor)
    return one_response(request, ticket)


async def ticket_post(request: web.Request) -> web.Response:
    body = await _json_body(request, "ticket")
    state = context_of(request).state
    return one_response(
        request, work.add_ticket(state, body, api_key_of(request).member_identifier), status=201
    )


async def time_entries_list(request: web.Request) -> web.Response:
    entries = context_of(request).state.time_entries.values()
    return list_response(request, entries, resources.TIME_ENTRIES)


async def time_entry_get(request: web.Request) -> web.Response:
    entry_id = _int_param(request)
    entry = context_of(request).state.time_entries.get(entry_id)
    if entry is None:
        raise not_found("TimeEntry", entry_id)
    return one_response(request, entry)


async def time_entry_post(request: web.Request) -> web.Response:
    body = await _json_body(request, "timeEntry")
    state = context_of(request).state
    entry = work.add_time_entry(state, body, api_key_of(request).member_identifier)
    return one_response(request, entry, status=201)


async def notes_list(request: web.Request) -> web.Response:
    ticket = _ticket(request)
    notes = context_of(request).state.notes_for(ticket["id"])
    return list_response(request, notes, resources.NOTES)


async def notes_count(request: web.Request) -> web.Response:
    ticket = _ticket(request)
    return count_response(
        request, context_of(request).state.notes_for(ticket["id"]), resources.NOTES
    )


async def note_get(request: web.Request) -> web.Response:
    ticket = _ticket(request)
    note_id = _int_param(request, "note_id")
    note = context_of(request).state.notes.get(note_id)
    if note is None or note["ticketId"] != ticket["id"]:
        raise not_found("Note", note_id)
    return one_response(request, note)


async def note_post(request: web.Request) -> web.Response:
    ticket = _ticket(request)
    body = await _json_body(request, "serviceNote")
    note = context_of(request).state.add_note(
        ticket["id"], body, api_key_of(request).member_identifier
    )
    return one_response(request, note, status=201)


async def ticket_configurations(request: web.Request) -> web.Response:
    ticket = _ticket(request)
    configurations = context_of(request).state.configurations_for(ticket["id"])
    return list_response(request, configurations, resources.CONFIGURATIONS)


def _board(request: web.Request) -> JsonObject:
    board_id = _int_param(request)
    board = context_of(request).state.boards.get(board_id)
    if board is None:
        raise not_found("Board", board_id)
    return board


async def boards_list(request: web.Request) -> web.Response:
    return list_response(request, context_of(request).state.boards.values(), resources.BOARDS)


async def board_get(request: web.Request) -> web.Response:
    return one_response(request, _board(request))


async def board_statuses(request: web.Request) -> web.Response:
    board = _board(request)
    statuses = context_of(request).state.statuses_for(board["id"])
    return list_response(request, statuses, resources.STATUSES)


async def board_status_get(request: web.Request) -> web.Response:
    board = _board(request)
    status_id = _int_param(request, "status_id")
    status = context_of(request).state.statuses.get(status_id)
    if status is None or status["board"]["id"] != board["id"]:
        raise not_found("Status", status_id)
    return one_response(request, status)


async def priorities_list(request: web.Request) -> web.Response:
    priorities = context_of(request).state.priorities.values()
    return list_response(request, priorities, resources.PRIORITIES)


async def priority_get(request: web.Request) -> web.Response:
    priority_id = _int_param(request)
    priority = context_of(request).state.priorities.get(priority_id)
    if priority is None:
        raise not_found("Priority", priority_id)
    return one_response(request, priority)


async def companies_list(request: web.Request) -> web.Response:
    companies = context_of(request).state.companies.values()
    return list_response(request, companies, resources.COMPANIES)


async def company_get(request: web.Request) -> web.Response:
    company_id = _int_param(request)
    company = context_of(request).state.companies.get(company_id)
    if company is None:
        raise not_found("Company", company_id)
    return one_response(request, company)


async def members_list(request: web.Request) -> web.Response:
    return list_response(request, context_of(request).state.members.values(), resources.MEMBERS)


async def member_get(request: web.Request) -> web.Response:
    """By numeric id, or by identifier as django-connectwise calls it."""
    raw = request.match_info["id"]
    member = context_of(request).state.member(int(raw) if raw.isdigit() else raw)
    if member is None:
        raise not_found("Member", raw)
    return one_response(request, member)


def add_api_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login/companyinfo/{company_id}", company_info)
    api = API_PREFIX
    ticket = api + r"/service/tickets/{id:\d+}"
    r.add_get(api + "/system/info", system_info)
    r.add_get(api + "/service/tickets", tickets_list)
    r.add_post(api + "/service/tickets", ticket_post)
    r.add_get(api + "/service/tickets/count", tickets_count)
    r.add_get(ticket, ticket_get)
    r.add_patch(ticket, ticket_patch)
    r.add_get(ticket + "/notes", notes_list)
    r.add_post(ticket + "/notes", note_post)
    r.add_get(ticket + "/notes/count", notes_count)
    r.add_get(ticket + r"/notes/{note_id:\d+}", note_get)
    r.add_get(ticket + "/configurations", ticket_configurations)
    r.add_get(api + "/service/boards", boards_list)
    r.add_get(api + r"/service/boards/{id:\d+}", board_get)
    r.add_get(api + r"/service/boards/{id:\d+}/statuses", board_statuses)
    r.add_get(api + r"/service/boards/{id:\d+}/statuses/{status_id:\d+}", board_status_get)
    r.add_get(api + "/service/priorities", priorities_list)
    r.add_get(api + r"/service/priorities/{id:\d+}", priority_get)
    r.add_get(api + "/company/companies", companies_list)
    r.add_get(api + r"/company/companies/{id:\d+}", company_get)
    r.add_get(api + "/system/members", members_list)
    r.add_get(api + "/system/members/{id}", member_get)
    r.add_get(api + "/time/entries", time_entries_list)
    r.add_post(api + "/time/entries", time_entry_post)
    r.add_get(api + r"/time/entries/{id:\d+}", time_entry_get)
