"""Every CLI failure an operator meets is one or two sentences that name the fix."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from test_cli import psabot

from psa.types import ConnectionSettings
from storage import migrate
from storage.crypto import CredentialCipher
from storage.engine import create_engine
from storage.store import Store

KEY = Fernet.generate_key().decode()


def assert_one_sentence(result: subprocess.CompletedProcess[str], *fix: str) -> None:
    """Non-zero exit, at most 3 lines on stderr, no traceback, and the fix is named."""
    err = result.stderr.strip()
    assert result.returncode != 0, result.stdout
    assert len(err.splitlines()) <= 3, err
    assert "Traceback" not in err, err
    assert "psabot listening" not in err, err  # nothing claimed to be up
    for words in fix:
        assert words in err, err


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def store_connection(url: str, key: str) -> None:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    store = Store(engine, CredentialCipher([key]))
    try:
        async with store.unit() as uow:
            account = await uow.accounts.get_or_create("slack", "T1", "Acme")
            await uow.connections.save(
                account.id,
                ConnectionSettings("connectwise", "cw.example.com", "acme", "pub", "priv", "c"),
                saved_by="U1",
            )
    finally:
        await store.aclose()


def test_serve_on_an_unmigrated_postgres_says_migrate_before_listening(
    pg_url: str, tmp_path: Path
) -> None:
    env = {"PSABOT_DATABASE_URL": pg_url, "PSABOT_ENCRYPTION_KEYS": KEY}
    result = psabot("serve", "--port", str(closed_port()), cwd=tmp_path, env=env)
    assert_one_sentence(result, "run `psabot migrate` first")


def test_serve_with_a_malformed_key(tmp_path: Path) -> None:
    env = {"PSABOT_ENCRYPTION_KEYS": "not-a-key"}
    result = psabot("serve", "--port", str(closed_port()), cwd=tmp_path, env=env)
    assert_one_sentence(result, "PSABOT_ENCRYPTION_KEYS", "psabot keygen")
    assert "not-a-key" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "sandbox"])
def test_port_in_use(command: str, busy_port: int, tmp_path: Path) -> None:
    result = psabot(command, "--port", str(busy_port), cwd=tmp_path)
    assert_one_sentence(result, f"Port {busy_port}", "already in use", "--port")


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("postgresql://postgres@127.0.0.1/test", "postgresql://"),
        ("postgres://postgres@127.0.0.1/test", "postgres://"),
        ("mysql://root@127.0.0.1/psabot", "mysql://"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate", "shell"])
def test_wrong_url_scheme_names_the_right_one(
    url: str, scheme: str, command: str, tmp_path: Path
) -> None:
    result = psabot(command, cwd=tmp_path, env={"PSABOT_DATABASE_URL": url})
    assert_one_sentence(result, scheme, "postgresql+asyncpg://")


def test_a_url_that_does_not_parse(tmp_path: Path) -> None:
    result = psabot("migrate", cwd=tmp_path, env={"PSABOT_DATABASE_URL": "garbage"})
    assert_one_sentence(result, "not a database URL", "postgresql+asyncpg://")


def test_missing_database(pg_url: str, tmp_path: Path) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/psabot_never_created"
    env = {"PSABOT_DATABASE_URL": missing, "PSABOT_ENCRYPTION_KEYS": KEY}
    for command in ("serve", "migrate"):
        result = psabot(command, cwd=tmp_path, env=env)
        assert_one_sentence(result, "`psabot_never_created` does not exist", "createdb")


@pytest.mark.parametrize("command", ["serve", "migrate", "rotate-keys"])
def test_closed_database_port(command: str, tmp_path: Path) -> None:
    port = closed_port()
    env = {
        "PSABOT_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{port}/psabot",
        "PSABOT_ENCRYPTION_KEYS": KEY,
    }
    result = psabot(command, cwd=tmp_path, env=env)
    assert_one_sentence(result, f"127.0.0.1:{port}", "connection refused", "PSABOT_DATABASE_URL")
    assert not (tmp_path / ".psabot").exists()  # no key file for a database never reached


def test_rotate_keys_without_the_old_key_says_new_comma_old(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    old, new = KEY, Fernet.generate_key().decode()
    asyncio.run(store_connection(url, old))
    env = {"PSABOT_DATABASE_URL": url, "PSABOT_ENCRYPTION_KEYS": new}
    result = psabot("rotate-keys", cwd=tmp_path, env=env)
    assert_one_sentence(result, "`new,old`", "rotate-keys again")
    fixed = psabot(
        "rotate-keys", cwd=tmp_path, env={**env, "PSABOT_ENCRYPTION_KEYS": f"{new},{old}"}
    )
    assert fixed.returncode == 0 and "re-encrypted 1 stored connection(s)" in fixed.stdout


def test_serve_refuses_keys_that_cannot_read_the_stored_credentials(tmp_path: Path) -> None:
    """A second host with its own generated key is caught before it listens."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    asyncio.run(store_connection(url, KEY))
    result = psabot(
        "serve",
        "--port",
        str(closed_port()),
        cwd=tmp_path,
        env={
            "PSABOT_DATABASE_URL": url,
            "PSABOT_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        },
    )
    assert_one_sentence(
        result, "cannot decrypt 1 of 1 stored credential(s)", "PSABOT_ENCRYPTION_KEYS"
    )


def test_debug_shows_the_traceback(busy_port: int, tmp_path: Path) -> None:
    plain = psabot("serve", "--port", str(busy_port), cwd=tmp_path)
    debug = psabot("serve", "--debug", "--port", str(busy_port), cwd=tmp_path)
    by_env = psabot(
        "serve", "--port", str(busy_port), cwd=tmp_path, env={"PSABOT_LOG_LEVEL": "DEBUG"}
    )
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "already in use" in debug.stderr
    assert "Traceback" in by_env.stderr and debug.returncode == by_env.returncode == 1


def test_serve_without_teams_authentication_refuses_a_public_address(tmp_path: Path) -> None:
    """No MICROSOFT_APP_ID means /api/messages checks no token: only loopback may serve it."""
    result = psabot("serve", "--host", "0.0.0.0", "--port", str(closed_port()), cwd=tmp_path)
    assert_one_sentence(result, "MICROSOFT_APP_ID", "--host 127.0.0.1")


def test_serve_with_a_teams_app_id_but_no_password(tmp_path: Path) -> None:
    env = {"MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000001"}
    result = psabot("serve", "--port", str(closed_port()), cwd=tmp_path, env=env)
    assert_one_sentence(result, "MICROSOFT_APP_PASSWORD")
