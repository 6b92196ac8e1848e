"""Ticket unfurls on Slack: `link_shared` → `chat.unfurl`, `#12345` in a message → a card in
the message's thread.

Both listeners only read the event and hand the work to the transport's background worker,
so Slack gets its 200 at once (bolt acknowledges events when the listener returns). Each link
or mention becomes the core's preview command (bot/core/unfurl.py); the handler decides
whether there is a card (own site and company, linked conversation for mentions, the
shared-channel rule). Bot messages, edits and other message subtypes are ignored, an event
Slack delivers again (same channel and message) is answered once, and mention cards are
bounded per channel (`MentionBudget`). Malformed events are acknowledged and ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError

from bot.core.invocation import ChatUser, Conversation, Invocation, Platform
from bot.core.reply import Card, Reply
from bot.core.transport import guarded
from bot.core.unfurl import MentionBudget, preview_command, ticket_mentions
from bot.slack import blocks
from bot.slack.transport import SlackTransport
from bot.slack.work_objects import task_entity

log = logging.getLogger(__name__)

MAX_LINKS = 5  # links unfurled per message (Slack sends at most a handful)
MAX_URL = 2048
SEEN_TTL = 3600.0  # seconds a delivered event is remembered (Slack retries within minutes)
MAX_SEEN = 20_000


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class SlackUnfurls:
    def __init__(self, transport: SlackTransport, budget: MentionBudget | None = None) -> None:
        self.transport = transport
        self.budget = budget or MentionBudget()
        self._seen: TTLCache[tuple[str, ...], bool] = TTLCache(MAX_SEEN, SEEN_TTL)
        transport.app.event("link_shared")(self._on_link_shared)
        transport.app.event("message")(self._on_message)

    def _first_time(self, *key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = True
        return True

    async def _preview(
        self, team_id: str, user_id: str, where: Conversation, target: str, key: str
    ) -> Reply:
        invocation = Invocation(
            platform=Platform.SLACK,
            account_external_id=team_id,
            user=ChatUser(id=user_id),
            conversation=where,
            action=preview_command(target),
            idempotency_key=key,
        )

        async def work() -> Reply:
            return await self.transport.dispatcher.handle(invocation)

        return await guarded(work)

    # -- link_shared → chat.unfurl --------------------------------------------------------------

    async def _on_link_shared(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        team_id, user_id = _text(body.get("team_id")), _text(event.get("user"))
        channel, ts = _text(event.get("channel")), _text(event.get("message_ts"))
        unfurl_id, source = _text(event.get("unfurl_id")), _text(event.get("source"))
        raw = event.get("links")
        links = [
            _text(link.get("url"))
            for link in (raw if isinstance(raw, list) else [])
            if isinstance(link, dict) and 0 < len(_text(link.get("url"))) <= MAX_URL
        ]
        links = list(dict.fromkeys(links))[:MAX_LINKS]
        message = (ts and source != "composer") or (unfurl_id and source)
        if not (team_id and user_id and channel and links and message):
            log.info("link_shared ignored: not the shape Slack sends")
            return
        if not self._first_time("link", team_id, channel, ts or unfurl_id):
            return
        thread = _text(event.get("thread_ts")) or None
        self.transport.spawn(
            self._unfurl(team_id, user_id, Conversation(channel, thread), links, event)
        )

    async def _unfurl(
        self,
        team_id: str,
        user_id: str,
        where: Conversation,
        links: list[str],
        event: dict[str, Any],
    ) -> None:
        unfurls: dict[str, dict[str, Any]] = {}
        entities: list[dict[str, Any]] = []
        ts = _text(event.get("message_ts"))
        for i, url in enumerate(links):
            reply = await self._preview(team_id, user_id, where, url, f"slack:unfurl:{ts}:{i}")
            if not reply.cards:
                continue
            card = reply.cards[0]
            unfurls[url] = {"blocks": blocks.card_blocks(card)}
            entities.append(task_entity(card, url))
        if not unfurls:
            return
        source = _text(event.get("source"))
        target: dict[str, Any] = (  # a link still in the composer has no message yet
            {"channel": where.channel_id, "ts": ts}
            if ts and source != "composer"
            else {"unfurl_id": _text(event.get("unfurl_id")), "source": source}
        )
        client = await self.transport.client_for(team_id)
        try:
            await client.chat_unfurl(**target, unfurls=unfurls, metadata={"entities": entities})
        except SlackApiError as exc:
            log.info("chat.unfurl failed error=%s", exc.response.get("error"))

    # -- #12345 in a message → a card in its thread -------------------------------------------

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
            return  # edits, joins, bot posts (psabot's own cards among them)
        team_id = _text(body.get("team_id"))
        user_id, channel, ts = (
            _text(event.get("user")),
            _text(event.get("channel")),
            _text(event.get("ts")),
        )
        mentions = ticket_mentions(_text(event.get("text")))
        if not (team_id and user_id and channel and ts and mentions):
            return
        if not self._first_time("message", team_id, channel, ts):
            return
        thread = _text(event.get("thread_ts")) or None
        self.transport.spawn(
            self._mentions(team_id, user_id, Conversation(channel, thread), ts, mentions)
        )

    async def _mentions(
        self, team_id: str, user_id: str, where: Conversation, ts: str, mentions: list[str]
    ) -> None:
        cards: list[Card] = []
        for mention in mentions:
            reply = await self._preview(
                team_id, user_id, where, mention, f"slack:men:{ts}:{mention}"
            )
            if reply.cards and self.budget.take(team_id, where.channel_id, mention):
                cards.append(reply.cards[0])
        if not cards:
            return
        text, body = blocks.reply_blocks(Reply(cards=tuple(cards)))
        client = await self.transport.client_for(team_id)
        try:
            await client.chat_postMessage(
                channel=where.channel_id,
                thread_ts=where.thread_id or ts,
                text=text,
                blocks=body,
                unfurl_links=False,  # the card's own link must not unfurl again
                unfurl_media=False,
            )
        except SlackApiError as exc:
            log.info("chat.postMessage failed error=%s", exc.response.get("error"))
