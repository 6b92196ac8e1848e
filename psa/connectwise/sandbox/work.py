"""The sandbox's time entries and ticket creation: `POST /time/entries`, `POST /service/tickets`.

Validated like ConnectWise does (an InvalidObject body naming the field); a ticket's
`initialDescription` / `initialInternalAnalysis` / `initialResolution` become its first notes
(the POST-only fields of API-NOTES §4), and a time entry's hours come from its start and end
when `actualHours` is not sent.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING

from psa.connectwise.sandbox import catalog, records
from psa.connectwise.sandbox.data import Dataset, TicketPlan, note_record, ticket_record
from psa.connectwise.sandbox.errors import FieldProblem, JsonObject, invalid_object
from psa.connectwise.sandbox.records import iso

if TYPE_CHECKING:
    from psa.connectwise.sandbox.state import SandboxState

FIRST_TIME_ENTRY_ID = 90001
CHARGE_TYPES = ("ServiceTicket", "ProjectTicket", "ChargeCode", "Activity")
BILLABLE_OPTIONS = ("Billable", "DoNotBill", "NoCharge", "NoDefault")
SECTION_FLAGS = ("addToDetailDescriptionFlag", "addToInternalAnalysisFlag", "addToResolutionFlag")
INITIAL_NOTES = {
    "initialDescription": "description",
    "initialInternalAnalysis": "internal",
    "initialResolution": "resolution",
}
MAX_HOURS = 24.0
SUMMARY_MAX = 100
WORK_TYPES = {1: "Remote Support", 2: "Onsite", 3: "After Hours"}
WORK_ROLES = {1: "Technician", 2: "Engineer"}


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ref_id(value: object) -> int | None:
    raw = value.get("id") if isinstance(value, dict) else None
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _named(
    value: object, table: dict[int, str], field: str, problems: list[FieldProblem]
) -> JsonObject | None:
    if value is None:
        return None
    ref = _ref_id(value)
    if ref is None or ref not in table:
        problems.append(FieldProblem(field, f"{field} {ref} was not found."))
        return None
    return {"id": ref, "name": table[ref]}


def _hours(body: JsonObject, problems: list[FieldProblem]) -> tuple[datetime | None, float]:
    start = _datetime(body.get("timeStart"))
    if start is None:
        problems.append(FieldProblem("timeStart", "The timeStart field is required."))
        return None, 0.0
    end = _datetime(body.get("timeEnd"))
    actual = body.get("actualHours")
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        hours = float(actual)
    elif end is not None:
        hours = (end - start).total_seconds() / 3600
    else:
        problems.append(FieldProblem("timeEnd", "Either timeEnd or actualHours is required."))
        return start, 0.0
    if end is not None and end < start:
        problems.append(FieldProblem("timeEnd", "timeEnd must be after timeStart."))
    if not 0 < hours <= MAX_HOURS:
        problems.append(FieldProblem("actualHours", "The hours must be between 0 and 24."))
    return start, round(hours, 2)


def add_time_entry(state: SandboxState, body: object, actor: str) -> JsonObject:
    """Validate and store a TimeEntry POST body charged to a service ticket."""
    if not isinstance(body, dict):
        raise invalid_object("timeEntry", [FieldProblem("", "The body must be a JSON object.")])
    problems: list[FieldProblem] = []
    charge_type = body.get("chargeToType", "ServiceTicket")
    if charge_type not in CHARGE_TYPES:
        problems.append(FieldProblem("chargeToType", f"chargeToType {charge_type} is invalid."))
    elif charge_type != "ServiceTicket":
        problems.append(
            FieldProblem("chargeToType", "The sandbox takes time for service tickets only.")
        )
    charge_id = body.get("chargeToId")
    ticket = state.tickets.get(charge_id) if isinstance(charge_id, int) else None
    if ticket is None:
        problems.append(FieldProblem("chargeToId", f"Ticket {charge_id} was not found."))
    billable = body.get("billableOption", "Billable")
    if billable not in BILLABLE_OPTIONS:
        problems.append(FieldProblem("billableOption", f"billableOption {billable} is invalid."))
    notes = body.get("notes", "")
    if not isinstance(notes, str):
        problems.append(FieldProblem("notes", "notes must be a string."))
    flags = {name: body.get(name, False) for name in SECTION_FLAGS}
    for name, value in flags.items():
        if not isinstance(value, bool):
            problems.append(FieldProblem(name, f"{name} must be true or false."))
    member = state.note_member(body.get("member"), problems)
    work_type = _named(body.get("workType"), WORK_TYPES, "workType", problems)
    work_role = _named(body.get("workRole"), WORK_ROLES, "workRole", problems)
    start, hours = _hours(body, problems)
    if problems:
        raise invalid_object("timeEntry", problems)
    assert ticket is not None and start is not None and isinstance(notes, str)
    author = member if member is not None else state.member(actor)
    if author is None:
        raise LookupError(f"the API member {actor!r} is missing from the sandbox data")
    now = state.clock()
    entry_id = max(state.time_entries, default=FIRST_TIME_ENTRY_ID - 1) + 1
    entry: JsonObject = {
        "id": entry_id,
        "company": ticket["company"],
        "chargeToId": ticket["id"],
        "chargeToType": "ServiceTicket",
        "member": records.member_ref(author),
        "timeStart": iso(start),
        "actualHours": hours,
        "billableOption": billable,
        "notes": notes,
        **flags,
        "status": "Open",
        "ticket": {"id": ticket["id"], "summary": ticket["summary"]},
        "dateEntered": iso(now),
        "enteredBy": actor,
        "_info": records.info(now, actor),
    }
    if body.get("timeEnd") is not None:
        entry["timeEnd"] = body["timeEnd"]
    for key, value in (("workType", work_type), ("workRole", work_role)):
        if value is not None:
            entry[key] = value
    state.time_entries[entry_id] = entry
    ticket["_info"]["lastUpdated"] = iso(now)
    ticket["_info"]["updatedBy"] = actor
    return entry


def _company_seed(company_id: int | None) -> catalog.CompanySeed | None:
    return next((c for c in catalog.COMPANIES if c.id == company_id), None)


def add_ticket(state: SandboxState, body: object, actor: str) -> JsonObject:
    """Validate and store a Ticket POST body: summary and company required, board and
    priority defaulted, the initial* texts stored as the ticket's first notes."""
    if not isinstance(body, dict):
        raise invalid_object("ticket", [FieldProblem("", "The body must be a JSON object.")])
    problems: list[FieldProblem] = []
    summary = body.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems.append(FieldProblem("summary", "The summary field is required."))
    elif len(summary) > SUMMARY_MAX:
        problems.append(
            FieldProblem("summary", f"The summary can be at most {SUMMARY_MAX} characters.")
        )
    company = state.companies.get(_ref_id(body.get("company")) or 0)
    seed = _company_seed(company["id"] if company else None)
    if company is None or seed is None or seed.deleted:
        problems.append(FieldProblem("company", "The company field is required."))
    board_id = _ref_id(body.get("board")) or catalog.SERVICE_DESK_BOARD_ID
    board = state.boards.get(board_id)
    if board is None or board["inactiveFlag"]:
        problems.append(FieldProblem("board", f"Board {board_id} was not found or is inactive."))
    defaults = [p for p in state.priorities.values() if p["defaultFlag"]]
    priority_id = _ref_id(body.get("priority")) or (defaults[0]["id"] if defaults else 0)
    if priority_id not in state.priorities:
        problems.append(FieldProblem("priority", f"Priority {priority_id} was not found."))
    texts = {key: body.get(key) for key in INITIAL_NOTES}
    for key, text in texts.items():
        if text is not None and not isinstance(text, str):
            problems.append(FieldProblem(key, f"{key} must be a string."))
    if problems:
        raise invalid_object("ticket", problems)
    assert isinstance(summary, str) and seed is not None
    statuses = [s for s in state.statuses_for(board_id) if not s["inactive"]]
    status = next((s for s in statuses if s["defaultFlag"]), statuses[0])
    now = state.clock()
    ticket_id = max(state.tickets, default=0) + 1
    plan = TicketPlan(
        ticket_id,
        seed,
        0,
        board_id,
        status["id"],
        priority_id,
        None,
        summary.strip(),
        now,
        now,
        (5, "Portal"),
    )
    view = Dataset(
        companies=state.companies,
        boards=state.boards,
        statuses=state.statuses,
        priorities=state.priorities,
        members=state.members,
    )
    ticket = ticket_record(plan, view, random.Random(ticket_id))
    ticket["_info"]["enteredBy"] = actor
    ticket["_info"]["updatedBy"] = actor
    state.tickets[ticket_id] = ticket
    author = state.member(actor)
    if author is None:
        raise LookupError(f"the API member {actor!r} is missing from the sandbox data")
    for key, kind in INITIAL_NOTES.items():
        text = texts[key]
        if isinstance(text, str) and text.strip():
            note_id = max(state.notes, default=0) + 1
            state.notes[note_id] = note_record(
                note_id,
                ticket_id,
                text,
                author,
                now,
                actor,
                description=kind == "description",
                internal=kind == "internal",
                resolution=kind == "resolution",
            )
    return ticket
