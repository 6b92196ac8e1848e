"""Teams' answer to "is this conversation shared with another organisation?"
(bot/core/sharing.py), from what the activities themselves say.

Teams cannot be asked offline (the Graph calls need more permissions than a bot has), but
every activity carries the facts: `channelData.channel.type` is `"shared"` in a Teams Connect
shared channel, and tenant ids appear on the conversation (`conversation.tenantId`), on the
channel (`channelData.tenant.id`, the host's), on teams the channel is shared with
(`channelData.sharedWithTeams[].tenantId`) and on where a member comes from
(`membershipSource.tenantId`, on the activity, its sender or its channel data). So:

* a shared channel counts as external: it can be shared with another organisation at any
  time without the bot being told, and it may already be;
* a tenant id other than the workspace's own anywhere in the activity: external;
* a group chat: external (external access lets people of other tenants into chats, and an
  activity from an internal member does not say so);
* a standard or private channel, or a personal chat, with only the own tenant: internal;
* a conversation no activity has been seen from since the process started: external.

Per conversation the last answer is kept, bounded in number and time; an "external" answer
is kept until it expires even if a later activity (say, from an internal member) looks
internal, because only some activities carry the foreign tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cachetools import TTLCache

from bot.teams.inbound import THREAD_MARK

MAX_CONVERSATIONS = 20_000
TTL = 24 * 3600.0  # seconds an observation is kept

Json = dict[str, Any]


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _tenants(activity: Json) -> Iterator[str]:
    """Every tenant id the activity names, wherever Teams puts one."""
    conversation = _dict(activity.get("conversation"))
    data = _dict(activity.get("channelData"))
    yield _str(conversation.get("tenantId"))
    yield _str(_dict(data.get("tenant")).get("id"))
    yield _str(_dict(data.get("team")).get("tenantId"))
    for holder in (data, _dict(activity.get("from"))):
        yield _str(_dict(holder.get("membershipSource")).get("tenantId"))
    for key, where in (("membershipSources", activity), ("sharedWithTeams", data)):
        items = where.get(key)
        for item in items if isinstance(items, list) else []:
            yield _str(_dict(item).get("tenantId"))


def external(activity: Json, own_tenant: str) -> bool:
    """What this one activity says about its conversation's audience."""
    data = _dict(activity.get("channelData"))
    channel = _dict(data.get("channel"))
    if "shared" in (_str(channel.get("type")).lower(), _str(channel.get("membershipType")).lower()):
        return True
    if any(t and t.strip().lower() != own_tenant.lower() for t in _tenants(activity)):
        return True
    kind = _str(_dict(activity.get("conversation")).get("conversationType"))
    return kind not in ("personal", "channel")


class TeamsSharingProbe:
    platform = "teams"

    def __init__(self, *, max_conversations: int = MAX_CONVERSATIONS, ttl: float = TTL) -> None:
        self._seen: TTLCache[tuple[str, str], bool] = TTLCache(max_conversations, ttl)

    def observe(self, activity: Json, own_tenant: str) -> None:
        """Remember what an inbound activity says (called for every message and invoke)."""
        conversation_id = _str(_dict(activity.get("conversation")).get("id"))
        if not conversation_id or not own_tenant:
            return
        key = (own_tenant, conversation_id.partition(THREAD_MARK)[0])
        said = external(activity, own_tenant)
        if said or not self._seen.get(key, False):  # "external" sticks until it expires
            self._seen[key] = said

    async def shared_externally(self, account_external_id: str, channel_id: str) -> bool:
        return self._seen.get((account_external_id, channel_id), True)
