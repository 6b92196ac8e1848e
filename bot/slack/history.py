"""Post-history threads: linking posts a root message; every settled post is added under it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import Event, PostTransition, TicketLinked, TicketUnlinked
from bot.slack.blocks import mrkdwn
from storage.models import ConversationRef, LedgerKind, LedgerState
from storage.store import Store

log = logging.getLogger(__name__)

ClientFor = Callable[[str], Awaitable[AsyncWebClient]]
NOTE_LABEL = {
    "internal": "internal note",
    "resolution": "resolution note",
    "description": "discussion note",
}


def _ticket_link(url: str, ticket_id: int, summary: str = "") -> str:
    label = f"#{ticket_id} {summary}".strip().replace("|", "¦").replace(">", "›")
    return f"<{url}|{label}>" if url else mrkdwn(label)


def transition_line(event: PostTransition) -> str:
    if event.kind == LedgerKind.STATUS.value:
        what = f"changed the status to *{mrkdwn(event.status_name or '?')}*"
    else:
        label = NOTE_LABEL.get(event.note_type or "", "note")
        what = f"added an {label}" if label[0] in "aeiou" else f"added a {label}"
        what += f": “{mrkdwn(event.preview)}”"
    link = _ticket_link(event.ticket_url, event.ticket_id)
    who = mrkdwn(event.who)
    if event.state == LedgerState.POSTED.value:
        return f":white_check_mark: {who} {what} · {link}"
    error = mrkdwn(event.error or "it did not reach ConnectWise")
    wanted = what.replace("added", "wanted to add", 1).replace("changed", "wanted to change", 1)
    return f":x: {who} {wanted}, but it failed: {error} · {link}"


class HistoryThreads:
    def __init__(self, store: Store, client_for: ClientFor) -> None:
        self.store = store
        self.client_for = client_for

    async def __call__(self, event: Event) -> None:
        if event.account.platform != "slack":
            return
        if isinstance(event, TicketLinked):
            await self._linked(event)
        elif isinstance(event, TicketUnlinked):
            await self._unlinked(event)
        elif isinstance(event, PostTransition) and event.state != LedgerState.PENDING.value:
            await self._transition(event)

    async def _post(
        self, team_id: str, channel: str, text: str, thread_ts: str | None
    ) -> str | None:
        client = await self.client_for(team_id)
        try:
            response = await client.chat_postMessage(
                channel=channel, text=text, thread_ts=thread_ts, unfurl_links=False
            )
        except SlackApiError as exc:
            log.warning(
                "post-history message failed channel=%s error=%s (invite the bot to the channel?)",
                channel,
                exc.response.get("error"),
            )
            return None
        return str(response.get("ts") or "") or None

    async def _linked(self, event: TicketLinked) -> None:
        text = (
            f":link: *{_ticket_link(event.ticket_url, event.ticket_id, event.ticket_summary)}* — "
            f"ticket linked by {mrkdwn(event.by_name)}. Notes and status changes sent to "
            "ConnectWise from here are recorded in this thread."
        )
        ts = await self._post(event.account.external_id, event.channel_id, text, event.thread_id)
        if ts is None:
            return
        async with self.store.unit() as uow:
            await uow.refs.set_history_thread(
                event.account.id,
                event.conversation_key,
                "slack",
                thread_id=event.thread_id or ts,
                ticket_id=event.ticket_id,
            )

    async def _unlinked(self, event: TicketUnlinked) -> None:
        async with self.store.unit() as uow:
            ref = await uow.refs.get(event.account.id, event.conversation_key)
            if ref is None or ref.history_ticket_id != event.ticket_id:
                return
            thread = ref.history_thread_id
            await uow.refs.set_history_thread(
                event.account.id, event.conversation_key, "slack", thread_id=None, ticket_id=None
            )
        await self._post(
            event.account.external_id,
            event.channel_id,
            f":heavy_multiplication_x: Unlinked from #{event.ticket_id} by "
            f"{mrkdwn(event.by_name)}.",
            thread,
        )

    async def _thread_for(self, event: PostTransition) -> tuple[str, ConversationRef] | None:
        """The history thread of the link the post went through (a thread falls back to its
        channel's link, so its history does too)."""
        if not event.conversation_key:
            return None
        keys = [event.conversation_key]
        if "/" in event.conversation_key:
            keys.append(event.conversation_key.split("/", 1)[0])
        async with self.store.unit() as uow:
            for key in keys:
                ref = await uow.refs.get(event.account.id, key)
                if ref is not None and ref.history_ticket_id == event.ticket_id:
                    return key.split("/", 1)[0], ref
        return None

    async def _transition(self, event: PostTransition) -> None:
        found = await self._thread_for(event)
        if found is None or found[1].history_thread_id is None:
            return
        channel, ref = found
        await self._post(
            event.account.external_id, channel, transition_line(event), ref.history_thread_id
        )
