"""The sandbox's live records: seeded demo data, accessors for tests, and the two writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from psa.connectwise.sandbox import records
from psa.connectwise.sandbox.data import (
    DEFAULT_ANCHOR,
    DEFAULT_SEED,
    TICKET_COUNT,
    build_dataset,
    check_ticket_count,
    note_record,
)
from psa.connectwise.sandbox.errors import FieldProblem, JsonObject, invalid_object, not_found
from psa.connectwise.sandbox.records import iso

NOTE_FLAGS = ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")
PATCHABLE = ("status", "summary", "priority")
SUMMARY_MAX = 100


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ref_id(value: object) -> int | None:
    """The id of a reference object; numeric strings too (django-connectwise sends them)."""
    raw = value.get("id") if isinstance(value, dict) else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


class SandboxState:
    """All records, keyed by id, in ConnectWise wire shape (hrefs relative to the API root).

    Tests may read and even adjust these records directly; the server serves whatever is here.
    """

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        *,
        anchor: datetime = DEFAULT_ANCHOR,
        clock: Callable[[], datetime] | None = None,
        ticket_count: int = TICKET_COUNT,
    ) -> None:
        self.clock = clock or _utcnow
        # told of every ticket change: (ticket, action, actor identifier); callbacks hang here
        self.on_change: Callable[[JsonObject, str, str], None] | None = None
        self.seed = seed
        self.ticket_count = check_ticket_count(ticket_count)
        self.anchor = anchor
        self.companies: dict[int, JsonObject] = {}
        self.boards: dict[int, JsonObject] = {}
        self.statuses: dict[int, JsonObject] = {}
        self.priorities: dict[int, JsonObject] = {}
        self.members: dict[int, JsonObject] = {}
        self.tickets: dict[int, JsonObject] = {}
        self.notes: dict[int, JsonObject] = {}
        self.configurations: dict[int, list[JsonObject]] = {}
        self.time_entries: dict[int, JsonObject] = {}  # none seeded; see sandbox/work.py
        self.reset(seed)

    def reset(self, seed: int | None = None, ticket_count: int | None = None) -> None:
        """Throw away every change and reseed, in place (references to this object stay valid).

        `ticket_count` changes how many tickets the data has from now on (200 by default)."""
        if ticket_count is not None:
            self.ticket_count = check_ticket_count(ticket_count)
        if seed is not None:
            self.seed = seed
        data = build_dataset(self.seed, self.anchor, self.ticket_count)
        self.companies = data.companies
        self.boards = data.boards
        self.statuses = data.statuses
        self.priorities = data.priorities
        self.members = data.members
        self.tickets = data.tickets
        self.notes = data.notes
        self.configurations = data.configurations
        self.time_entries = {}

    # --- accessors -----------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> JsonObject:
        return self.tickets[ticket_id]

    def notes_for(self, ticket_id: int) -> list[JsonObject]:
        return sorted(
            (n for n in self.notes.values() if n["ticketId"] == ticket_id), key=lambda n: n["id"]
        )

    def time_entries_for(self, ticket_id: int) -> list[JsonObject]:
        return sorted(
            (e for e in self.time_entries.values() if e["chargeToId"] == ticket_id),
            key=lambda e: e["id"],
        )

    def configurations_for(self, ticket_id: int) -> list[JsonObject]:
        return list(self.configurations.get(ticket_id, []))

    def statuses_for(self, board_id: int) -> list[JsonObject]:
        return sorted(
            (s for s in self.statuses.values() if s["board"]["id"] == board_id),
            key=lambda s: (s["sortOrder"], s["id"]),
        )

    def status_named(self, board_id: int, name: str) -> JsonObject | None:
        wanted = name.casefold()
        return next(
            (s for s in self.statuses_for(board_id) if s["name"].casefold() == wanted), None
        )

    def board_named(self, name: str) -> JsonObject | None:
        wanted = name.casefold()
        return next((b for b in self.boards.values() if b["name"].casefold() == wanted), None)

    def member(self, key: int | str) -> JsonObject | None:
        """A member by numeric id or by identifier (case-insensitive)."""
        if isinstance(key, int):
            return self.members.get(key)
        wanted = key.casefold()
        return next(
            (m for m in self.members.values() if m["identifier"].casefold() == wanted), None
        )

    def company(self, key: int | str) -> JsonObject | None:
        if isinstance(key, int):
            return self.companies.get(key)
        wanted = key.casefold()
        return next(
            (c for c in self.companies.values() if c["identifier"].casefold() == wanted), None
        )

    def open_tickets(self, board_id: int | None = None) -> list[JsonObject]:
        return [
            t
            for _, t in sorted(self.tickets.items())
            if not t["closedFlag"] and (board_id is None or t["board"]["id"] == board_id)
        ]

    def closed_tickets(self, board_id: int | None = None) -> list[JsonObject]:
        return [
            t
            for _, t in sorted(self.tickets.items())
            if t["closedFlag"] and (board_id is None or t["board"]["id"] == board_id)
        ]

    def first_open_ticket(self, board_id: int | None = None) -> JsonObject:
        return self.open_tickets(board_id)[0]

    def first_closed_ticket(self, board_id: int | None = None) -> JsonObject:
        return self.closed_tickets(board_id)[0]

    # --- writes --------------------------------------------------------------------------

    def patch_ticket(self, ticket_id: int, operations: object, actor: str) -> JsonObject:
        """Apply a JSON Patch array (status, summary, priority) all-or-nothing."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise not_found("Ticket", ticket_id)
        if not isinstance(operations, list) or not operations:
            raise invalid_object(
                "ticket",
                [
                    FieldProblem(
                        "", "The body must be a non-empty JSON Patch array of {op, path, value}."
                    )
                ],
            )
        problems: list[FieldProblem] = []
        changes: list[tuple[str, Any]] = []
        for operation in operations:
            if not isinstance(operation, dict):
                problems.append(FieldProblem("", "Each patch operation must be an object."))
                continue
            path = str(operation.get("path", "")).strip("/")
            verb = str(operation.get("op", "")).lower()
            if path not in PATCHABLE:
                problems.append(
                    FieldProblem(
                        path,
                        f"The sandbox does not support patching '{path}' "
                        f"(supported: {', '.join(PATCHABLE)}).",
                    )
                )
            elif verb not in ("replace", "add"):
                problems.append(FieldProblem(path, f"Operation '{verb}' is not valid for {path}."))
            elif "value" not in operation:
                problems.append(FieldProblem(path, f"A value is required to set {path}."))
            else:
                value = self._patch_value(ticket, path, operation["value"], problems)
                if value is not None:
                    changes.append((path, value))
        if problems:
            raise invalid_object("ticket", problems)
        now = self.clock()
        for path, value in changes:
            if path == "status":
                self._set_status(ticket, value, now, actor)
            elif path == "priority":
                ticket["priority"] = records.priority_ref(value)
            else:
                ticket["summary"] = value
        ticket["_info"]["lastUpdated"] = iso(now)
        ticket["_info"]["updatedBy"] = actor
        self._changed(ticket, actor)
        return ticket

    def _changed(self, ticket: JsonObject, actor: str) -> None:
        if self.on_change is not None:
            self.on_change(ticket, "updated", actor)

    def _patch_value(
        self, ticket: JsonObject, path: str, value: object, problems: list[FieldProblem]
    ) -> Any:
        if path == "summary":
            if not isinstance(value, str) or not value.strip():
                problems.append(FieldProblem("summary", "The summary field is required."))
                return None
            if len(value) > SUMMARY_MAX:
                problems.append(
                    FieldProblem(
                        "summary",
                        f"The field summary must be a string with a maximum length of "
                        f"{SUMMARY_MAX}.",
                    )
                )
                return None
            return value
        if path == "priority":
            priority_id = _ref_id(value)
            priority = None if priority_id is None else self.priorities.get(priority_id)
            if priority is None:
                problems.append(FieldProblem("priority", f"Priority Id {priority_id} not found."))
            return priority
        return self._patch_status(ticket, value, problems)

    def _patch_status(
        self, ticket: JsonObject, value: object, problems: list[FieldProblem]
    ) -> JsonObject | None:
        board = ticket["board"]
        status: JsonObject | None
        status_id = _ref_id(value)
        if status_id is not None:
            status = self.statuses.get(status_id)
            if status is None:
                problems.append(FieldProblem("status", f"Status Id {status_id} not found."))
                return None
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            status = self.status_named(board["id"], value["name"])
            if status is None:
                problems.append(
                    FieldProblem(
                        "status", f"Status '{value['name']}' not found on board '{board['name']}'."
                    )
                )
                return None
        else:
            problems.append(FieldProblem("status", "Status must be an object with an id."))
            return None
        if status["board"]["id"] != board["id"]:
            problems.append(
                FieldProblem(
                    "status",
                    f"Status '{status['name']}' (id {status['id']}) belongs to board "
                    f"'{status['board']['name']}', not to the ticket's board '{board['name']}'.",
                )
            )
            return None
        if status["inactive"]:
            problems.append(FieldProblem("status", f"Status '{status['name']}' is inactive."))
            return None
        return status

    def _set_status(
        self, ticket: JsonObject, status: JsonObject, now: datetime, actor: str
    ) -> None:
        ticket["status"] = records.status_ref(status)
        if status["closedStatus"]:
            if not ticket["closedFlag"]:
                ticket["closedFlag"] = True
                ticket["closedDate"] = iso(now)
                ticket["closedBy"] = actor
                ticket["dateResolved"] = iso(now)
        else:
            ticket["closedFlag"] = False
            for key in ("closedDate", "closedBy", "dateResolved"):
                ticket.pop(key, None)

    def add_note(self, ticket_id: int, body: object, actor: str) -> JsonObject:
        """Validate and store a ServiceNote POST body; returns the stored note."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise not_found("Ticket", ticket_id)
        if not isinstance(body, dict):
            raise invalid_object(
                "serviceNote", [FieldProblem("", "The body must be a JSON object (ServiceNote).")]
            )
        problems: list[FieldProblem] = []
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(FieldProblem("text", "The text field is required."))
        flags: dict[str, bool] = {}
        for name in NOTE_FLAGS:
            raw = body.get(name)
            if raw is None or isinstance(raw, bool):
                flags[name] = bool(raw)
            else:
                problems.append(FieldProblem(name, f"{name} must be true or false."))
        if not any(flags.values()) and len(flags) == len(NOTE_FLAGS):
            problems.append(
                FieldProblem(
                    "detailDescriptionFlag",
                    "At least one of detailDescriptionFlag, "
                    "internalAnalysisFlag or resolutionFlag must be true.",
                )
            )
        member = self.note_member(body.get("member"), problems)
        if problems:
            raise invalid_object("serviceNote", problems)
        assert isinstance(text, str)  # checked above; narrows for mypy
        author = member if member is not None else self.member(actor)
        if author is None:
            raise LookupError(f"the API member {actor!r} is missing from the sandbox data")
        now = self.clock()
        note_id = max(self.notes, default=0) + 1
        note = note_record(
            note_id,
            ticket_id,
            text,
            author,
            now,
            author["identifier"] if member is not None else actor,
            description=flags["detailDescriptionFlag"],
            internal=flags["internalAnalysisFlag"],
            resolution=flags["resolutionFlag"],
        )
        self.notes[note_id] = note
        ticket["_info"]["lastUpdated"] = iso(now)
        ticket["_info"]["updatedBy"] = actor
        self._changed(ticket, actor)
        return note

    def note_member(self, value: object, problems: list[FieldProblem]) -> JsonObject | None:
        """The active member a note or time entry names, or None (and a problem) if none."""
        if value is None:
            return None
        key: int | str | None = None
        if isinstance(value, dict):
            if isinstance(value.get("id"), int):
                key = value["id"]
            elif isinstance(value.get("identifier"), str):
                key = value["identifier"]
        if key is None:
            problems.append(FieldProblem("member", "member must have an id or an identifier."))
            return None
        member = self.member(key)
        if member is None:
            problems.append(FieldProblem("member", f"Member {key} was not found."))
            return None
        if member["inactiveFlag"]:
            problems.append(FieldProblem("member", f"Member {member['identifier']} is inactive."))
            return None
        return member
