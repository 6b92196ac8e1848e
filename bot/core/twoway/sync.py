"""Checking one linked ticket against what psabot last saw, and telling its conversations.

A check re-reads the ticket and its notes newer than the last one seen (two ConnectWise
requests), works out what changed (status from → to, closed / reopened, notes), drops what
psabot did itself (a note whose id or footer ref is in the post ledger, a status change the
ledger asked for), records the new look (compare-and-set, so of two processes checking the same
ticket only one posts), then posts one entry per linked conversation.

Who may read what: a status change and customer-visible notes go to every linked conversation;
an internal note only to a conversation whose link is marked internal (the default) AND whose
channel the transport's SharingProbe says is not shared with another organisation. A platform
without a probe, or a probe that fails, counts as shared: internal notes are never guessed out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from bot.core.context import Services, provider_for_account
from bot.core.events import AccountRef, TicketActivity
from bot.core.sharing import shared_externally
from bot.core.updates import NoteAdded, StatusChange, update_text
from psa.connectwise import callbacks as cwcb
from psa.connectwise import watch as cwwatch
from psa.provider import PSAProvider
from psa.types import Note, Ticket
from storage.models import TicketLink, TicketWatch
from storage.repositories.callbacks import Seen

log = logging.getLogger(__name__)

MAX_NOTES_READ = 50  # notes read per check; more than that are summed up as "more"
OWN_CHANGE_MARGIN = timedelta(minutes=2)  # clock skew between psabot's ledger and its watch
_REF_RE = re.compile(r"\bref ([0-9a-f]{8})\b")


@dataclass(frozen=True)
class Changes:
    status: StatusChange | None
    notes: list[NoteAdded]
    more: bool  # more new notes than were read

    @property
    def empty(self) -> bool:
        return self.status is None and not self.notes


def seen_of(ticket: Ticket, last_note_id: int) -> Seen:
    return Seen(
        status_id=ticket.status.id if ticket.status else None,
        status_name=ticket.status.name if ticket.status else "",
        closed=ticket.closed,
        last_note_id=last_note_id,
        ticket_updated_at=ticket.last_updated,
    )


class TicketSync:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def _provider(self, account_id: int) -> PSAProvider:
        return await provider_for_account(self.services, account_id)

    async def seed(self, account_id: int, ticket_id: int) -> None:
        """Remember how a ticket looks now (when it is linked), so the next check knows what
        changed; nothing is posted."""
        async with self.services.store.unit() as uow:
            if await uow.callbacks.watch(account_id, ticket_id) is not None:
                return
        provider = await self._provider(account_id)
        client = cwcb.client_of(provider)
        if client is None:
            return
        ticket = await provider.get_ticket(ticket_id)
        newest = await cwwatch.newest_note_id(client, ticket_id)
        async with self.services.store.unit() as uow:
            await uow.callbacks.seed_watch(account_id, ticket_id, seen_of(ticket, newest))

    async def check(self, account_id: int, ticket_id: int) -> int:
        """Re-read the ticket, post what changed; how many conversations were told."""
        async with self.services.store.unit() as uow:
            watch = await uow.callbacks.watch(account_id, ticket_id)
            account = await uow.accounts.get(account_id)
            links = await uow.links.links_of(account_id, ticket_id)
        if account is None or not links:
            return 0
        if watch is None:
            await self.seed(account_id, ticket_id)
            return 0
        provider = await self._provider(account_id)
        client = cwcb.client_of(provider)
        if client is None:
            return 0
        ticket = await provider.get_ticket(ticket_id)
        notes = await cwwatch.notes_after(client, ticket_id, watch.last_note_id, MAX_NOTES_READ)
        changes = await self._changes(account_id, watch, ticket, notes)
        newest = max((n.id for n in notes), default=watch.last_note_id)
        async with self.services.store.unit() as uow:
            won = await uow.callbacks.advance_watch(
                watch, seen_of(ticket, newest), self.services.clock()
            )
        if not won or changes.empty:
            return 0
        ref = AccountRef(account.id, account.platform, account.external_id)
        url = provider.ticket_url(ticket_id)
        told = 0
        for link in links:
            if await self._tell(ref, link, ticket, url, changes):
                told += 1
        return told

    async def _changes(
        self, account_id: int, watch: TicketWatch, ticket: Ticket, notes: list[Note]
    ) -> Changes:
        status: StatusChange | None = None
        now_id = ticket.status.id if ticket.status else None
        async with self.services.store.unit() as uow:
            moved = now_id is not None and now_id != watch.status_id
            own_status = moved and await uow.callbacks.own_status_change(
                account_id, ticket.id, now_id or 0, watch.checked_at - OWN_CHANGE_MARGIN
            )
            refs = sorted({r for n in notes for r in _REF_RE.findall(n.text)})
            own_ids, own_refs = await uow.callbacks.own_notes(
                account_id, ticket.id, [n.id for n in notes], refs
            )
        if moved and not own_status:
            status = StatusChange(
                before=watch.status_name,
                after=ticket.status.name if ticket.status else "",
                closed=ticket.closed and not watch.closed,
                reopened=watch.closed and not ticket.closed,
            )
        added = [
            NoteAdded(
                n.id,
                (n.member.name if n.member and n.member.name else n.created_by),
                n.note_type,
                n.text,
            )
            for n in notes
            if n.id not in own_ids and not (set(_REF_RE.findall(n.text)) & own_refs)
        ]
        return Changes(status, added, more=len(notes) >= MAX_NOTES_READ)

    async def _internal_allowed(self, account: AccountRef, link: TicketLink) -> bool:
        if not link.internal:
            return False
        try:  # the transports' probes, in Services.sharing (missing: counts as shared)
            return not await shared_externally(
                self.services.sharing, account.platform, account.external_id, link.channel_id
            )
        except Exception:
            log.warning(
                "sharing probe failed platform=%s; internal notes withheld", account.platform
            )
            return False

    async def _tell(
        self, account: AccountRef, link: TicketLink, ticket: Ticket, url: str, changes: Changes
    ) -> bool:
        notes = changes.notes
        if any(n.internal for n in notes) and not await self._internal_allowed(account, link):
            notes = [n for n in notes if not n.internal]
        summary = ticket.summary or link.ticket_summary
        text = update_text(ticket.id, summary, url, changes.status, notes, changes.more)
        if text is None:
            return False
        async with self.services.store.unit() as uow:
            ref = await uow.refs.get(account.id, link.conversation_key)
        thread = (
            ref.history_thread_id
            if ref is not None and ref.history_ticket_id == ticket.id and ref.history_thread_id
            else link.thread_id
        )
        await self.services.events.publish(
            TicketActivity(
                account=account,
                conversation_key=link.conversation_key,
                channel_id=link.channel_id,
                thread_id=thread,
                ticket_id=ticket.id,
                text=text,
            )
        )
        return True
