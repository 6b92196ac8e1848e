"""Post-history threads: linking posts a root entry; every settled post is added under it.

The decisions and the wording live here, for every platform: which conversation and thread
a post's entry goes to (the history thread of the link the post went through, kept in the
conversation's stored `ConversationRef`), and the text of each entry. A transport only posts
an entry where it is told to (`HistoryPoster`): Slack into the channel's thread, Teams as a
proactive message into the linked conversation.

Entry text is written in the neutral reply markup (bot/core/markup.py: bold, link); each
poster renders it for its platform, which also escapes what its platform reserves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.core.events import (
    AccountRef,
    Event,
    PostTransition,
    TicketActivity,
    TicketLinked,
    TicketUnlinked,
)
from bot.core.markup import bold, link
from bot.core.reply import Reply
from storage.models import ConversationRef, LedgerKind, LedgerState
from storage.store import Store

log = logging.getLogger(__name__)

NOTE_LABEL = {
    "internal": "internal note",
    "resolution": "resolution note",
    "description": "discussion note",
}


def escape(text: str) -> str:
    """The user's own words inside an entry, kept from reading as the markup's bold or code
    (each renderer escapes what its own platform reserves)."""
    return text.replace("**", "∗∗").replace("`", "ʹ")


def _ticket_link(url: str, ticket_id: int, summary: str = "") -> str:
    label = f"#{ticket_id} {summary}".strip()
    return link(url, label) if url else escape(label)


def linked_entry(event: TicketLinked) -> Reply:
    """The thread's root: posted when a conversation is linked to a ticket."""
    return Reply.info(
        f"🔗 {bold(_ticket_link(event.ticket_url, event.ticket_id, event.ticket_summary))} — "
        f"ticket linked by {escape(event.by_name)}. Notes, status changes and time sent to "
        "ConnectWise from here are recorded in this thread."
    )


def unlinked_entry(event: TicketUnlinked) -> Reply:
    return Reply.info(f"✖️ Unlinked from #{event.ticket_id} by {escape(event.by_name)}.")


def _what(event: PostTransition) -> tuple[str, str]:
    """What the post did, and what it wanted to do (for a failure)."""
    if event.kind == LedgerKind.STATUS.value:
        what = f"the status to {bold(escape(event.status_name or '?'))}"
        return f"changed {what}", f"wanted to change {what}"
    if event.kind == LedgerKind.TIME.value:
        what = f"{bold(escape(event.work))}: “{escape(event.preview)}”"
        return f"logged {what}", f"wanted to log {what}"
    if event.kind == LedgerKind.TICKET.value:
        what = f"ticket “{escape(event.work)}”"
        return f"created {what}", f"wanted to create {what}"
    label = NOTE_LABEL.get(event.note_type or "", "note")
    what = (f"an {label}" if label[0] in "aeiou" else f"a {label}") + f": “{escape(event.preview)}”"
    return f"added {what}", f"wanted to add {what}"


def transition_line(event: PostTransition) -> str:
    did, wanted = _what(event)
    where = _ticket_link(event.ticket_url, event.ticket_id)
    who = escape(event.who)
    if event.state == LedgerState.POSTED.value:
        return f"✅ {who} {did} · {where}"
    error = escape(event.error or "it did not reach ConnectWise")
    return f"❌ {who} {wanted}, but it failed: {error} · {where}"


def transition_entry(event: PostTransition) -> Reply:
    """A settled post (posted, or failed with the reason the user was given)."""
    return Reply.info(transition_line(event))


@dataclass(frozen=True)
class HistoryPlace:
    """Where an entry goes: the linked conversation (its stored key, its channel) and the
    history thread within it (None for the root of a conversation linked as a whole)."""

    account: AccountRef
    conversation_key: str
    channel_id: str
    thread_id: str | None


class HistoryPoster(Protocol):
    """What a transport provides to keep post-history threads: it only posts."""

    platform: str

    async def post_history(self, place: HistoryPlace, entry: Reply) -> str | None:
        """Post `entry` at `place`; the id of the posted message (a thread posted into a
        conversation as a whole starts there), or None if the platform refused it."""


class HistoryThreads:
    """The event subscriber that keeps one platform's post-history threads."""

    def __init__(self, store: Store, poster: HistoryPoster) -> None:
        self.store = store
        self.poster = poster

    async def __call__(self, event: Event) -> None:
        if event.account.platform != self.poster.platform:
            return
        if isinstance(event, TicketLinked):
            await self._linked(event)
        elif isinstance(event, TicketUnlinked):
            await self._unlinked(event)
        elif isinstance(event, PostTransition) and event.state != LedgerState.PENDING.value:
            await self._transition(event)
        elif isinstance(event, TicketActivity):
            place = HistoryPlace(
                event.account, event.conversation_key, event.channel_id, event.thread_id
            )
            await self.poster.post_history(place, Reply.info(event.text))

    async def _linked(self, event: TicketLinked) -> None:
        place = HistoryPlace(
            event.account, event.conversation_key, event.channel_id, event.thread_id
        )
        posted = await self.poster.post_history(place, linked_entry(event))
        if posted is None:
            return
        async with self.store.unit() as uow:
            await uow.refs.set_history_thread(
                event.account.id,
                event.conversation_key,
                event.account.platform,
                thread_id=event.thread_id or posted,
                ticket_id=event.ticket_id,
            )

    async def _unlinked(self, event: TicketUnlinked) -> None:
        async with self.store.unit() as uow:
            ref = await uow.refs.get(event.account.id, event.conversation_key)
            if ref is None or ref.history_ticket_id != event.ticket_id:
                return
            thread = ref.history_thread_id
            await uow.refs.set_history_thread(
                event.account.id,
                event.conversation_key,
                event.account.platform,
                thread_id=None,
                ticket_id=None,
            )
        place = HistoryPlace(event.account, event.conversation_key, event.channel_id, thread)
        await self.poster.post_history(place, unlinked_entry(event))

    async def thread_for(self, event: PostTransition) -> tuple[str, ConversationRef] | None:
        """The history thread of the link the post went through (a thread falls back to its
        channel's link, so its history does too): the link's key and its stored ref."""
        if not event.conversation_key:
            return None
        keys = [event.conversation_key]
        if "/" in event.conversation_key:
            keys.append(event.conversation_key.split("/", 1)[0])
        async with self.store.unit() as uow:
            for key in keys:
                ref = await uow.refs.get(event.account.id, key)
                if ref is not None and ref.history_ticket_id == event.ticket_id:
                    return key, ref
        return None

    async def _transition(self, event: PostTransition) -> None:
        found = await self.thread_for(event)
        if found is None or found[1].history_thread_id is None:
            return
        key, ref = found
        place = HistoryPlace(event.account, key, key.split("/", 1)[0], ref.history_thread_id)
        await self.poster.post_history(place, transition_entry(event))
