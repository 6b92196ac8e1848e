"""What the outbox writes and reports: the note footer with its recovery ref, and outcomes."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.duration import format_minutes
from bot.core.errors import Unconfirmed, render_stored
from bot.core.invocation import Platform
from storage.models import LedgerKind, LedgerState, PostLedger

PREVIEW_LENGTH = 80
BILLING_WORDS = {"Billable": "billable", "DoNotBill": "do not bill", "NoCharge": "no charge"}
UNCONFIRMED = Unconfirmed.__name__  # error kind: gave up without knowing whether it arrived


def marker(ref: str) -> str:
    return f"ref {ref}"


def compose_note(row: PostLedger) -> str:
    """The user's text verbatim, then a one-line origin footer with the recovery reference."""
    try:
        origin = Platform(row.platform).label
    except ValueError:
        origin = row.platform
    who = row.chat_user_name or row.chat_user_id
    return f"{row.body}\n\n— posted from {origin} by {who} · {marker(row.ref)}"


def stored_error(row: PostLedger) -> str | None:
    """The row's failure as the user reads it, worded now from its kind and context."""
    return render_stored(row.error_kind, row.error_context, row.last_error)


def work_of(row: PostLedger) -> str:
    """What a time entry or a new ticket row did, in a few words (history, events)."""
    details = row.details if isinstance(row.details, dict) else {}
    if row.kind == LedgerKind.TIME.value:
        minutes = details.get("minutes")
        spent = format_minutes(minutes) if isinstance(minutes, int) else "time"
        billing = details.get("billable")
        return f"{spent} ({BILLING_WORDS.get(str(billing), 'default billing')})"
    if row.kind == LedgerKind.TICKET.value:
        return preview(str(details.get("summary") or ""))
    return ""


def preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_LENGTH else flat[: PREVIEW_LENGTH - 1] + "…"


@dataclass(frozen=True)
class Outcome:
    ledger_id: int
    state: str
    ticket_id: int
    kind: str
    ref: str
    psa_object_id: str | None = None
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0

    @property
    def posted(self) -> bool:
        return self.state == LedgerState.POSTED.value

    @property
    def pending(self) -> bool:
        return self.state == LedgerState.PENDING.value

    @classmethod
    def of(cls, row: PostLedger) -> Outcome:
        return cls(
            ledger_id=row.id,
            state=row.state,
            ticket_id=row.ticket_id,
            kind=row.kind,
            ref=row.ref,
            psa_object_id=row.psa_object_id,
            error=stored_error(row),
            error_kind=row.error_kind,
            attempts=row.attempts,
        )
