"""Shared path of every write to the PSA: ledger row first, then the outbox, then the outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.reply import Button, Card, Fact, Reply
from bot.outbox import UNCONFIRMED, Outcome, preview
from handlers.common import ticket_title
from psa.provider import PSAProvider
from psa.types import NoteType, Ticket
from storage.models import LedgerKind, MemberMapping
from storage.repositories import NewPost


def check_text(text: str, usage: str, *, limit: int, what: str = "note") -> None:
    """Refuse text that can't be sent: empty, with a NUL (PostgreSQL can't store it and SQLite
    would: refused the same way on both), or over `limit` characters."""
    if not text.strip():
        raise BadArguments("There is nothing to post.", usage)
    if "\x00" in text:
        raise BadArguments(
            f"Your {what} contains a NUL character (\\0), which can't be stored; "
            f"remove it and send the {what} again.",
            usage,
        )
    if len(text) > limit:
        raise BadArguments(f"That {what} is {len(text)} characters; the limit is {limit}.", usage)


@dataclass(frozen=True)
class Posted:
    outcome: Outcome
    repeat: bool  # the idempotency key was seen before: nothing new was sent


async def post_through_ledger(
    request: Request,
    *,
    kind: LedgerKind,
    ticket_id: int,
    mapping: MemberMapping | None,
    provider: PSAProvider,
    key_suffix: str = "",
    body: str = "",
    note_type: NoteType | None = None,
    status_id: int | None = None,
    status_name: str | None = None,
    previous_status_id: int | None = None,
    ticket: Ticket | None = None,
    details: dict[str, Any] | None = None,
) -> Posted:
    """Record the write, then deliver it now. `ticket` is the ticket as just read, which a
    status change's first attempt patches without reading it again."""
    services = request.services
    now = services.clock()
    key = request.invocation.idempotency_key + key_suffix
    async with services.store.unit() as uow:
        row, created = await uow.ledger.record_pending(
            NewPost(
                account_id=request.account.id,
                idempotency_key=key,
                kind=kind,
                ticket_id=ticket_id,
                platform=request.invocation.platform.value,
                chat_user_id=request.user.id,
                chat_user_name=request.user.display,
                give_up_at=services.outbox.give_up_at(now),
                conversation_key=request.conversation.key,
                member_id=mapping.member_id if mapping else None,
                member_identifier=mapping.member_identifier if mapping else None,
                note_type=note_type.value if note_type else None,
                body=body,
                status_id=status_id,
                status_name=status_name,
                previous_status_id=previous_status_id,
                details=details,
            ),
            now,
            claim_for=services.outbox.claim,
        )
    if not created and row.is_finished:
        return Posted(Outcome.of(row), repeat=True)
    outcome = await services.outbox.deliver(
        row.id,
        progress=request.progress,
        claimed=row if created else None,
        provider=provider,
        ticket=ticket,
    )
    return Posted(outcome, repeat=not created)


def written_reply(
    posted: Posted,
    *,
    title: str,
    url: str,
    text: str,
    facts: tuple[Fact, ...],
    done: str,
    what: str,
    not_done: str,
    verb: str,
    kept: str,
) -> Reply:
    """The answer to a write that carries the user's text (a note, a time entry): a card when
    it reached ConnectWise, else what happened with the text handed back, so nothing is lost.

    The wording comes in pieces: `done` the success sentence ("Note added to #12 — X"), `what`
    the thing written ("Your note"), `not_done` its failure ("was NOT added to #12 — X"), `verb`
    what happens to it ("posted"), `kept` how the text handed back is named.
    """
    outcome = posted.outcome
    if outcome.posted:
        again = f" (this request was already handled; nothing was {verb} twice)"
        return Reply.success(
            f"{done}{again if posted.repeat else ''}.",
            Card(
                title=title,
                url=url,
                text=preview(text),
                facts=(*facts, Fact("Reference", outcome.ref)),
                buttons=(Button("Open in ConnectWise", url=url),) if url else (),
            ),
        )
    if outcome.error_kind == UNCONFIRMED:
        return Reply.error(
            f"{what} may not have reached {title}: {outcome.error}\n{kept}:\n> {text}"
        )
    return Reply.error(
        f"{what} {not_done}: {outcome.error or f'it could not be {verb}'}\n"
        f"Nothing was {verb}. {kept}:\n> {text}"
    )


def note_reply(
    posted: Posted,
    *,
    ticket_id: int,
    summary: str,
    url: str,
    note_type: NoteType,
    text: str,
    member_name: str,
) -> Reply:
    title = ticket_title(ticket_id, summary)
    return written_reply(
        posted,
        title=title,
        url=url,
        text=text,
        facts=(Fact("Type", note_type.label), Fact("Posted as", member_name)),
        done=f"Note added to {title}",
        what="Your note",
        not_done=f"was NOT added to {title}",
        verb="posted",
        kept="Your text, so it isn't lost",
    )


def status_reply(
    posted: Posted, *, ticket_id: int, summary: str, url: str, status_name: str
) -> Reply:
    outcome = posted.outcome
    title = ticket_title(ticket_id, summary)
    if outcome.posted:
        return Reply.success(
            f"Status of {title} is now **{status_name}**.",
            Card(
                title=title,
                url=url,
                facts=(Fact("Status", status_name),),
                buttons=(Button("Open in ConnectWise", url=url),) if url else (),
            ),
        )
    return Reply.error(
        f"The status of {title} was NOT changed to {status_name}: "
        f"{outcome.error or 'it could not be changed'}"
    )
