"""The background loop shared by the intake and the outbox: a pass over due rows whenever it is
woken or every `interval` seconds, and the per-row tasks a pass starts, tracked until done."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage.errors import is_unavailable

log = logging.getLogger(__name__)


class DuePoller:
    def __init__(self, name: str, run_pass: Callable[[], Awaitable[object]], interval: float):
        self.name = name
        self.interval = interval
        self.running: set[asyncio.Task[None]] = set()
        self._run_pass = run_pass
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def track(self, task: asyncio.Task[None], ended: Callable[[], None] | None = None) -> None:
        """Keep `task` until it ends; then call `ended` and run another pass."""

        def done(finished: asyncio.Task[None]) -> None:
            self.running.discard(finished)
            if ended is not None:
                ended()
            self._wake.set()

        self.running.add(task)
        task.add_done_callback(done)

    async def _loop(self) -> None:
        while True:
            try:
                await self._run_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("%s worker: database unavailable", self.name)
                else:
                    log.exception("%s worker pass failed", self.name)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)

    def start(self, task_name: str) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for every task a pass started (tests, shutdown)."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)
