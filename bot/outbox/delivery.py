"""The outbox: posts ledger rows to the PSA exactly once, retrying what can be retried.

A handler records a row as `pending` (storage/repositories/ledger.py) and calls `deliver()`,
which claims it and posts it right away; the background worker re-drives rows that are due
(retries after 429/5xx, rows left behind by a crashed or restarted process).

Exactly once: every note ends with a footer carrying the row's `ref` (and so do a time
entry's notes and a new ticket's first note: bot/outbox/kinds.py). Before a note is posted a
second time (any attempt after the first, i.e. whenever an earlier attempt may have reached
ConnectWise: a timeout, a dropped connection, a process killed mid-request) the worker looks for
that ref on the ticket and, if it is there, settles the row with that note instead of posting
again. A status change is sent once per attempt; any attempt after the first reads the ticket
before patching: already at the new status (an earlier attempt went through) settles the row,
at a status other than the one it started from (someone changed it in ConnectWise meanwhile)
leaves it alone and reports that. The first attempt uses the ticket the handler just read.

Late commits: ConnectWise may apply a POST well after psabot stopped waiting for it. So after
an attempt whose outcome is unknown, the look for the ref happens only once that attempt is
certainly over (its connection closed; for a process that died, its lease ran out) plus a
settle window longer than any POST timeout; the look is the last thing before posting again.
A note whose retry window ran out meanwhile gets that one look, and is then settled for sure:
posted (found) or failed (not there after the window). docs/reliability.md has the residue.

Database outages: a row is settled (posted / failed) with retries for as long as
`settle_retry_for`, so a note ConnectWise accepted is never reported as failed; if the
database is gone longer, the row stays claimed, its lease runs out, and the next attempt finds
the note by its ref.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import secrets
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.context import Progress
from bot.core.errors import Described, Unconfirmed, UserError, describe
from bot.core.events import EventBus
from bot.core.pacing import idle
from bot.core.poller import DuePoller
from bot.metrics import Metrics
from bot.outbox.announce import Announcer, ProviderLookup
from bot.outbox.kinds import FOUND_BY_REF
from bot.outbox.records import Outcome
from psa.errors import (
    Conflict,
    ConnectionFailed,
    NotSent,
    PSAError,
    PSATimeout,
    RateLimited,
    ServerError,
)
from psa.provider import PSAProvider
from psa.types import Ticket
from storage.base import utcnow
from storage.crypto import CredentialDecryptError
from storage.errors import is_unavailable
from storage.models import LedgerKind, LedgerState, PostLedger
from storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Retry:
    at: datetime
    reason: str
    then: str = "trying again"


@dataclass
class _Checked:
    """Whether this attempt established that no earlier attempt's note is on the ticket."""

    nothing_earlier: bool = False


class _PastWindow(Exception):
    """The retry window ran out and the settle look found no earlier note: it failed."""


RETRY_REASONS = {
    "RateLimited": "ConnectWise is rate limiting",
    "ServerError": "ConnectWise had an error",
}


class Outbox:
    def __init__(
        self,
        store: Store,
        providers: ProviderLookup,
        events: EventBus,
        *,
        metrics: Metrics | None = None,
        worker_id: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        retry_window: timedelta = timedelta(minutes=5),
        settle_window: timedelta = timedelta(minutes=2),
        settle_retry_for: timedelta = timedelta(minutes=5),
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        poll_interval: float = 1.0,
        concurrency: int = 8,
        batch_size: int = 10,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self._providers = providers
        self.events = events
        self.metrics = metrics
        self.worker_id = worker_id or f"{socket.gethostname()[:30]}-{uuid.uuid4().hex[:8]}"
        self.lease = lease
        self.retry_window = retry_window
        self.settle_window = settle_window
        self.settle_retry_for = settle_retry_for
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_interval = poll_interval
        self._clock = clock
        self.concurrency = concurrency
        self._poller = DuePoller("outbox", self._due_pass, poll_interval)
        self._per_account: dict[int, int] = {}  # running background attempts per account
        # one account's slow ConnectWise may hold at most this many of the worker's slots
        self.per_account = max(1, concurrency // 4)
        self.batch_size = batch_size
        self._settled: dict[int, asyncio.Event] = {}
        self.announcer = Announcer(store, events, providers, metrics)

    # -- used by handlers ---------------------------------------------------------------------

    def give_up_at(self, now: datetime) -> datetime:
        return now + self.retry_window

    @property
    def claim(self) -> tuple[str, timedelta]:
        """A fresh claim for `record_pending(claim_for=...)`: this outbox posts the row at once."""
        return self._token(), self.lease

    def _token(self) -> str:
        """Every claim gets its own token, so a lease taken over is never mistaken for ours."""
        return f"{self.worker_id}:{secrets.token_hex(4)}"

    async def deliver(
        self,
        ledger_id: int,
        progress: Progress | None = None,
        *,
        claimed: PostLedger | None = None,
        provider: PSAProvider | None = None,
        ticket: Ticket | None = None,
    ) -> Outcome:
        """Post the row now (retrying within its window) and return how it ended.

        `claimed` is the row when it was recorded already claimed with `claim`; `provider`
        saves looking the account's provider up again; `ticket` is the ticket as the handler
        has just read it, which a status change's first attempt uses instead of reading it again.
        """
        row = claimed if claimed is not None and claimed.lease_owner else None
        current = ticket if row is not None else None
        while True:
            if row is None:
                async with self.store.unit() as uow:
                    row = await uow.ledger.claim(
                        ledger_id,
                        self._token(),
                        self._clock(),
                        self.lease,
                        orphan_settle=self.settle_window,
                    )
                if row is None:
                    return await self._wait_for_other(ledger_id)
            result = await self._attempt(row, provider, current)
            if isinstance(result, Outcome):
                return result
            row = current = None
            wait = max(0.0, (result.at - self._clock()).total_seconds())
            if progress is not None:
                await progress(f"{result.reason}; {result.then} in {max(1, round(wait))}s…")
            async with idle():
                await asyncio.sleep(wait)

    async def _wait_for_other(self, ledger_id: int) -> Outcome:
        """Someone else holds the row (another request, the worker, another process)."""
        event = self._settled.setdefault(ledger_id, asyncio.Event())
        delay = 0.05
        try:
            while True:
                async with self.store.unit() as uow:
                    row = await uow.ledger.get(ledger_id)
                if row is None:
                    raise LookupError(f"ledger row {ledger_id} vanished")
                if row.state != LedgerState.PENDING.value:
                    return Outcome.of(row)
                lease_free = row.lease_until is None or row.lease_until < self._clock()
                if lease_free and row.next_attempt_at <= self._clock():
                    return await self.deliver(ledger_id)
                async with idle():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), timeout=delay)
                delay = min(delay * 2, 1.0)
        finally:
            if self._settled.get(ledger_id) is event and not event.is_set():
                del self._settled[ledger_id]

    # -- one attempt ----------------------------------------------------------------------------

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempts - 1)))
        return random.uniform(ceiling / 2, ceiling)

    async def _keep_lease(self, row: PostLedger) -> None:
        """Extend the lease while an attempt runs, however long ConnectWise takes."""
        assert row.lease_owner is not None
        interval = max(0.05, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.store.unit() as uow:
                    kept = await uow.ledger.extend_lease(
                        row.id, row.lease_owner, self._clock() + self.lease
                    )
            except Exception as exc:
                if is_unavailable(exc):
                    continue  # the attempt goes on; settling waits the outage out
                log.exception("outbox heartbeat failed ledger_id=%s", row.id)
                return
            if not kept:
                log.warning("outbox lost its lease ledger_id=%s", row.id)
                return

    async def _attempt(
        self, row: PostLedger, provider: PSAProvider | None = None, ticket: Ticket | None = None
    ) -> Outcome | _Retry:
        heartbeat = asyncio.create_task(self._keep_lease(row))
        checked = _Checked()
        try:
            try:
                provider = provider or await self._providers(row.account_id)
                if row.kind == LedgerKind.STATUS.value:
                    object_id = await self._send_status(provider, row, ticket)
                else:
                    object_id = await self._send_created(provider, row, checked)
            except PSAError as exc:
                return await self._after_failure(row, provider, exc, checked)
            except _PastWindow:
                # the last attempt's failure stands as the outcome
                return await self._settle_failed(
                    row,
                    Described(
                        row.error_kind or "Failed",
                        row.error_context,
                        row.last_error or "it could not be posted",
                    ),
                )
            except (UserError, CredentialDecryptError) as exc:
                return await self._settle_failed(row, describe(exc))
            except Exception as exc:  # a bug or an unexpected library error: retry, then report
                if is_unavailable(exc):
                    raise  # the caller waits the outage out; nothing was decided
                log.exception("outbox attempt crashed ledger_id=%s", row.id)
                return await self._after_failure(row, provider, exc, checked)
            return await self._settle_posted(row, provider, object_id)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _send_status(
        self, provider: PSAProvider, row: PostLedger, ticket: Ticket | None
    ) -> str:
        """One read at most, one PATCH at most: the first attempt patches the ticket the handler
        just read; a later one reads it again, since an earlier attempt may have gone through
        and someone may have changed the status in ConnectWise since."""
        assert row.status_id is not None
        if row.attempts > 1:
            ticket = await provider.get_ticket(row.ticket_id)
            now_id = ticket.status.id if ticket.status else None
            if now_id == row.status_id:
                return str(row.status_id)
            if row.previous_status_id is not None and now_id != row.previous_status_id:
                # A retry must not undo a change someone made in ConnectWise meanwhile.
                raise Conflict(
                    f"the ticket's status was changed to "
                    f"{ticket.status.name if ticket.status else 'another one'} in "
                    "ConnectWise meanwhile, so it was left as it is",
                    operation="change status",
                    ticket_id=row.ticket_id,
                )
        changed = await provider.update_ticket_status(row.ticket_id, row.status_id, current=ticket)
        return str(changed.status.id if changed.status else row.status_id)

    async def _send_created(self, provider: PSAProvider, row: PostLedger, checked: _Checked) -> str:
        """A note, time entry or new ticket: looked for by its ref before it is sent again."""
        kind = FOUND_BY_REF(row.kind)
        if kind is None:
            raise UserError(f"psabot cannot send a {row.kind!r} row (made by a newer version?)")
        if row.attempts > 1:
            # An earlier attempt may have reached ConnectWise: look before posting again.
            earlier = await kind.find(provider, row)
            if earlier is not None:
                log.info("outbox found earlier %s ledger_id=%s id=%s", row.kind, row.id, earlier)
                return earlier
            if self._clock() >= row.give_up_at:
                raise _PastWindow()
        checked.nothing_earlier = True
        return await kind.send(provider, row)

    def _delay(self, row: PostLedger, exc: Exception) -> float:
        delay = self._backoff(row.attempts)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            wanted = exc.retry_after
            cap = self.retry_window.total_seconds()
            # whatever ConnectWise (or a proxy) sends: never negative, infinite or past the window
            wanted = cap if not math.isfinite(wanted) else min(max(0.0, wanted), cap)
            delay = max(delay, wanted)
        return delay

    async def _after_failure(
        self, row: PostLedger, provider: PSAProvider | None, exc: Exception, checked: _Checked
    ) -> Outcome | _Retry:
        now = self._clock()
        retryable = not isinstance(exc, PSAError) or exc.retryable
        next_at = now + timedelta(seconds=self._delay(row, exc))
        failure = describe(exc)
        kind = failure.kind
        note = FOUND_BY_REF(row.kind) is not None  # a POST, found again by its ref
        # The POST went out and we don't know what became of it: ConnectWise may still apply
        # it. The next look (and any new POST) waits until it certainly would have.
        unsure = (
            note
            and checked.nothing_earlier
            and (
                not isinstance(exc, PSAError)
                or (
                    isinstance(exc, PSATimeout | ConnectionFailed | ServerError)
                    and not isinstance(exc, NotSent)  # it never left: nothing to wait for
                )
            )
        )
        if unsure:
            next_at = max(next_at, now + self.settle_window)
        if note and row.attempts > 1 and not checked.nothing_earlier and next_at >= row.give_up_at:
            # The look for an earlier attempt's note itself failed, and time is up: we cannot know.
            return await self._settle_failed(row, describe(Unconfirmed(failure, row.ref)))
        if (retryable and next_at < row.give_up_at) or unsure:
            assert row.lease_owner is not None
            async with self.store.unit() as uow:
                kept = await uow.ledger.reschedule(
                    row.id, row.lease_owner, next_at, kind, failure.message, now, failure.context
                )
            if not kept:  # someone took the row over meanwhile: their outcome is ours
                return await self._wait_for_other(row.id)
            self._poller.wake()
            log.warning(
                "outbox retry ledger_id=%s attempts=%s error=%s delay=%.2fs",
                row.id,
                row.attempts,
                kind,
                (next_at - now).total_seconds(),
            )
            if unsure:
                return _Retry(
                    next_at,
                    "ConnectWise did not confirm the note",
                    "checking the ticket before trying again",
                )
            return _Retry(next_at, RETRY_REASONS.get(kind, "ConnectWise did not answer"))
        return await self._settle_failed(row, failure)

    # -- settling -----------------------------------------------------------------------------

    async def _settle(
        self,
        row: PostLedger,
        provider: PSAProvider | None,
        *,
        object_id: str | None = None,
        failure: Described | None = None,
    ) -> Outcome:
        """Record the outcome; a database outage is waited out (up to `settle_retry_for`)."""
        deadline = self._clock() + self.settle_retry_for
        wait = 0.2
        while True:
            try:
                return await self._settle_once(row, provider, object_id, failure)
            except Exception as exc:
                if not is_unavailable(exc) or self._clock() >= deadline:
                    raise
                log.warning(
                    "outbox cannot record the outcome yet ledger_id=%s error=%s",
                    row.id,
                    type(exc).__name__,
                )
            await asyncio.sleep(random.uniform(wait / 2, wait))
            wait = min(5.0, wait * 2)

    async def _settle_once(
        self,
        row: PostLedger,
        provider: PSAProvider | None,
        object_id: str | None,
        failure: Described | None,
    ) -> Outcome:
        now = self._clock()
        owner = row.lease_owner or ""
        async with self.store.unit() as uow:
            if failure is None:
                assert object_id is not None
                new_ticket = row.kind == LedgerKind.TICKET.value and object_id.isdigit()
                settled = await uow.ledger.mark_posted(
                    row.id, owner, object_id, now, ticket_id=int(object_id) if new_ticket else None
                )
            else:
                # the kind and context word the failure when shown; the message is the fallback
                settled = await uow.ledger.mark_failed(
                    row.id, owner, failure.kind, failure.message, now, failure.context
                )
            fresh = settled or await uow.ledger.get(row.id)
        assert fresh is not None
        if settled is None:
            # Our lease was taken over (this attempt ran past it): report the row as it stands.
            log.warning("outbox settle lost the lease ledger_id=%s", row.id)
            if fresh.state == LedgerState.PENDING.value:
                return await self._wait_for_other(row.id)
            return Outcome.of(fresh)
        await self._announce(fresh, provider)
        return Outcome.of(fresh)

    async def _settle_posted(
        self, row: PostLedger, provider: PSAProvider | None, object_id: str
    ) -> Outcome:
        return await self._settle(row, provider, object_id=object_id)

    async def _settle_failed(self, row: PostLedger, failure: Described) -> Outcome:
        return await self._settle(row, None, failure=failure)

    async def _announce(self, row: PostLedger, provider: PSAProvider | None) -> None:
        event = self._settled.pop(row.id, None)
        if event is not None:
            event.set()
        await self.announcer.settled(row, provider)

    # -- background worker --------------------------------------------------------------------

    async def run_due_once(self, *, wait: bool = True) -> int:
        """Claim due rows (as many as there are free slots) and start each as its own task, so
        one slow row (a ConnectWise that takes minutes) delays no other row or account; with
        `wait`, return once those attempts are over (the worker loop doesn't wait)."""
        free = min(self.batch_size, self.concurrency - len(self._poller.running))
        if free <= 0:
            return 0
        busy = [a for a, n in self._per_account.items() if n >= self.per_account]
        async with self.store.unit() as uow:
            rows = await uow.ledger.claim_due(
                self._token(),
                self._clock(),
                self.lease,
                limit=free,
                orphan_settle=self.settle_window,
                skip_accounts=busy,
                per_account=self.per_account,
            )
        started = []
        for row in rows:
            task = asyncio.create_task(self._guarded(row))
            self._per_account[row.account_id] = self._per_account.get(row.account_id, 0) + 1
            self._poller.track(task, functools.partial(self._ended, row.account_id))
            started.append(task)
        if wait and started:
            await asyncio.gather(*started, return_exceptions=True)
        return len(rows)

    async def _guarded(self, row: PostLedger) -> None:
        try:
            await self._attempt(row)
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("outbox attempt waits for the database ledger_id=%s", row.id)
            else:
                log.exception("outbox attempt failed ledger_id=%s", row.id)

    def _ended(self, account_id: int) -> None:
        left = self._per_account.get(account_id, 1) - 1
        if left > 0:
            self._per_account[account_id] = left
        else:
            self._per_account.pop(account_id, None)

    async def drain(self) -> None:
        """Wait for the attempts the worker started (tests, shutdown)."""
        await self._poller.drain()

    async def _due_pass(self) -> None:
        await self.run_due_once(wait=False)

    def start(self) -> None:
        """Start the worker; its first pass re-drives whatever an earlier process left pending."""
        self._poller.start(f"outbox-{self.worker_id}")

    async def stop(self) -> None:
        await self._poller.stop()
