"""Group commit for the intake: many writes arriving at once are stored in one transaction.

A burst of 100 commands would otherwise queue 100 transactions on the database's single
writer (SQLite) or on the pool, and the last ack would wait for all of them. Instead every
`submit()` joins the batch that is being gathered, and one transaction stores the whole batch.

The deadline is exact: a submitter that gave up (its ack has said "nothing was recorded") is
left out of the batch before it commits; once a batch starts committing, its submitters wait
for the outcome instead of giving up, so nobody is told "not recorded" about a stored row.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.repositories import NewIntake
from storage.store import Store

MAX_BATCH = 200  # writes stored in one transaction at most


class _State(enum.Enum):
    WAITING = "waiting"
    COMMITTING = "committing"
    ABANDONED = "abandoned"


@dataclass
class _Entry:
    item: NewIntake
    token: str
    done: asyncio.Future[Recorded]
    state: _State = _State.WAITING


@dataclass(frozen=True)
class Recorded:
    id: int
    fresh: bool  # False: the key was stored before (a repeat of the same request)
    finished: bool


class GaveUp(Exception):
    """The deadline passed before the write's batch began to commit: nothing was stored."""


@dataclass
class IntakeBatcher:
    store: Store
    lease: timedelta
    clock: Callable[[], datetime]
    _waiting: list[_Entry] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def submit(self, item: NewIntake, token: str, deadline: float) -> Recorded:
        """The stored row once committed; `GaveUp` if it could not start committing in time."""
        entry = _Entry(item, token, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="psabot-intake-batch")
        try:
            return await asyncio.wait_for(asyncio.shield(entry.done), timeout=deadline)
        except TimeoutError:
            if entry.state is _State.WAITING:  # not yet part of a committing batch
                entry.state = _State.ABANDONED
                raise GaveUp() from None
            return await entry.done  # its batch is committing: its outcome is the truth

    async def _drain(self) -> None:
        while self._waiting:
            await asyncio.sleep(0)  # let the writes arriving in this same instant join
            batch = [e for e in self._waiting[:MAX_BATCH] if e.state is _State.WAITING]
            del self._waiting[:MAX_BATCH]
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Entry]) -> None:
        results: list[tuple[_Entry, Recorded]] = []
        try:
            async with self.store.unit() as uow:
                live = [e for e in batch if e.state is not _State.ABANDONED]
                if not live:
                    return
                stored = await uow.intake.record_many(
                    [(e.item, e.token) for e in live], self.clock(), self.lease
                )
                results = [(e, Recorded(*s)) for e, s in zip(live, stored, strict=True)]
                # The point of no return: who is still waiting is committed, who gave up is not.
                gave_up = [s.id for e, s in results if e.state is _State.ABANDONED and s.fresh]
                results = [(e, s) for e, s in results if e.state is not _State.ABANDONED]
                for entry, _ in results:
                    entry.state = _State.COMMITTING
                if gave_up:
                    await uow.intake.forget(gave_up)
        except Exception as exc:
            for entry in batch:
                if not entry.done.done():
                    entry.done.set_exception(exc)
                    entry.done.exception()  # retrieved: a submitter that gave up won't read it
            return
        for entry, result in results:
            if not entry.done.done():
                entry.done.set_result(result)
