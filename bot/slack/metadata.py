"""What a modal carries between views.open and its submission (Slack's private_metadata).

Conversation, response_url, the sources of type-ahead fields and the form's own metadata go
into private_metadata as compact JSON. Slack caps it at 3,000 characters, so a form whose
metadata is too long (the text of a message being posted) keeps that part in memory here,
for an hour, under a random token; it is read as often as needed (type-ahead requests read it
too) and expires on its own.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache

MAX_METADATA = 3000
STASH_SECONDS = 3600.0
MAX_STASHED = 1000


@dataclass
class ModalContext:
    channel_id: str = ""
    thread_ts: str | None = None
    response_url: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    expired: bool = False  # the stashed part is gone (psabot restarted, or an hour passed)


class MetadataCodec:
    def __init__(self) -> None:
        # bounded in size and time: at most MAX_STASHED long forms, each for STASH_SECONDS
        self._stash: TTLCache[str, dict[str, str]] = TTLCache(MAX_STASHED, STASH_SECONDS)

    def encode(self, context: ModalContext) -> str:
        data: dict[str, Any] = {
            "c": context.channel_id,
            "t": context.thread_ts,
            "r": context.response_url,
            "s": context.sources,
            "m": context.form,
        }
        text = _dumps(data)
        if len(text) <= MAX_METADATA:
            return text
        token = secrets.token_urlsafe(12)
        self._stash[token] = dict(context.form)
        data.update(m={}, k=token)
        if len(_dumps(data)) > MAX_METADATA:
            data["r"] = None  # replies then go through chat.postEphemeral
        return _dumps(data)

    def decode(self, raw: str) -> ModalContext:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        context = ModalContext(
            channel_id=str(data.get("c") or ""),
            thread_ts=data.get("t") or None,
            response_url=data.get("r") or None,
            sources=_strings(data.get("s")),
            form=_strings(data.get("m")),
        )
        token = data.get("k")
        if isinstance(token, str):
            stashed = self._stash.get(token)
            context.form = dict(stashed) if stashed else {}
            context.expired = stashed is None
        return context


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
