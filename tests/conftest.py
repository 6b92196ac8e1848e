"""Shared fixtures: real SQLite and PostgreSQL databases, migrated stores."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage import migrate
from storage.crypto import CredentialCipher, generate_key
from storage.engine import create_engine
from storage.store import Store

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("PSABOT_TEST_POSTGRES_URL", DEFAULT_PG_URL)
REQUIRE_PG = os.environ.get("PSABOT_REQUIRE_POSTGRES") == "1"


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _pg_reachable() -> str | None:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(_asyncpg_dsn(PG_URL)), timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


_PG_PROBLEM: list[str | None] = []


def pg_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); probed once, off the test's loop."""
    if not _PG_PROBLEM:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            _PG_PROBLEM.append(pool.submit(asyncio.run, _pg_reachable()).result())
    return _PG_PROBLEM[0]


def require_postgres() -> None:
    problem = pg_problem()
    if problem is None:
        return
    message = (
        f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string(hide_password=True)} "
        f"({problem}); set PSABOT_TEST_POSTGRES_URL to run the PostgreSQL tests"
    )
    if REQUIRE_PG:
        pytest.fail(message + " [PSABOT_REQUIRE_POSTGRES=1]")
    pytest.skip(message)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_postgres()
    import asyncpg

    name = "psabot_t_" + secrets.token_hex(6)
    admin = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'psabot.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'psabot.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def encryption_key() -> str:
    return generate_key()


@pytest.fixture
async def store(db_url: str, encryption_key: str) -> AsyncIterator[Store]:
    """A migrated store on SQLite and on PostgreSQL."""
    engine = create_engine(db_url)
    await migrate.upgrade(engine)
    store = Store(engine, CredentialCipher([encryption_key]))
    try:
        yield store
    finally:
        await store.aclose()
