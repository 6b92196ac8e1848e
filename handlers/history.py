"""history: what went from chat to ConnectWise, who sent it, and how it ended."""

from __future__ import annotations

from bot.core.context import Request
from bot.core.reply import Card, Fact, Reply
from bot.core.router import Router
from bot.outbox import preview
from bot.outbox.records import stored_error, work_of
from handlers.common import parse_ticket_id, when
from psa.types import NoteType
from storage.models import LedgerKind, LedgerState, PostLedger

router = Router("history")
USAGE = "history [<ticket id>]"
LIMIT = 15

OUTCOME = {
    LedgerState.POSTED.value: "✅ posted",
    LedgerState.FAILED.value: "❌ failed",
    LedgerState.PENDING.value: "⏳ pending",
}


def _type_label(value: str | None) -> str:
    try:
        return NoteType(value or NoteType.INTERNAL.value).label
    except ValueError:
        return value or "note"


def describe(row: PostLedger) -> tuple[str, str]:
    if row.kind == LedgerKind.STATUS.value:
        what = f"status → {row.status_name}"
    elif row.kind == LedgerKind.TIME.value:
        what = f"time {work_of(row)}: “{preview(row.body)}”"
    elif row.kind == LedgerKind.TICKET.value:
        what = f"new ticket: “{work_of(row)}”"
    else:
        what = f"note ({_type_label(row.note_type)}): “{preview(row.body)}”"
    outcome = OUTCOME.get(row.state, row.state)
    error = stored_error(row) if row.state == LedgerState.FAILED.value else None
    if error:
        outcome += f": {error}"
    label = f"{when(row.created_at)} · {row.chat_user_name or row.chat_user_id} · #{row.ticket_id}"
    return label, f"{what} · {outcome}"


@router.command("history", usage=USAGE)
async def history(request: Request) -> Reply:
    """Recent notes, status changes and time from this conversation, or for a ticket."""
    async with request.services.store.unit() as uow:
        if request.args.strip():
            ticket_id = parse_ticket_id(request.args, USAGE)
            rows = await uow.ledger.recent(request.account.id, ticket_id=ticket_id, limit=LIMIT)
            scope = f"ticket #{ticket_id}"
        else:
            rows = await uow.ledger.recent(
                request.account.id, conversation_key=request.conversation.key, limit=LIMIT
            )
            scope = "this conversation"
    if not rows:
        return Reply.info(f"Nothing has been posted from chat for {scope} yet.")
    return Reply.info(
        f"Last {len(rows)} post(s) for {scope}, newest first:",
        Card(title=f"Post history: {scope}", facts=tuple(Fact(*describe(r)) for r in rows)),
    )
