"""Post-history threads in Slack: the entries bot/core/history.py words, posted into threads."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.history import HistoryPlace
from bot.core.reply import Reply
from bot.slack import blocks

log = logging.getLogger(__name__)

ClientFor = Callable[[str], Awaitable[AsyncWebClient]]


class SlackHistory:
    """The HistoryPoster for Slack: chat.postMessage into the channel (the thread, if any)."""

    platform = "slack"

    def __init__(self, client_for: ClientFor) -> None:
        self.client_for = client_for

    async def post_history(self, place: HistoryPlace, entry: Reply) -> str | None:
        client = await self.client_for(place.account.external_id)
        try:
            response = await client.chat_postMessage(
                channel=place.channel_id,
                text=blocks.mrkdwn(entry.text),
                thread_ts=place.thread_id,
                unfurl_links=False,
            )
        except SlackApiError as exc:
            log.warning(
                "post-history message failed channel=%s error=%s (invite the bot to the channel?)",
                place.channel_id,
                exc.response.get("error"),
            )
            return None
        return str(response.get("ts") or "") or None
