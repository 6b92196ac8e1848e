"""Pacing of background work: a transport may bound how many commands work at once.

A transport runs each command inside `working()` with its own limiter; code that merely waits
(the outbox sleeping before a retry) wraps the wait in `idle()`, which hands the slot to
another command meanwhile. Waiting for a slot is capped, so a burst delays a command but can
never starve it. Outside a transport's limiter both are no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass


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
    """Give the current slot back while this block only waits; take one again afterwards."""
    slot = _current.get()
    if slot is None:
        yield
        return
    slot.give_back()
    try:
        yield
    finally:
        await slot.take()
