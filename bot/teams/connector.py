"""Outbound calls to the Bot Framework connector: post, update, member look-ups.

Every call opens a connector client through the SDK's client factory with psabot's own app
identity (anonymous when auth is off), so background work and later processes can post
without the turn that started them. Member details are cached: `map me` needs the e-mail,
mentions need the Entra object id, and neither changes from one command to the next.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import RestChannelServiceClientFactory
from microsoft_agents.hosting.core.authorization import AuthenticationConstants, Connections
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.teams.auth import claims_for_app
from bot.teams.inbound import THREAD_MARK

log = logging.getLogger(__name__)

MEMBER_TTL = 600.0


@dataclass(frozen=True)
class Member:
    id: str  # 29:…
    aad_object_id: str
    name: str
    email: str | None


class Connector:
    def __init__(self, connections: Connections, app_id: str | None) -> None:
        self.factory = RestChannelServiceClientFactory(connections)
        self.app_id = app_id
        self._members: TTLCache[tuple[str, str], Member] = TTLCache(maxsize=5000, ttl=MEMBER_TTL)

    @contextlib.asynccontextmanager
    async def client(self, service_url: str) -> AsyncIterator[TeamsConnectorClient]:
        claims = claims_for_app(self.app_id)
        client = await self.factory.create_connector_client(
            None,
            claims,
            service_url,
            AuthenticationConstants.AGENTS_SDK_SCOPE,
            use_anonymous=claims.allow_anonymous,
        )
        assert isinstance(client, TeamsConnectorClient)
        try:
            yield client
        finally:
            await client.close()

    async def post(
        self, service_url: str, conversation_id: str, body: dict[str, Any], reply_to: str = ""
    ) -> str | None:
        """Post a message; its activity id (for later updates), or None if Teams refused."""
        activity = Activity.model_validate(
            {**body, "channelId": "msteams", "conversation": {"id": conversation_id}}
        )
        try:
            async with self.client(service_url) as client:
                if reply_to:
                    sent = await client.conversations.reply_to_activity(
                        conversation_id, reply_to, activity
                    )
                else:
                    sent = await client.conversations.send_to_conversation(
                        conversation_id, activity
                    )
        except Exception as exc:
            log.warning("teams post failed error=%s", type(exc).__name__)
            return None
        return sent.id or None

    async def update(
        self, service_url: str, conversation_id: str, activity_id: str, body: dict[str, Any]
    ) -> bool:
        activity = Activity.model_validate(
            {
                **body,
                "id": activity_id,
                "channelId": "msteams",
                "conversation": {"id": conversation_id},
            }
        )
        try:
            async with self.client(service_url) as client:
                await client.conversations.update_activity(conversation_id, activity_id, activity)
        except Exception as exc:
            log.warning("teams update failed error=%s", type(exc).__name__)
            return False
        return True

    async def member(self, service_url: str, conversation_id: str, user_id: str) -> Member | None:
        """`GET /v3/conversations/{id}/members/{userId}`: name, Entra id and e-mail/UPN."""
        base = conversation_id.split(THREAD_MARK, 1)[0]
        key = (base, user_id)
        cached = self._members.get(key)
        if cached is not None:
            return cached
        try:
            async with self.client(service_url) as client:
                account = await client.get_conversation_member(base, user_id)
        except Exception as exc:
            log.info("teams member look-up failed error=%s", type(exc).__name__)
            return None
        email = account.email or account.user_principal_name or None
        found = Member(
            id=account.id or user_id,
            aad_object_id=account.aad_object_id or "",
            name=account.name or "",
            email=email if email and "@" in email else None,
        )
        self._members[key] = found
        return found
