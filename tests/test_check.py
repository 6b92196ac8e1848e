"""`psabot check`: all green on a working set-up, and each broken piece gives its ✗ line."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_slack import FakeSlack

from bot.check import Line, collect, run_checks
from bot.settings import Settings
from psa.connectwise.sandbox import SandboxServer
from psa.types import ConnectionSettings
from storage import migrate
from storage.crypto import CredentialCipher, generate_key
from storage.engine import create_engine
from storage.store import Store

PUBLIC = "https://psabot.example.com"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stored(url: str, key: str, site: str, sandbox: SandboxServer) -> None:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    creds = sandbox.credentials
    store = Store(engine, CredentialCipher([key]))
    try:
        async with store.unit() as uow:
            account = await uow.accounts.get_or_create("slack", "T111", "Acme")
            await uow.connections.save(
                account.id,
                ConnectionSettings(
                    "connectwise",
                    site,
                    creds.company_id,
                    creds.public_key,
                    creds.private_key,
                    creds.client_id,
                ),
                saved_by="U1",
            )
    finally:
        await store.aclose()


def env_for(
    url: str, key: str, sandbox: SandboxServer, slack: FakeSlack, tmp: Path
) -> dict[str, str]:
    return {
        "PSABOT_DATABASE_URL": url,
        "PSABOT_ENCRYPTION_KEYS": key,
        "PSABOT_DATA_DIR": str(tmp / "data"),
        "PSABOT_CW_ALLOWED_HOSTS": f"{sandbox.host_port},127.0.0.1",
        "PSABOT_PUBLIC_URL": PUBLIC,
        "SLACK_SIGNING_SECRET": "s3cret",
        "SLACK_BOT_TOKEN": "xoxb-good",
        "SLACK_API_URL": slack.api_url,
    }


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(**env)


def failed(lines: list[Line], name: str) -> str:
    bad = [line for line in lines if not line.ok and line.name == name]
    assert bad, [line.render() for line in lines]
    return bad[0].render()


async def test_all_green_on_a_configured_sandbox_setup(
    db_url: str, tmp_path: Path, cw_sandbox: SandboxServer, slack: FakeSlack
) -> None:
    key = generate_key()
    await stored(db_url, key, cw_sandbox.host_port, cw_sandbox)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "check",
        "--connections",
        cwd=tmp_path,
        env={**clean, **env_for(db_url, key, cw_sandbox, slack, tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    lines = text.strip().splitlines()
    assert lines and all(line.startswith("✓ ") for line in lines), text
    for name in ("database", "schema", "keys", "slack", "urls", "connection"):
        assert any(line.split()[1] == name for line in lines), text
    assert "token valid for Acme (T111)" in text
    assert f"{PUBLIC}/slack/events" in text
    assert "Psabot Demo MSP" in text
    assert "xoxb-good" not in text + err.decode()
    assert [c.method for c in slack.calls] == ["auth.test"]


async def test_no_migration(
    pg_url: str, tmp_path: Path, cw_sandbox: SandboxServer, slack: FakeSlack
) -> None:
    settings = settings_of(env_for(pg_url, generate_key(), cw_sandbox, slack, tmp_path))
    lines = await collect(settings, connections=True)
    assert "run `psabot migrate`" in failed(lines, "schema")
    assert await run_checks(settings, connections=True) == 1


async def test_wrong_key(
    db_url: str, tmp_path: Path, cw_sandbox: SandboxServer, slack: FakeSlack
) -> None:
    await stored(db_url, generate_key(), cw_sandbox.host_port, cw_sandbox)
    settings = settings_of(env_for(db_url, generate_key(), cw_sandbox, slack, tmp_path))
    line = failed(await collect(settings, connections=True), "keys")
    assert "cannot decrypt 1 of 1 stored credential(s)" in line and "PSABOT_ENCRYPTION_KEYS" in line
    assert await run_checks(settings, connections=True) == 1


async def test_bad_slack_token(
    sqlite_url: str, tmp_path: Path, cw_sandbox: SandboxServer, slack: FakeSlack
) -> None:
    slack.fail["auth.test"] = "invalid_auth"
    settings = settings_of(env_for(sqlite_url, generate_key(), cw_sandbox, slack, tmp_path))
    line = failed(await collect(settings, connections=False), "slack")
    assert "invalid_auth" in line and "Bot User OAuth Token" in line
    assert await run_checks(settings, connections=False) == 1


async def test_unreachable_connection(
    sqlite_url: str, tmp_path: Path, cw_sandbox: SandboxServer, slack: FakeSlack
) -> None:
    key = generate_key()
    gone = f"127.0.0.1:{closed_port()}"
    await stored(sqlite_url, key, gone, cw_sandbox)
    settings = settings_of(
        {**env_for(sqlite_url, key, cw_sandbox, slack, tmp_path), "PSABOT_CW_ALLOWED_HOSTS": gone}
    )
    line = failed(await collect(settings, connections=True), "connection")
    assert gone in line and "slack workspace Acme" in line
    assert await run_checks(settings, connections=True) == 1
    # Without --connections nothing is dialled, and the rest is green.
    assert await run_checks(settings, connections=False) == 0


async def test_external_database_without_keys_says_what_breaks_for_a_second_host(
    pg_url: str, tmp_path: Path, cw_sandbox: SandboxServer, slack: FakeSlack
) -> None:
    env = env_for(pg_url, "", cw_sandbox, slack, tmp_path)
    engine = create_engine(pg_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    line = failed(await collect(settings_of(env), connections=False), "keys")
    assert "a second host on the same database would generate its own key" in line


async def test_http_slack_without_a_public_url(
    sqlite_url: str, tmp_path: Path, cw_sandbox: SandboxServer, slack: FakeSlack
) -> None:
    env = env_for(sqlite_url, generate_key(), cw_sandbox, slack, tmp_path)
    del env["PSABOT_PUBLIC_URL"]
    assert "set PSABOT_PUBLIC_URL" in failed(
        await collect(settings_of(env), connections=False), "urls"
    )
    env["PSABOT_PUBLIC_URL"] = "http://psabot.example.com"
    assert "https://" in failed(await collect(settings_of(env), connections=False), "urls")


def test_check_names_the_right_url_scheme(tmp_path: Path) -> None:
    from test_cli import psabot

    result = psabot("check", cwd=tmp_path, env={"PSABOT_DATABASE_URL": "postgres://x@db/psabot"})
    assert result.returncode == 1
    assert "✗ database" in result.stdout and "postgresql+asyncpg://" in result.stdout
    assert "Traceback" not in result.stderr


async def test_incomplete_teams_settings_get_their_cross() -> None:
    from bot.check import _teams
    from bot.settings import Settings

    lines: list[Line] = []
    _teams(Settings(MICROSOFT_APP_ID="00000000-0000-0000-0000-000000000001"), lines)
    assert not lines[0].ok and "MICROSOFT_APP_PASSWORD" in lines[0].text
    lines.clear()
    _teams(
        Settings(
            MICROSOFT_APP_ID="00000000-0000-0000-0000-000000000001",
            MICROSOFT_APP_PASSWORD="secret-value",
            MICROSOFT_APP_TENANT_ID="11111111-0000-0000-0000-000000000001",
        ),
        lines,
    )
    assert lines[0].ok and "/api/messages" in lines[0].text
