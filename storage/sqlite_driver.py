"""aiosqlite for the embedded database, without a thread trip per call.

aiosqlite runs every call on its connection's own thread and waits for the answer; through
SQLAlchemy's adapter that is four trips per statement (create the cursor, execute, fetch,
close) plus one per commit and one for the pool's rollback-on-return, each a queue
hand-over, a thread wake-up, a wait for the GIL and a loop wake-up. Under load those trips
cost more CPU than the statements (a note's seven short transactions made ~50 of them) and
each waits for the loop to let go of the GIL, so an ack's transaction queued behind
whatever the loop was doing.

Here a statement runs where it is asked for, on the loop: psabot's statements are short
(keyed reads and writes of a few rows), and in WAL mode with `synchronous=NORMAL` a commit
only appends to the WAL file, so they touch the page cache and never sync. Two things could
make SQLite wait, and neither is done on the loop:

- A **WAL checkpoint** writes the WAL back into the database file and syncs it. SQLite runs
  one inside the commit that grows the WAL past 1,000 pages; here automatic checkpoints are
  off and every `CHECKPOINT_EVERY` commits the connection's thread runs a passive one (before
  the connection goes back to the pool, so nothing else uses it meanwhile).
- **Another process holding the write lock** (`psabot shell`, a second `serve`): the
  connection's busy timeout is 0, so the statement fails at once instead of waiting on the
  loop, and is run again on the thread, patiently (`BUSY_PATIENCE`), as SQLite's busy handler
  would. A statement that failed with SQLITE_BUSY did nothing, so running it again is safe.

Only for file databases, which SQLAlchemy opens with `check_same_thread=False`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

BUSY_PATIENCE = 5.0  # seconds a statement waits for another process's write lock
BUSY_SLEEP = (0.001, 0.05)  # first and longest pause between tries on the thread
CHECKPOINT_EVERY = 100  # commits between checkpoints (a note makes 4: ~500 WAL pages)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None) or 0
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)  # extended codes too


def _patiently(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """On the connection's thread: try again until the lock is free or patience runs out."""
    deadline = time.monotonic() + BUSY_PATIENCE
    pause, longest = BUSY_SLEEP
    while True:
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(longest, pause * 2)


class InlineConnection(aiosqlite.Connection):
    _commits = 0

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        if log.isEnabledFor(logging.DEBUG):  # as aiosqlite logs each call: never parameters
            sql = args[0] if args and isinstance(args[0], str) else ""
            log.debug("sqlite %s %s", getattr(fn, "__name__", "call"), sql[:200])
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        return await self._on_thread(fn, *args, **kwargs)

    async def _on_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await super()._execute(_patiently, fn, args, kwargs)  # type: ignore[no-untyped-call]

    async def commit(self) -> None:
        if not self._conn.in_transaction:  # a read-only unit of work, the pool's reset
            return
        await self._execute(self._conn.commit)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            await self._on_thread(self._checkpoint)

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await self._execute(self._conn.rollback)

    def _checkpoint(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").close()


def connect(database: str, pragmas: Sequence[str], **kwargs: Any) -> InlineConnection:
    """Like `aiosqlite.connect`: the connection above, set up with `pragmas` (its busy timeout
    0, see above) on its thread; the thread is a daemon, as SQLAlchemy makes aiosqlite's."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        for pragma in (*pragmas, "PRAGMA busy_timeout=0", "PRAGMA wal_autocheckpoint=0"):
            connection.execute(pragma).close()
        return connection

    connection = InlineConnection(connector, iter_chunk_size=64)
    connection._thread.daemon = True
    return connection  # awaited by the caller: that starts the thread and connects
