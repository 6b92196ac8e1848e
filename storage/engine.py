"""Engine and session factory: PostgreSQL (asyncpg) in production, SQLite (aiosqlite) embedded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_driver


def default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'psabot.sqlite3').resolve()}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",  # readers do not block the outbox writer
    # In WAL mode NORMAL never corrupts; a power cut may lose the last commits, which the
    # ledger survives: a lost "posted" mark is re-checked against the ticket by its ref.
    "PRAGMA synchronous=NORMAL",
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (*PRAGMAS, "PRAGMA busy_timeout=5000"):
        cursor.execute(pragma)
    cursor.close()


def _file_connector(url: str) -> Callable[[], Awaitable[Any]]:
    """A file database through storage/sqlite_driver.py (statements on the loop, commits and
    lock waits on its thread), with SQLAlchemy's own connect arguments for the URL."""
    parsed = make_url(url)
    args, connect_kwargs = parsed.get_dialect()().create_connect_args(parsed)

    async def connect() -> Any:
        return await sqlite_driver.connect(str(args[0]), PRAGMAS, **connect_kwargs)

    return connect


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    kwargs: dict[str, Any] = {"echo": echo}
    sqlite = is_sqlite(url)
    database = make_url(url).database if sqlite else None
    on_file = bool(database) and database != ":memory:"
    if sqlite:
        if on_file:
            assert database is not None
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = _file_connector(url)
        # One connection, so writers queue in order inside the process instead of sleeping
        # in SQLite's busy handler (its growing sleeps made the slowest acks slower still).
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_async_engine(url, **kwargs)
    if sqlite and not on_file:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
