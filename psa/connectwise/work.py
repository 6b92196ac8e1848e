"""Time entries, new tickets and priorities over the ConnectWise REST API (API-NOTES §4, §8).

Both writes are plain POSTs without an idempotency key: the outbox looks for the psabot
reference they carry (in the time entry's notes, in the new ticket's first note) before it
sends one again, with the bounded look-ups below.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from psa.connectwise import conditions as cw
from psa.connectwise.client import ConnectWiseClient
from psa.connectwise.parse import parse_ref, parse_ticket
from psa.errors import PSAError, ValidationFailed
from psa.types import NewTicket, NewTimeEntry, NoteType, Priority, Ticket, TimeEntry

log = logging.getLogger(__name__)

RECOVERY_SCAN_LIMIT = 500  # newest time entries of a ticket read when `contains` is refused
RECOVERY_SCAN_PAGE_SIZE = 100
NEW_TICKET_CANDIDATES = 25  # newest tickets of the company entered since the first attempt
TIME_FIELDS = "id,chargeToId,chargeToType,member,actualHours,billableOption,notes"
SECTION_FLAGS = {
    NoteType.DESCRIPTION: "addToDetailDescriptionFlag",
    NoteType.INTERNAL: "addToInternalAnalysisFlag",
    NoteType.RESOLUTION: "addToResolutionFlag",
}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def parse_time_entry(data: dict[str, Any], ticket_id: int = 0) -> TimeEntry:
    charge = data.get("chargeToId")
    notes = data.get("notes")
    billable = data.get("billableOption")
    return TimeEntry(
        id=int(data.get("id") or 0),
        ticket_id=charge if isinstance(charge, int) else ticket_id,
        hours=_float(data.get("actualHours")),
        billable=billable if isinstance(billable, str) else "",
        notes=notes if isinstance(notes, str) else "",
        member=parse_ref(data.get("member")),
    )


def time_entry_body(entry: NewTimeEntry) -> dict[str, Any]:
    """The TimeEntry POST body: start and end (ConnectWise derives actualHours from them)."""
    body: dict[str, Any] = {
        "chargeToId": int(entry.ticket_id),
        "chargeToType": "ServiceTicket",
        "timeStart": _stamp(entry.start),
        "timeEnd": _stamp(entry.end),
        "notes": entry.notes,
        **{flag: entry.section is section for section, flag in SECTION_FLAGS.items()},
    }
    if entry.billable is not None:
        body["billableOption"] = entry.billable.value
    if entry.member is not None:
        body["member"] = {"id": entry.member.id}
    if entry.work_type_id is not None:
        body["workType"] = {"id": int(entry.work_type_id)}
    if entry.work_role_id is not None:
        body["workRole"] = {"id": int(entry.work_role_id)}
    return body


def ticket_body(ticket: NewTicket) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": ticket.summary,
        "company": {"id": int(ticket.company_id)},
        "initialDescription": ticket.description,
    }
    if ticket.internal_note:
        body["initialInternalAnalysis"] = ticket.internal_note
    if ticket.board_id is not None:
        body["board"] = {"id": int(ticket.board_id)}
    if ticket.priority_id is not None:
        body["priority"] = {"id": int(ticket.priority_id)}
    return body


async def post_time_entry(client: ConnectWiseClient, entry: NewTimeEntry) -> TimeEntry:
    resp = await client.request(
        "POST",
        "time/entries",
        json=time_entry_body(entry),
        idempotent=False,
        operation="add time",
        ticket_id=entry.ticket_id,
    )
    if not isinstance(resp.body, dict):
        log.warning("time entry added without a record in the answer ticket=%s", entry.ticket_id)
        hours = (entry.end - entry.start).total_seconds() / 3600
        billable = entry.billable.value if entry.billable else ""
        return TimeEntry(0, entry.ticket_id, hours, billable, entry.notes)
    return parse_time_entry(resp.body, entry.ticket_id)


async def find_time_entry_containing(
    client: ConnectWiseClient, ticket_id: int, marker: str
) -> TimeEntry | None:
    on_ticket = cw.all_of(
        [cw.eq("chargeToId", int(ticket_id)), cw.eq("chargeToType", "ServiceTicket")]
    )
    operation = "look for an earlier time entry"
    try:
        rows = await client.get_all(
            "time/entries",
            {
                "conditions": str(cw.all_of([on_ticket, cw.contains("notes", marker)])),
                "orderBy": "id desc",
                "fields": TIME_FIELDS,
            },
            operation=operation,
        )
    except ValidationFailed:
        # a ConnectWise that refuses `notes contains`: read the ticket's newest entries instead
        rows = await client.get_all(
            "time/entries",
            {"conditions": str(on_ticket), "orderBy": "id desc", "fields": TIME_FIELDS},
            page_size=RECOVERY_SCAN_PAGE_SIZE,
            limit=RECOVERY_SCAN_LIMIT,
            operation=operation,
        )
    for row in rows:
        if isinstance(row, dict) and marker in str(row.get("notes", "")):
            return parse_time_entry(row, ticket_id)
    return None


async def create_ticket(client: ConnectWiseClient, ticket: NewTicket) -> Ticket:
    resp = await client.request(
        "POST",
        "service/tickets",
        json=ticket_body(ticket),
        idempotent=False,
        operation="create ticket",
    )
    if not isinstance(resp.body, dict) or not resp.body.get("id"):
        raise PSAError("ConnectWise created no ticket record", operation="create ticket")
    return parse_ticket(resp.body)


async def new_ticket_candidates(
    client: ConnectWiseClient, company_id: int, summary: str, since: datetime
) -> list[Ticket]:
    """The company's tickets entered since `since` with exactly this summary, newest first."""
    rows = await client.get_all(
        "service/tickets",
        {
            "conditions": str(
                cw.all_of([cw.eq("company/id", int(company_id)), cw.gt("dateEntered", since)])
            ),
            "orderBy": "id desc",
            "fields": "id,summary,company,board,status,priority,closedFlag,_info",
        },
        page_size=NEW_TICKET_CANDIDATES,
        limit=NEW_TICKET_CANDIDATES,
        operation="look for an earlier ticket",
    )
    found = [parse_ticket(r) for r in rows if isinstance(r, dict)]
    return [t for t in found if t.summary == summary.strip()]


async def list_priorities(client: ConnectWiseClient) -> list[Priority]:
    rows = await client.get_all(
        "service/priorities", {"orderBy": "sortOrder asc"}, operation="list priorities"
    )
    found = []
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("id"), int):
            found.append(
                Priority(
                    id=row["id"],
                    name=str(row.get("name") or row["id"]),
                    sort_order=int(row.get("sortOrder") or 0),
                    default=bool(row.get("defaultFlag")),
                )
            )
    return found
