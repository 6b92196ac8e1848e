"""Events the core publishes for transports: links changed, and every post-ledger transition.

Transports subscribe to keep per-link post-history threads (Slack) or proactive replies
(Teams) up to date. A failing subscriber is logged and never breaks the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountRef:
    id: int
    platform: str
    external_id: str


@dataclass(frozen=True)
class TicketLinked:
    account: AccountRef
    conversation_key: str
    channel_id: str
    thread_id: str | None
    ticket_id: int
    ticket_summary: str
    ticket_url: str
    by_name: str


@dataclass(frozen=True)
class TicketUnlinked:
    account: AccountRef
    conversation_key: str
    channel_id: str
    thread_id: str | None
    ticket_id: int
    by_name: str


@dataclass(frozen=True)
class PostTransition:
    """A ledger row was settled: posted, or failed (with the reason the user was given)."""

    account: AccountRef
    ledger_id: int
    conversation_key: str | None
    ticket_id: int
    kind: str  # note | status | time | ticket (storage.models.LedgerKind)
    state: str  # pending | posted | failed
    who: str
    note_type: str | None
    preview: str
    status_name: str | None
    error: str | None
    psa_object_id: str | None
    ticket_url: str
    at: datetime
    work: str = ""  # a time entry's duration and billing, a new ticket's summary


@dataclass(frozen=True)
class TicketActivity:
    """Something happened to a linked ticket in ConnectWise: `text` (neutral markup) goes into
    the conversation's history thread (`thread_id`; None: the conversation itself)."""

    account: AccountRef
    conversation_key: str
    channel_id: str
    thread_id: str | None
    ticket_id: int
    text: str


Event = TicketLinked | TicketUnlinked | PostTransition | TicketActivity
Subscriber = Callable[[Event], Awaitable[None]]


class EventBus:
    """Publishing queues the event and returns; one consumer hands events to subscribers in
    order, so a slow subscriber (Slack being slow) never delays the user's answer, and a
    history thread still reads linked → posted → posted."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    async def publish(self, event: Event) -> None:
        if not self._subscribers:
            return
        self._queue.put_nowait(event)
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.create_task(self._consume(), name="psabot-events")

    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                for subscriber in list(self._subscribers):
                    try:
                        await subscriber(event)
                    except Exception:
                        log.exception("event subscriber failed event=%s", type(event).__name__)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every published event reached its subscribers."""
        await self._queue.join()

    async def aclose(self) -> None:
        await self.drain()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
