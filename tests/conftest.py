"""Shared fixtures: real SQLite and PostgreSQL databases, migrated stores."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.runtime import OutboxTuning, Runtime
from bot.settings import Settings
from psa.connectwise.client import RetryPolicy
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.sandbox import SandboxServer
from psa.registry import ProviderRegistry
from psa.types import ConnectionSettings
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


# -- the ConnectWise sandbox and a bot runtime wired to it ----------------------------------


@pytest.fixture
async def cw_sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=2.0)
FAST_OUTBOX = OutboxTuning(
    lease=timedelta(seconds=5),
    retry_window=timedelta(seconds=3),
    settle_window=timedelta(seconds=0.2),
    base_delay=0.02,
    max_delay=0.2,
    poll_interval=0.05,
)


def make_settings(db_url: str, key: str, data_dir: Path) -> Settings:
    return Settings(
        PSABOT_DATABASE_URL=db_url,
        PSABOT_ENCRYPTION_KEYS=key,
        PSABOT_DATA_DIR=str(data_dir),
        PSABOT_CW_CLIENT_ID="11111111-2222-3333-4444-555555555555",
    )


async def open_runtime(
    db_url: str,
    key: str,
    data_dir: Path,
    sandbox: SandboxServer,
    *,
    start: bool = True,
    tuning: OutboxTuning = FAST_OUTBOX,
    also_allow: tuple[str, ...] = (),
) -> Runtime:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)  # `psabot migrate`, as an operator runs it
    finally:
        await engine.dispose()
    allowed = [sandbox.host_port, *also_allow]
    hosts = HostPolicy(allowed)
    runtime = await Runtime.open(
        make_settings(db_url, key, data_dir),
        extra_allowed_hosts=allowed,
        tuning=tuning,
        registry=ProviderRegistry(hosts, timeout=2.0, retry=FAST_RETRY),
    )
    if start:
        runtime.start()
    return runtime


@pytest.fixture
async def runtime(
    db_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> AsyncIterator[Runtime]:
    """A bot runtime on SQLite and on PostgreSQL, pointed at a running sandbox."""
    rt = await open_runtime(db_url, encryption_key, tmp_path / "data", cw_sandbox)
    try:
        yield rt
    finally:
        await rt.aclose()


@pytest.fixture
async def sqlite_runtime(
    sqlite_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> AsyncIterator[Runtime]:
    """The same on SQLite only, for tests whose subject is not the database."""
    rt = await open_runtime(sqlite_url, encryption_key, tmp_path / "data", cw_sandbox)
    try:
        yield rt
    finally:
        await rt.aclose()


async def connect_account(
    runtime: Runtime, sandbox: SandboxServer, workspace: str = "acme", owner: str = "jane.doe"
) -> None:
    """Store a tested connection to the sandbox for a shell workspace (test set-up shortcut)."""
    creds = sandbox.credentials
    settings = ConnectionSettings(
        "connectwise",
        sandbox.host_port,
        creds.company_id,
        creds.public_key,
        creds.private_key,
        creds.client_id,
    )
    async with runtime.store.unit() as uow:
        account = await uow.accounts.get_or_create("shell", workspace, workspace)
        await uow.connections.save(account.id, settings, saved_by=owner)
        await uow.owners.add(account.id, owner, owner)


# -- the long campaigns (`slow`) and their counts -------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `slow` runs only with PSABOT_SLOW_TESTS=1; its fast variant always runs."""
    if os.environ.get("PSABOT_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="long campaign; set PSABOT_SLOW_TESTS=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The counts every reliability campaign recorded in this run (tests/campaign.py)."""
    from campaign import RESULTS

    if not RESULTS:
        return
    terminalreporter.section("reliability campaign counts")
    for name, counts in RESULTS:
        terminalreporter.write_line(
            f"{name}: " + ", ".join(f"{key}={value}" for key, value in counts.items())
        )
