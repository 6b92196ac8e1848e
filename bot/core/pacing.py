"""Pacing of background work: a transport may bound how many commands work at once.

A transport runs each command inside `working()` with its own limiter, so a burst of commands
starts a few at a time and the event loop stays free to ack the next request. Code that then
only waits (on ConnectWise, on a retry back-off) enters `idle()`, which hands the slot to the
next command. Waiting for a slot is capped, so a burst delays a command but can never starve
it. Outside a transport's limiter both are no-ops.

Acks come first (`AckFirst`): while a platform request is being acknowledged, background
work waits before its next unit of work (a short while at most, `ACK_FIRST_MAX_WAIT`), so an
ack never queues behind the database transactions of notes acknowledged earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from psa.provider import PSAProvider

ACK_FIRST_MAX_WAIT = 0.05  # seconds background work yields to acks at most, each time


@dataclass
class _Slot:
    limiter: asyncio.Semaphore
    max_wait: float
    held: bool = False

    async def take(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.limiter.acquire(), timeout=self.max_wait)
            self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.limiter.release()


_current: ContextVar[_Slot | None] = ContextVar("psabot_work_slot", default=None)


@contextlib.asynccontextmanager
async def working(limiter: asyncio.Semaphore, *, max_wait: float) -> AsyncIterator[None]:
    """Hold one of the limiter's slots (waiting at most `max_wait` s for it) while the block
    runs."""
    slot = _Slot(limiter, max_wait)
    await slot.take()
    token = _current.set(slot)
    try:
        yield
    finally:
        _current.reset(token)
        slot.give_back()


@contextlib.asynccontextmanager
async def idle() -> AsyncIterator[None]:
    """Give the current slot back for good: this command now only waits (on ConnectWise, on a
    retry back-off). What it does afterwards is short, and queueing it behind new commands'
    first steps (a form to open within 3 s) would only delay them both."""
    slot = _current.get()
    if slot is not None:
        slot.give_back()
    yield


class _Paced:
    """A provider whose calls give the work slot back while they wait on the PSA."""

    def __init__(self, inner: PSAProvider) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        async def call(*args: Any, **kwargs: Any) -> Any:
            async with idle():
                return await attribute(*args, **kwargs)

        return call


def paced(provider: PSAProvider) -> PSAProvider:
    """Waiting on ConnectWise costs the event loop nothing, so it should not hold a slot that
    a command opening a form (with a 3 s trigger) is waiting for."""
    return cast(PSAProvider, _Paced(provider))


_acking: ContextVar[bool] = ContextVar("psabot_acking", default=False)


class AckFirst:
    """The requests being acknowledged right now, and the wait background work does for them.

    A transport wraps the handling of a platform request up to its answer in `acking()`;
    everything in that context (its own database writes, the batch commit it starts) goes
    on at once. Background work (`Worker` tasks, started from a request but marked as
    `background()`) calls `turn()` before each unit of work: it waits while any request is
    being acknowledged, at most `max_wait` seconds, so a stream of acks delays background
    work but never stops it."""

    def __init__(self, max_wait: float = ACK_FIRST_MAX_WAIT) -> None:
        self.max_wait = max_wait
        self._open = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @contextlib.contextmanager
    def acking(self) -> Iterator[None]:
        token = _acking.set(True)
        self._open += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._open -= 1
            if self._open == 0:
                self._clear.set()
            _acking.reset(token)

    @staticmethod
    def background() -> None:
        """The current task is background work, even if a request started it."""
        _acking.set(False)

    async def turn(self) -> None:
        if self._open and not _acking.get():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._clear.wait(), timeout=self.max_wait)
