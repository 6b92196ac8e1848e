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
    """Words typed after the command prefix (the slash command, or the bot's mention in Teams)."""

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


_MENTION = r"<@([A-Za-z0-9._:\-]+)(?:\|([^>]*))?>"
_ONE_MENTION_RE = re.compile(f"^{_MENTION}$")
_MENTION_RE = re.compile(_MENTION)


@dataclass(frozen=True)
class Mention:
    """A person named in a command (`owners add @jane`), whatever the platform's markup.

    Each transport turns its own mention (Slack's escaped user reference, a Teams mention
    entity, the shell's `@name`) into `Mention(...).token` inside the command text; handlers
    read it back with `Mention.parse` and never see a platform's markup. The token's shape is
    private to this class (it is stored with the command in the intake)."""

    id: str
    name: str = ""

    @property
    def token(self) -> str:
        name = " ".join(self.name.replace("|", " ").replace(">", " ").split())
        return f"<@{self.id}|{name}>" if name else f"<@{self.id}>"

    @property
    def display(self) -> str:
        return "@" + (self.name or self.id)

    @classmethod
    def parse(cls, token: str) -> Mention | None:
        """The mention a whole argument is, or None (`jane` alone is not a mention)."""
        match = _ONE_MENTION_RE.match(token.strip())
        if match is None:
            return None
        return cls(match.group(1), (match.group(2) or "").strip())


def mentions_in(text: str) -> list[Mention]:
    return [Mention(m.group(1), (m.group(2) or "").strip()) for m in _MENTION_RE.finditer(text)]


def humanize_mentions(text: str) -> str:
    """Mention tokens → `@name` for text that leaves chat (a note in the PSA, the shell)."""
    return _MENTION_RE.sub(lambda m: Mention(m.group(1), (m.group(2) or "").strip()).display, text)
