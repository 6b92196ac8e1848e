"""Durable intake: a write command is stored before its platform is acknowledged.

The way of a write (a note, a status change, a message posted to a ticket), for every transport:

1. The transport turns the payload into a *draft* Invocation from the payload alone (no
   users.info, no PSA call, nothing slow) and calls `accept()`: one short transaction stores
   it, claimed by this process, within `deadline` seconds. Only then is the platform acked.
   If the database cannot take it in time, `try_accept()` returns the refusal to ack with
   (`not_recorded()`): nothing was stored, the user gets their text back.
2. `process()` (in the transport's background worker) finishes the draft through the
   transport (`resolve`: display name, e-mail…), dispatches it, and hands the reply to the
   transport (`deliver`), then marks the row done. A database outage on the way is waited
   out: the row is stored, so the same work is tried again, never reported as a failure.
3. A row whose process died is claimed again by the worker of a later process once its lease
   runs out, and finished the same way, so its author still hears the outcome. The ledger
   below (idempotency key = the intake's) makes the repeat post nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import secrets
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.context import Progress
from bot.core.dispatch import Dispatcher
from bot.core.intake_batch import IntakeBatcher
from bot.core.invocation import (
    Action,
    Command,
    FormSubmission,
    Invocation,
    Platform,
    from_record,
    to_record,
)
from bot.core.pacing import idle
from bot.core.poller import DuePoller
from bot.core.reply import Reply, Tone
from storage.base import utcnow
from storage.errors import is_unavailable
from storage.models import IntakeItem
from storage.repositories import NewIntake
from storage.store import Store

log = logging.getLogger(__name__)


ALREADY_HANDLED = "This request was already handled; nothing was posted twice."
ALREADY_SUBMITTED = "This was already submitted and is on its way; nothing is posted twice."


class IntakeUnavailable(Exception):
    """The write could not be stored in time: nothing was recorded; `reply` says so."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


@dataclass(frozen=True)
class Accepted:
    """A stored write. `fresh` is False for a repeat of an earlier request (same key)."""

    id: int
    token: str
    fresh: bool
    finished: bool
    # A fresh row as stored, so finishing it needs no read back (None for a repeat).
    item: Stored | None = field(default=None, compare=False, repr=False)

    @property
    def repeat(self) -> Reply | None:
        """What a repeat of an earlier request is told (None for a fresh one)."""
        if self.fresh:
            return None
        return Reply.info(ALREADY_HANDLED if self.finished else ALREADY_SUBMITTED)


@dataclass(frozen=True)
class Stored:
    """A stored write as a transport gets it back to finish: the draft and its way back."""

    id: int
    draft: Invocation
    reply_to: dict[str, Any]
    user_text: str
    created_at: datetime
    resumed: bool  # picked up again: after an outage, or by a later process


class IntakeTransport(Protocol):
    """What a transport provides so the intake can finish its stored writes."""

    platform: Platform

    async def resolve(self, item: Stored) -> tuple[Invocation, Progress | None]:
        """The full Invocation (user details looked up now) and a progress callback."""

    async def deliver(self, item: Stored, reply: Reply) -> None:
        """Put the reply in front of the author (best effort; failures are logged)."""


def not_recorded(user_text: str) -> Reply:
    """The ack when the write could not be stored: say so, and give the text back."""
    return Reply.error(
        "I couldn't record this (psabot's database is not answering), so nothing was sent "
        "to ConnectWise. Try again in a minute." + text_back(user_text)
    )


def text_back(user_text: str) -> str:
    if not user_text.strip():
        return ""
    quoted = "\n".join(f"> {line}" for line in user_text.splitlines() or [user_text])
    return f"\nYour text, so it isn't lost:\n{quoted}"


def with_text_back(reply: Reply, user_text: str) -> Reply:
    """Every failure about a write gives the author's text back (once)."""
    if reply.tone not in (Tone.ERROR, Tone.WARNING) or reply.form is not None:
        return reply
    if not user_text.strip() or "Your text, so it isn't lost" in reply.text:
        return reply
    return dataclasses.replace(reply, text=reply.text + text_back(user_text))


@dataclass
class IntakeTuning:
    deadline: float = 1.5  # seconds the ack may wait for the row to be stored
    lease: timedelta = timedelta(seconds=60)
    poll_interval: float = 1.0
    concurrency: int = 8
    outage_backoff: tuple[float, float] = (0.2, 5.0)  # first and longest wait in an outage
    keep_done: timedelta = timedelta(days=1)  # finished rows are kept to spot repeats


@dataclass
class Intake:
    store: Store
    dispatcher: Dispatcher
    tuning: IntakeTuning = field(default_factory=IntakeTuning)
    clock: Callable[[], datetime] = utcnow
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()[:30]}-{uuid.uuid4().hex[:8]}"
    )

    def __post_init__(self) -> None:
        self._transports: dict[str, IntakeTransport] = {}
        self._poller = DuePoller("intake", self.run_due_once, self.tuning.poll_interval)
        self._slots = asyncio.Semaphore(self.tuning.concurrency)
        self._batcher = IntakeBatcher(self.store, self.tuning.lease, lambda: self.clock())

    def register(self, transport: IntakeTransport) -> None:
        self._transports[transport.platform.value] = transport

    def _token(self) -> str:
        return f"{self.worker_id}:{secrets.token_hex(4)}"

    def user_text(self, action: Action) -> str:
        """The author's own words in a write, to give back if it fails."""
        if isinstance(action, Command):
            found = self.dispatcher.router.match(action.text)
            return found[1] if found is not None else action.text
        if isinstance(action, FormSubmission):
            return str(action.values.get("text", ""))
        return ""

    # -- before the ack -----------------------------------------------------------------------

    async def try_accept(self, draft: Invocation, reply_to: dict[str, Any]) -> Accepted | Reply:
        """`accept()`, or the reply to ack with when nothing could be stored."""
        try:
            return await self.accept(draft, reply_to)
        except IntakeUnavailable as refused:
            return refused.reply

    async def accept(self, draft: Invocation, reply_to: dict[str, Any]) -> Accepted:
        """Store the write, claimed by this process; `IntakeUnavailable` if it can't be."""
        user_text = self.user_text(draft.action)
        record = {"invocation": to_record(draft), "user_text": user_text}
        item = NewIntake(
            platform=draft.platform.value,
            account_external_id=draft.account_external_id,
            idempotency_key=draft.idempotency_key,
            # json.dumps escapes control characters (NUL included): any database takes it
            invocation=json.dumps(record),
            reply_to=json.dumps(reply_to),
        )
        token = self._token()
        created_at = self.clock()
        try:
            stored = await self._batcher.submit(item, token, self.tuning.deadline)
        except Exception as exc:
            log.warning(
                "intake could not store a write platform=%s account=%s error=%s",
                draft.platform.value,
                draft.account_external_id,
                type(exc).__name__,
            )
            raise IntakeUnavailable(not_recorded(user_text)) from exc
        kept = None
        if stored.fresh:
            kept = Stored(stored.id, draft, dict(reply_to), user_text, created_at, resumed=False)
        return Accepted(stored.id, token, stored.fresh, stored.finished, kept)

    # -- after the ack ------------------------------------------------------------------------

    async def process(self, accepted: Accepted) -> None:
        """Finish a stored write: dispatch it and tell its author, waiting out outages.

        Stored writes are finished a few at a time (`concurrency`), strictly: their authors
        were acked already, and a burst worked all at once would only slow the acks of the
        next requests (each would queue behind hundreds of database transactions)."""
        if not accepted.fresh:
            return
        async with idle():  # waiting for a turn holds no transport slot
            await self._slots.acquire()
        try:
            await self._work(accepted.id, accepted.token, resumed=False, item=accepted.item)
        finally:
            self._slots.release()

    def _stored(self, row: IntakeItem, resumed: bool) -> Stored:
        record = json.loads(row.invocation)
        return Stored(
            id=row.id,
            draft=from_record(record["invocation"]),
            reply_to=json.loads(row.reply_to or "{}"),
            user_text=str(record.get("user_text", "")),
            created_at=row.created_at,
            resumed=resumed,
        )

    async def _work(
        self, item_id: int, token: str, *, resumed: bool, item: Stored | None = None
    ) -> None:
        first, longest = self.tuning.outage_backoff
        wait = first
        heartbeat = asyncio.create_task(self._keep(item_id, token))
        try:
            while True:
                try:
                    await self._once(item_id, token, resumed, self._still_ours(item))
                    return
                except _LostLease:
                    return
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    log.warning(
                        "database unavailable; will finish intake_id=%s when it is back error=%s",
                        item_id,
                        type(exc).__name__,
                    )
                resumed, item = True, None  # after an outage: read back what is stored
                await asyncio.sleep(random.uniform(wait / 2, wait))
                wait = min(longest, wait * 2)
                try:  # keep the row ours; if another process took it over, it finishes it
                    async with self.store.unit() as uow:
                        if not await uow.intake.claim(
                            item_id, token, self.clock(), self.tuning.lease, renew=token
                        ):
                            return
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    def _still_ours(self, item: Stored | None) -> Stored | None:
        """The row as accepted, while its first lease surely holds (no other process can
        have claimed it: a lease is claimed again only once it has run out)."""
        if item is None or self.clock() - item.created_at > self.tuning.lease / 2:
            return None
        return item

    async def _once(
        self, item_id: int, token: str, resumed: bool, accepted: Stored | None = None
    ) -> None:
        if accepted is not None:  # just stored and claimed by this process: no read back
            item = accepted
        else:
            async with self.store.unit() as uow:
                row = await uow.intake.get(item_id)
            if row is None or row.is_finished or row.lease_owner != token:
                raise _LostLease()
            item = self._stored(row, resumed)
        transport = self._transports.get(item.draft.platform.value)
        if transport is None:
            raise RuntimeError(f"no transport for {item.draft.platform.value} registered")
        invocation, progress = await transport.resolve(item)
        reply = await self.dispatcher.handle(invocation, progress, durable=True)
        reply = with_text_back(reply, item.user_text)
        await transport.deliver(item, reply)
        await self._finish(item_id, token)

    async def _finish(self, item_id: int, token: str) -> None:
        """Mark done; the reply is out, so an outage here is waited out a little, not raised."""
        wait = self.tuning.outage_backoff[0]
        for _ in range(8):
            try:
                async with self.store.unit() as uow:
                    await uow.intake.finish(item_id, token, self.clock())
                return
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
            await asyncio.sleep(wait)
            wait = min(self.tuning.outage_backoff[1], wait * 2)
        # Left pending: a later pass finishes it again (the ledger posts nothing twice).
        log.warning("could not mark intake_id=%s done; it will be re-checked", item_id)

    async def _keep(self, item_id: int, token: str) -> None:
        interval = max(0.05, self.tuning.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.store.unit() as uow:
                    if not await uow.intake.extend(
                        item_id, token, self.clock() + self.tuning.lease
                    ):
                        return
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("intake heartbeat failed intake_id=%s", item_id)
                    return

    # -- the worker: rows left by an outage or by an earlier process --------------------------

    async def run_due_once(self) -> int:
        """Claim due rows (as many as there are free slots) and start each as its own task."""
        free = self.tuning.concurrency - len(self._poller.running)
        if free <= 0:
            return 0
        token = self._token()
        async with self.store.unit() as uow:
            rows = await uow.intake.claim_due(
                token, self.clock(), self.tuning.lease, list(self._transports), free
            )
            if not rows:
                await uow.intake.purge_done(self.clock() - self.tuning.keep_done)
        for row in rows:
            log.info("resuming stored write intake_id=%s platform=%s", row.id, row.platform)
            self._poller.track(asyncio.create_task(self._guarded(row.id, token)))
        return len(rows)

    async def _guarded(self, item_id: int, token: str) -> None:
        try:
            async with self._slots:
                await self._work(item_id, token, resumed=True)
        except Exception:
            log.exception("resuming stored write failed intake_id=%s", item_id)

    def start(self) -> None:
        self._poller.start(f"intake-{self.worker_id}")

    async def stop(self) -> None:
        await self._poller.stop()

    async def drain(self) -> None:
        await self._poller.drain()


class _LostLease(Exception):
    """The row is done or another process holds it: nothing more to do here."""
