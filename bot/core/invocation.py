"""`Invocation`: who asked for what, where: the one shape every transport produces.

Slack payloads, Teams activities and shell lines all become an Invocation; handlers never see
a platform payload. The transport decides the idempotency key so that a repeat of the same
platform request maps to the same key (Slack: the request's trigger_id, which a retried request
repeats, or the submitted view's id and hash; shell: a session id and a counter).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


class Platform(enum.StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    SHELL = "shell"

    @property
    def label(self) -> str:
        return {"slack": "Slack", "teams": "Teams", "shell": "the psabot shell"}[self.value]


@dataclass(frozen=True)
class ChatUser:
    """The person behind the invocation, as the platform describes them."""

    id: str
    name: str = ""
    email: str | None = None
    is_admin: bool = False  # a workspace admin/owner, where the platform says so
    admin_known: bool = True  # False where the platform cannot tell admins apart (Teams)

    @property
    def display(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class Conversation:
    """Where the invocation happened: a channel, optionally a thread within it."""

    channel_id: str
    thread_id: str | None = None
    channel_name: str = ""

    @property
    def key(self) -> str:
        return f"{self.channel_id}/{self.thread_id}" if self.thread_id else self.channel_id


@dataclass(frozen=True)
class Command:
    """Words typed after `/ticket` (or after the bot's mention in Teams)."""

    text: str


@dataclass(frozen=True)
class FormSubmission:
    """A submitted form (Slack modal, Teams dialog, shell prompts)."""

    form_id: str
    values: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ButtonAction:
    """A button pressed on a card."""

    action_id: str
    value: str = ""


@dataclass(frozen=True)
class OptionsQuery:
    """A type-ahead request for a searched select field (Slack external_select)."""

    source: str
    query: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


Action = Command | FormSubmission | ButtonAction | OptionsQuery


@dataclass(frozen=True)
class Invocation:
    platform: Platform
    account_external_id: str  # Slack team id, Teams tenant id, shell workspace name
    user: ChatUser
    conversation: Conversation
    action: Action
    idempotency_key: str
    account_name: str = ""


_ACTIONS: dict[str, type[Command | FormSubmission | ButtonAction | OptionsQuery]] = {
    "command": Command,
    "form": FormSubmission,
    "button": ButtonAction,
    "options": OptionsQuery,
}


def to_record(invocation: Invocation) -> dict[str, Any]:
    """The invocation as plain JSON data (what the intake stores before a platform is acked)."""
    action = invocation.action
    kind = next(k for k, t in _ACTIONS.items() if isinstance(action, t))
    fields = {k: dict(v) if isinstance(v, Mapping) else v for k, v in asdict(action).items()}
    return {
        "platform": invocation.platform.value,
        "account": invocation.account_external_id,
        "account_name": invocation.account_name,
        "user": asdict(invocation.user),
        "conversation": asdict(invocation.conversation),
        "action": {"kind": kind, **fields},
        "key": invocation.idempotency_key,
    }


def from_record(data: Mapping[str, Any]) -> Invocation:
    """The inverse of `to_record`."""
    action = dict(data["action"])
    kind = _ACTIONS[action.pop("kind")]
    return Invocation(
        platform=Platform(data["platform"]),
        account_external_id=str(data["account"]),
        user=ChatUser(**data["user"]),
        conversation=Conversation(**data["conversation"]),
        action=kind(**action),
        idempotency_key=str(data["key"]),
        account_name=str(data.get("account_name", "")),
    )


USER_REF_RE = re.compile(r"^<@([A-Za-z0-9._:\-]+)(?:\|([^>]*))?>$")
_MENTION_RE = re.compile(r"<@([A-Za-z0-9._:\-]+)(?:\|([^>]*))?>")


def parse_user_ref(token: str) -> tuple[str, str] | None:
    """`<@U123|jane>` or `<@U123>` → (id, name). Transports rewrite their mentions to this form."""
    match = USER_REF_RE.match(token.strip())
    if match is None:
        return None
    return match.group(1), (match.group(2) or "").strip()


def humanize_mentions(text: str) -> str:
    """`<@U123|jane>` → `@jane` for text that leaves chat (a note in the PSA)."""
    return _MENTION_RE.sub(lambda m: "@" + ((m.group(2) or "").strip() or m.group(1)), text)
