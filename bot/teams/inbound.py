"""A Teams activity (as JSON) → the pieces of an Invocation: tenant, user, conversation, words."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Any

from bot.core.invocation import ChatUser, Conversation, Mention

Json = dict[str, Any]
THREAD_MARK = ";messageid="
_PREFIX_RE = re.compile(r"^/?ticket\b[:,]?\s*", re.IGNORECASE)
_AT_RE = re.compile(r"</?at[^>]*>", re.IGNORECASE)


class Malformed(ValueError):
    """The activity lacks what psabot needs (tenant, sender, conversation)."""


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Envelope:
    """Who and where, from any activity."""

    tenant_id: str
    user: ChatUser
    teams_user_id: str  # the per-bot `29:…` id (member look-ups take it)
    conversation_id: str  # as Teams sends it, `;messageid=` included
    conversation: Conversation
    service_url: str
    activity_id: str
    bot_id: str
    kind: str  # personal | groupChat | channel

    @property
    def key(self) -> str:
        """The idempotency key: a repeat of the same activity maps to the same key."""
        where = hashlib.sha256(self.conversation_id.encode()).hexdigest()[:16]
        return f"teams:{self.activity_id[:120]}:{where}"

    def reply_to(self) -> Json:
        """How to reach the author later, also from another process (stored with writes)."""
        return {
            "service_url": self.service_url,
            "conversation_id": self.conversation_id,
            "activity_id": self.activity_id,
            "bot_id": self.bot_id,
            "teams_user_id": self.teams_user_id,
            "tenant_id": self.tenant_id,
        }


def envelope(activity: Json) -> Envelope:
    conversation = _dict(activity.get("conversation"))
    channel_data = _dict(activity.get("channelData"))
    sender = _dict(activity.get("from"))
    tenant = _str(_dict(channel_data.get("tenant")).get("id")) or _str(conversation.get("tenantId"))
    conversation_id = _str(conversation.get("id"))
    teams_user = _str(sender.get("id"))
    if not tenant:
        raise Malformed("The activity names no tenant (channelData.tenant.id).")
    if not conversation_id or not teams_user:
        raise Malformed("The activity names no conversation or sender.")
    if not isinstance(activity.get("recipient"), dict):
        # the SDK answers (and replies) to the conversation reference built from it
        raise Malformed("The activity names no recipient (the bot's account).")
    channel, _, thread = conversation_id.partition(THREAD_MARK)
    kind = _str(conversation.get("conversationType")) or (
        "channel" if thread else ("personal" if conversation_id.startswith("a:") else "groupChat")
    )
    return Envelope(
        tenant_id=tenant,
        user=ChatUser(
            id=_str(sender.get("aadObjectId")) or teams_user,
            name=_str(sender.get("name")),
            admin_known=False,  # Teams does not say who administers the tenant
        ),
        teams_user_id=teams_user,
        conversation_id=conversation_id,
        conversation=Conversation(
            channel_id=channel,
            thread_id=thread or None,
            channel_name=_str(conversation.get("name")),
        ),
        service_url=_str(activity.get("serviceUrl")),
        activity_id=_str(activity.get("id")) or _str(activity.get("replyToId")),
        bot_id=_str(_dict(activity.get("recipient")).get("id")),
        kind=kind,
    )


def command_text(activity: Json) -> str:
    """The words of a message: the bot's mention stripped, other mentions as the core's
    `Mention` tokens (Entra id when the entity has one), a leading `ticket` (or `/ticket`)
    dropped."""
    text = _str(activity.get("text"))
    bot_id = _str(_dict(activity.get("recipient")).get("id"))
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        shown = _str(entity.get("text"))
        mentioned = _dict(entity.get("mentioned"))
        if not shown:
            continue
        if _str(mentioned.get("id")) == bot_id and bot_id:
            text = text.replace(shown, " ", 1)
            continue
        who = _str(mentioned.get("aadObjectId")) or _str(mentioned.get("id"))
        name = _AT_RE.sub("", shown).lstrip("@").strip() or _str(mentioned.get("name"))
        if who:
            text = text.replace(shown, Mention(who, name).token, 1)
    text = _AT_RE.sub("", text)
    text = html.unescape(text).replace("\xa0", " ").strip()
    return _PREFIX_RE.sub("", text, count=1).strip()
