"""Slack's answer to "is this channel shared with another organisation?" (bot/core/sharing.py).

A Slack Connect channel (`conversations.info` → `is_ext_shared`, or `is_pending_ext_shared`
while an invitation is out) is read by people of other organisations. A channel shared between
workspaces of one Enterprise Grid org (`is_org_shared`) is not. Answers are cached per
workspace and channel, bounded in size and time, because a channel's sharing changes rarely
and unfurls ask for every link. Any failure (no token, a missing `channels:read`/`groups:read`
scope, an unknown channel such as the composer's, Slack down, too slow) answers True: the
safe side. Failures are not cached, so the next unfurl asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

MAX_CHANNELS = 5000  # channels whose answer is kept
TTL = 300.0  # seconds an answer is kept: a channel shared meanwhile is seen within 5 minutes
TIMEOUT = 2.0  # seconds conversations.info may take before the answer is "shared"

ClientFor = Callable[[str], Awaitable[AsyncWebClient]]


class SlackSharingProbe:
    platform = "slack"

    def __init__(
        self,
        client_for: ClientFor,
        *,
        max_channels: int = MAX_CHANNELS,
        ttl: float = TTL,
        timeout: float = TIMEOUT,
    ) -> None:
        self.client_for = client_for
        self.timeout = timeout
        self._known: TTLCache[tuple[str, str], bool] = TTLCache(max_channels, ttl)

    async def shared_externally(self, account_external_id: str, channel_id: str) -> bool:
        key = (account_external_id, channel_id)
        known = self._known.get(key)
        if known is not None:
            return known
        try:
            shared = await asyncio.wait_for(self._ask(*key), timeout=self.timeout)
        except SlackApiError as exc:
            log.info("conversations.info failed error=%s", exc.response.get("error"))
            return True
        except Exception as exc:  # network, timeout, an unexpected answer: the safe side
            log.info("conversations.info failed error=%s", type(exc).__name__)
            return True
        self._known[key] = shared
        return shared

    async def _ask(self, team_id: str, channel_id: str) -> bool:
        client = await self.client_for(team_id)
        answer = await client.conversations_info(channel=channel_id)
        channel = answer.get("channel")
        if not isinstance(channel, dict):
            raise ValueError("conversations.info answered without a channel")
        return channel.get("is_ext_shared") is not False or bool(
            channel.get("is_pending_ext_shared")
        )
