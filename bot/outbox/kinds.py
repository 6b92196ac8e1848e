"""How each kind of ledger row that creates something is sent, and found again.

Notes, time entries and new tickets are POSTs ConnectWise cannot de-duplicate, so each
carries the row's footer reference (`compose_note`): a note in its text, a time entry in its
notes, a new ticket in its first note. Before a row is sent again, the outbox asks its kind
to `find` an earlier copy by that reference (bot/outbox/delivery.py has when and why).
Status changes are idempotent and have no entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot.outbox.records import compose_note, marker
from psa.provider import PSAProvider
from psa.types import BillableOption, Member, NewTicket, NewTimeEntry, NoteType
from storage.models import LedgerKind, PostLedger

# a ticket entered before the row was recorded is not ours; allows for clock skew with the PSA
TICKET_LOOKBACK = timedelta(minutes=10)


class Kind(Protocol):
    async def find(self, provider: PSAProvider, row: PostLedger) -> str | None:
        """The id of what an earlier attempt created, if it reached the PSA."""
        ...

    async def send(self, provider: PSAProvider, row: PostLedger) -> str:
        """Create it; the id of what was created."""
        ...


def _member(row: PostLedger) -> Member | None:
    if row.member_id is None:
        return None
    return Member(id=row.member_id, identifier=row.member_identifier or "", name="")


def _details(row: PostLedger) -> dict[str, object]:
    return row.details if isinstance(row.details, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class NoteKind:
    async def find(self, provider: PSAProvider, row: PostLedger) -> str | None:
        earlier = await provider.find_note_containing(row.ticket_id, marker(row.ref))
        return None if earlier is None else str(earlier.id)

    async def send(self, provider: PSAProvider, row: PostLedger) -> str:
        note = await provider.post_note(
            row.ticket_id, compose_note(row), NoteType(row.note_type or "internal"), _member(row)
        )
        return str(note.id)


def time_entry_of(row: PostLedger) -> NewTimeEntry:
    """The entry a TIME row stands for; it ends when the row was recorded (the moment the
    engineer logged it), so every attempt sends the same start and end."""
    details = _details(row)
    minutes = _int(details.get("minutes")) or 0
    billable = details.get("billable")
    end = row.created_at.replace(microsecond=0)
    return NewTimeEntry(
        ticket_id=row.ticket_id,
        member=_member(row),
        start=end - timedelta(minutes=minutes),
        end=end,
        billable=BillableOption(billable) if isinstance(billable, str) else None,
        notes=compose_note(row),
        section=NoteType(row.note_type) if row.note_type else None,
        work_type_id=_int(details.get("work_type_id")),
        work_role_id=_int(details.get("work_role_id")),
    )


class TimeKind:
    async def find(self, provider: PSAProvider, row: PostLedger) -> str | None:
        earlier = await provider.find_time_entry_containing(row.ticket_id, marker(row.ref))
        return None if earlier is None else str(earlier.id)

    async def send(self, provider: PSAProvider, row: PostLedger) -> str:
        entry = await provider.post_time_entry(time_entry_of(row))
        return str(entry.id)


def new_ticket_of(row: PostLedger) -> NewTicket:
    details = _details(row)
    return NewTicket(
        summary=str(details.get("summary") or ""),
        company_id=_int(details.get("company_id")) or 0,
        description=compose_note(row),
        board_id=_int(details.get("board_id")),
        priority_id=_int(details.get("priority_id")),
        internal_note=str(details.get("internal_note") or ""),
    )


class TicketKind:
    async def find(self, provider: PSAProvider, row: PostLedger) -> str | None:
        wanted = new_ticket_of(row)
        earlier = await provider.find_new_ticket(
            wanted.company_id, wanted.summary, row.created_at - TICKET_LOOKBACK, marker(row.ref)
        )
        return None if earlier is None else str(earlier.id)

    async def send(self, provider: PSAProvider, row: PostLedger) -> str:
        ticket = await provider.create_ticket(new_ticket_of(row))
        return str(ticket.id)


@dataclass(frozen=True)
class _Kinds:
    by_name: dict[str, Kind]

    def __call__(self, kind: str) -> Kind | None:
        return self.by_name.get(kind)


FOUND_BY_REF = _Kinds(
    {
        LedgerKind.NOTE.value: NoteKind(),
        LedgerKind.TIME.value: TimeKind(),
        LedgerKind.TICKET.value: TicketKind(),
    }
)
