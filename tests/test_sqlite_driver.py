"""The embedded SQLite driver: statements on the loop, commits and lock waits on its thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate, sqlite_driver
from storage.engine import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    await migrate.upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE scratch (n INTEGER)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the calls that went to the connection's thread."""
    seen: list[str] = []
    original = sqlite_driver.InlineConnection._on_thread

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.InlineConnection, "_on_thread", counted)
    return seen


async def test_reads_and_writes_make_no_thread_trip_but_checkpoints_do(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as conn:  # the pool's connection exists already
        await conn.execute(text("SELECT 1"))
    trips.clear()
    async with engine.begin() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM scratch"))).scalar_one() == 0
    assert trips == []
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO scratch (n) VALUES (1), (2)"))
        await conn.execute(text("UPDATE scratch SET n = n + 10"))
    assert trips == []
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT n FROM scratch ORDER BY n"))).scalars().all()
    assert rows == [11, 12]
    trips.clear()
    for n in range(sqlite_driver.CHECKPOINT_EVERY):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO scratch (n) VALUES (:n)"), {"n": n})
    assert trips == ["_checkpoint"]  # the WAL is written back on the thread, not at commit


async def test_a_failed_write_rolls_back(engine: AsyncEngine) -> None:
    async def fail() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO scratch (n) VALUES (1)"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM scratch"))).scalar_one() == 0


def _hold_write_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch (n) VALUES (100)")
    locked.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


async def test_another_process_lock_is_waited_out_on_the_thread_not_the_loop(
    engine: AsyncEngine, tmp_path: Path, trips: list[str]
) -> None:
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "db.sqlite3", 0.5, locked))
    holder.start()
    await asyncio.to_thread(locked.wait)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO scratch (n) VALUES (1)"))
    waited = time.monotonic() - started
    ticker.cancel()
    await asyncio.to_thread(holder.join)
    assert waited >= 0.3  # it did wait for the lock...
    assert ticks >= 10  # ...while the loop kept running
    assert trips == ["execute"]  # the statement was run again on the thread
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT n FROM scratch ORDER BY n"))).scalars().all()
    assert rows == [1, 100]


async def test_patience_runs_out_with_sqlites_own_error(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "BUSY_PATIENCE", 0.1)
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "db.sqlite3", 0.6, locked))
    holder.start()
    await asyncio.to_thread(locked.wait)

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO scratch (n) VALUES (1)"))

    try:
        with pytest.raises(Exception, match="database is locked"):
            await write()
    finally:
        await asyncio.to_thread(holder.join)
    async with engine.begin() as conn:  # the connection is still good afterwards
        await conn.execute(text("INSERT INTO scratch (n) VALUES (2)"))
        rows = (await conn.execute(text("SELECT n FROM scratch ORDER BY n"))).scalars().all()
    assert rows == [2, 100]
