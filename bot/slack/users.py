"""Slack user facts psabot needs (admin/owner, email, name), via users.info, cached briefly."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str
    email: str | None
    is_admin: bool


class UserDirectory:
    def __init__(self, ttl_seconds: float = 120.0, max_users: int = 4096) -> None:
        self.ttl = ttl_seconds
        self._cache: TTLCache[tuple[str, str], SlackUser] = TTLCache(max_users, ttl_seconds)

    async def lookup(
        self, client: AsyncWebClient, team_id: str, user_id: str, fallback_name: str = ""
    ) -> SlackUser:
        key = (team_id, user_id)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            # Without users.info we know nothing about admin rights or email: assume neither.
            log.warning(
                "users.info failed team=%s user=%s error=%s",
                team_id,
                user_id,
                exc.response.get("error"),
            )
            return SlackUser(user_id, fallback_name or user_id, None, False)
        data = response.get("user") or {}
        profile = data.get("profile") or {}
        user = SlackUser(
            id=user_id,
            name=str(
                profile.get("display_name")
                or profile.get("real_name")
                or data.get("real_name")
                or data.get("name")
                or fallback_name
                or user_id
            ),
            email=(str(profile["email"]) if profile.get("email") else None),
            is_admin=bool(
                data.get("is_admin") or data.get("is_owner") or data.get("is_primary_owner")
            ),
        )
        self._cache[key] = user
        return user
