"""The `psabot` command line, run as a user runs it: a subprocess in an empty directory."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

COMMANDS = ["serve", "check", "shell", "sandbox", "migrate", "keygen", "rotate-keys"]


def psabot(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_on_every_command(command: str | None, tmp_path: Path) -> None:
    result = psabot(*([command] if command else []), "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "usage: psabot" in result.stdout


def test_keygen_prints_a_fernet_key(tmp_path: Path) -> None:
    key = psabot("keygen", cwd=tmp_path).stdout.strip()
    Fernet(key.encode())


async def test_serve_starts_with_no_configuration(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--port",
        str(port),
        cwd=tmp_path,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        body: dict[str, str] = {}
        async with aiohttp.ClientSession() as session:
            for _ in range(150):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        body = await resp.json()
                        assert resp.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                metrics = await resp.text()
            async with session.get(f"http://127.0.0.1:{port}/") as resp:
                index = await resp.json()
        assert body["status"] == "ok" and body["database"] == "reachable"
        assert "psabot_ledger_pending 0.0" in metrics
        key_file = tmp_path / ".psabot" / "encryption.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert (tmp_path / ".psabot" / "psabot.sqlite3").exists()
    finally:
        proc.terminate()
        _, stderr = await proc.communicate()
    assert b"generated an encryption key" in stderr
    assert index["health"] == "/healthz" and "docs/deploy.md" in index["docs"]
    summary = stderr.decode()
    for line in ("  database  SQLite", "  keys      key file", "  slack     off", "  routes    /"):
        assert line in summary, summary
    assert "psabot shell --sandbox" in summary  # what to do next, with Slack off
    # The block comes before the listening line, and nothing after it is a traceback.
    assert summary.index("  slack     off") < summary.index("psabot listening on")
    assert "Traceback" not in summary


def test_version_and_bare_psabot(tmp_path: Path) -> None:
    version = psabot("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("psabot ")
    bare = psabot(cwd=tmp_path)
    assert bare.returncode == 0 and "usage: psabot" in bare.stdout and "check" in bare.stdout
    assert "Microsoft Teams" in bare.stdout and "teams-package" in bare.stdout


def test_migrate_says_which_revisions_it_applied(tmp_path: Path) -> None:
    env = {"PSABOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"}
    first = psabot("migrate", cwd=tmp_path, env=env)
    from storage import migrate

    assert first.returncode == 0, first.stderr
    assert "applied " in first.stdout and "migration(s): 0001_" in first.stdout
    assert f"database is at revision {migrate.head_revision()}" in first.stdout
    again = psabot("migrate", cwd=tmp_path, env=env)
    assert "nothing to apply" in again.stdout and "applied" not in again.stdout


def test_migrate_and_rotate_keys(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    db = f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}"
    migrated = psabot("migrate", cwd=tmp_path, env={"PSABOT_DATABASE_URL": db})
    assert "database is at revision" in migrated.stdout
    rotated = psabot(
        "rotate-keys",
        cwd=tmp_path,
        env={"PSABOT_DATABASE_URL": db, "PSABOT_ENCRYPTION_KEYS": f"{new},{old}"},
    )
    assert rotated.returncode == 0
    assert "re-encrypted 0 stored connection(s) and 0 Slack token(s)" in rotated.stdout
    bad = psabot(
        "rotate-keys",
        cwd=tmp_path,
        env={"PSABOT_DATABASE_URL": db, "PSABOT_ENCRYPTION_KEYS": "nope"},
    )
    assert bad.returncode != 0 and "not a valid Fernet key" in bad.stderr
    assert "nope" not in bad.stderr.replace("not a valid", "")


def test_shell_sandbox_scripted_session(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "connect",
            "",
            "",
            "",
            "",
            "",  # the sandbox connection, re-tested (keys kept)
            "link 48213",
            "map me",
            "note Replaced the toner, printing OK",
            "status waiting",
            "history",
            "/quit",
        ]
    )
    result = psabot(
        "shell", "--sandbox", cwd=tmp_path, stdin=script + "\n", timeout=90, env={"COLUMNS": "200"}
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Updated the connection: ConnectWise company Psabot Demo MSP" in out
    assert "Linked this channel to #48213" in out
    assert "Note added to #48213" in out
    assert "now Waiting on Customer" in out
    assert "note (Internal): “Replaced the toner, printing OK” · ✅ posted" in out
    assert "sandbox-private" not in out


def test_sandbox_command_serves_with_faults(tmp_path: Path) -> None:
    import json
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "sandbox",
            "--port",
            str(port),
            "--rate-500",
            "1",
            "--latency-ms",
            "5",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/faults") as resp:
                    faults = json.loads(resp.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert faults["rate_500"] == 1.0 and faults["latency_ms"] == 5
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "sandbox-private" in out  # the banner prints the demo credentials
