"""Two-way updates, put together: the delivery worker, the reconcile, and the link subscriber.

* The worker (a DuePoller, bot/core/poller.py) claims queued deliveries, checks each ticket once
  however many deliveries named it, and retries a check ConnectWise could not answer with
  backoff (`max_attempts`, then the reconcile is left to catch up).
* Callbacks are lossy (psabot down, a delivery ConnectWise gave up on, a callback ConnectWise
  disabled), so the reconcile looks every `reconcile_interval` seconds, per account, at the
  `reconcile_batch` open linked tickets checked longest ago: one `lastUpdated` query for all
  of them, then a full check only of those ConnectWise changed since.
* A newly linked ticket is looked at once (seeded), so its first change knows its "from".

Everything is on only when PSABOT_PUBLIC_URL is set (ConnectWise needs an address to call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.core.context import Services, provider_for_account
from bot.core.errors import NotConnected
from bot.core.events import Event, TicketLinked, TicketUnlinked
from bot.core.poller import DuePoller
from bot.core.twoway.endpoints import CallbackEndpoints
from bot.core.twoway.receive import CallbackReceiver
from bot.core.twoway.sync import TicketSync
from psa.connectwise import callbacks as cwcb
from psa.connectwise import watch as cwwatch
from psa.errors import PSAError
from storage.errors import is_unavailable
from storage.models import CallbackDelivery

log = logging.getLogger(__name__)

STOP_GRACE = 5.0


@dataclass(frozen=True)
class TwoWayTuning:
    poll_interval: float = 1.0  # the worker's pass when nothing woke it
    lease: timedelta = timedelta(seconds=60)
    claim_batch: int = 20  # deliveries claimed per pass
    concurrency: int = 4  # tickets checked at once
    max_attempts: int = 5
    retry_base: float = 5.0  # seconds, doubled per attempt
    reconcile_interval: float = 300.0
    reconcile_batch: int = 25  # tickets per account per reconcile pass
    replay_window: timedelta = timedelta(days=7)  # how long a delivered message is remembered
    register_retry: timedelta = timedelta(minutes=10)  # a failed registration is tried again


class TwoWay:
    def __init__(
        self,
        services: Services,
        public_url: str | None,
        *,
        tuning: TwoWayTuning | None = None,
    ) -> None:
        self.services = services
        self.tuning = tuning or TwoWayTuning()
        self.endpoints = CallbackEndpoints(services, public_url)
        self.keys = cwcb.KeyFetcher(services.hosts)
        self.sync = TicketSync(services)
        # each loop's pass holds its lock, so stopping waits for it rather than cutting it
        # mid-query (the worker and the reconcile still run side by side)
        self._passing: list[asyncio.Lock] = []
        worker, reconcile = self._exclusive(self.run_due_once), self._exclusive(self.reconcile_once)
        self.worker = DuePoller("callbacks", worker, self.tuning.poll_interval)
        self.reconciler = DuePoller("reconcile", reconcile, self.tuning.reconcile_interval)
        self.receiver = CallbackReceiver(services, self.endpoints, self.keys, self.worker.wake)
        self._owner = f"cb-{secrets.token_hex(6)}"
        self._startup: asyncio.Task[None] | None = None
        if self.enabled:  # a bus without subscribers skips work on every settled post
            services.events.subscribe(self.on_event)

    @property
    def enabled(self) -> bool:
        return self.endpoints.enabled

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled:
            return
        self.worker.start("psabot-callbacks")
        self.reconciler.start("psabot-reconcile")
        self._startup = asyncio.create_task(self._keep_registered(), name="psabot-callbacks-reg")

    async def _keep_registered(self) -> None:
        try:
            await self.endpoints.keep_registered()
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("checking the ConnectWise callbacks failed")

    def _exclusive(self, run: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        lock = asyncio.Lock()
        self._passing.append(lock)

        async def one_at_a_time() -> int:
            async with lock:
                return await run()

        return one_at_a_time

    async def stop(self) -> None:
        """Stop between passes: a pass under way gets `STOP_GRACE` seconds to finish."""
        if self._startup is not None:
            self._startup.cancel()
            await asyncio.gather(self._startup, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(lock.acquire() for lock in self._passing)), STOP_GRACE
            )
        await self.worker.stop()
        await self.reconciler.stop()
        await self.keys.aclose()

    # -- connection and link changes ---------------------------------------------------------

    async def connected(self, account_id: int) -> str | None:
        """A connection was saved: register its callback; the problem in words, if any."""
        registration = await self.endpoints.register(account_id)
        return None if registration is None else registration.error

    async def disconnecting(self, account_id: int) -> None:
        await self.endpoints.remove(account_id)

    async def on_event(self, event: Event) -> None:
        if isinstance(event, TicketUnlinked):
            async with self.services.store.unit() as uow:
                await uow.callbacks.forget_unlinked(event.account.id, event.ticket_id)
            return
        if not isinstance(event, TicketLinked):
            return
        try:
            await self.sync.seed(event.account.id, event.ticket_id)
        except (PSAError, NotConnected) as exc:  # the reconcile seeds it later
            log.info("could not look at a newly linked ticket: %s", type(exc).__name__)

    # -- the delivery worker ------------------------------------------------------------------

    async def run_due_once(self) -> int:
        """One pass: claim due deliveries, check each of their tickets once."""
        now = self.services.clock()
        async with self.services.store.unit() as uow:
            claimed = await uow.callbacks.claim_due(
                self._owner, now, self.tuning.lease, self.tuning.claim_batch
            )
        groups: dict[tuple[int, int], list[CallbackDelivery]] = {}
        for row in claimed:
            groups.setdefault((row.account_id, row.ticket_id), []).append(row)
        slots = asyncio.Semaphore(self.tuning.concurrency)

        async def one(key: tuple[int, int], rows: list[CallbackDelivery]) -> None:
            async with slots:
                await self._check_delivered(key[0], key[1], rows)

        await asyncio.gather(*(one(k, rows) for k, rows in groups.items()))
        return len(claimed)

    async def _check_delivered(
        self, account_id: int, ticket_id: int, rows: list[CallbackDelivery]
    ) -> None:
        started = self.services.clock()
        ids = [r.id for r in rows]
        try:
            await self.sync.check(account_id, ticket_id)
        except NotConnected:
            pass  # disconnected meanwhile: nothing to tell
        except PSAError as exc:
            attempts = max(r.attempts for r in rows)
            give_up = not exc.retryable or attempts >= self.tuning.max_attempts
            wait = self.tuning.retry_base * 2 ** (attempts - 1)
            async with self.services.store.unit() as uow:
                await uow.callbacks.postpone(
                    ids,
                    started + timedelta(seconds=wait),
                    type(exc).__name__,
                    give_up=give_up,
                    now=started,
                )
            return
        async with self.services.store.unit() as uow:
            await uow.callbacks.finish(account_id, ticket_id, ids, started, self.services.clock())

    # -- the reconcile ------------------------------------------------------------------------

    async def reconcile_once(self) -> int:
        """One bounded pass over every account with a callback; how many tickets were checked."""
        now = self.services.clock()
        async with self.services.store.unit() as uow:
            endpoints = await uow.callbacks.endpoints()
            await uow.callbacks.purge_done(now - self.tuning.replay_window)
        for endpoint in endpoints:  # ConnectWise was away or refused: try again now and then
            if (
                endpoint.registered_at is None
                and endpoint.updated_at < now - self.tuning.register_retry
            ):
                await self.endpoints.register(endpoint.account_id)
        checked = 0
        for account_id in [e.account_id for e in endpoints]:
            try:
                checked += await self._reconcile_account(account_id)
            except (PSAError, NotConnected) as exc:
                log.info("reconcile skipped account=%s error=%s", account_id, type(exc).__name__)
        return checked

    async def _reconcile_account(self, account_id: int) -> int:
        batch = self.tuning.reconcile_batch
        async with self.services.store.unit() as uow:
            unwatched = await uow.callbacks.unwatched_links(account_id, batch)
            watches = await uow.callbacks.stalest_watches(account_id, batch)
        for ticket_id in unwatched:
            await self.sync.seed(account_id, ticket_id)
        if not watches:
            return 0
        client = cwcb.client_of(await provider_for_account(self.services, account_id))
        if client is None:
            return 0
        since = min(w.ticket_updated_at or w.checked_at for w in watches)
        changed = await cwwatch.updated_since(client, [w.ticket_id for w in watches], since)
        known = {w.ticket_id: w for w in watches}
        stale = [
            t.id
            for t in changed
            if t.id in known
            and (
                known[t.id].ticket_updated_at is None
                or t.last_updated != known[t.id].ticket_updated_at
            )
        ]
        for ticket_id in stale:
            await self.sync.check(account_id, ticket_id)
        async with self.services.store.unit() as uow:
            await uow.callbacks.touch_watches(
                account_id,
                [w.ticket_id for w in watches if w.ticket_id not in stale],
                self.services.clock(),
            )
        return len(stale)
