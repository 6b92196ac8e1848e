"""`psabot serve` as its own process (for kill -9 tests), and a Slack workspace seeded for it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.types import ConnectionSettings
from storage import migrate
from storage.crypto import CredentialCipher
from storage.engine import create_engine
from storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "slack-signing-secret"
TEAM = "T0001"
CHANNEL = "C1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def seed_workspace(
    db_url: str,
    key: str,
    sandbox: SandboxServer,
    users: dict[str, str],
    *,
    platform: str = "slack",
    account: str = TEAM,
    conversation: str = CHANNEL,
    ticket_summary: str = "Front desk printer",
) -> None:
    """Migrate, then `seed_account` on a store of its own."""
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    store = Store(create_engine(db_url), CredentialCipher([key]))
    try:
        await seed_account(
            store,
            sandbox,
            users,
            platform=platform,
            account=account,
            conversation=conversation,
            ticket_summary=ticket_summary,
        )
    finally:
        await store.aclose()


async def seed_account(
    store: Store,
    sandbox: SandboxServer,
    users: dict[str, str],
    *,
    platform: str = "slack",
    account: str = TEAM,
    conversation: str = CHANNEL,
    ticket_summary: str = "Front desk printer",
) -> None:
    """Connect the workspace (a Slack team, a Teams tenant) to the sandbox, link the
    conversation (#C1) to the open ticket and map every user in `users` (chat id → name) to
    the sandbox member jdoe; setting them again where they are already set."""
    creds = sandbox.credentials
    member = sandbox.state.member("jdoe")
    assert member is not None
    async with store.unit() as uow:
        row = await uow.accounts.get_or_create(platform, account, "Acme")
        await uow.connections.save(
            row.id,
            ConnectionSettings(
                "connectwise",
                sandbox.host_port,
                creds.company_id,
                creds.public_key,
                creds.private_key,
                creds.client_id,
            ),
            saved_by="U1",
        )
        await uow.links.set(
            row.id,
            conversation,
            channel_id=conversation,
            thread_id=None,
            ticket_id=OPEN_TICKET_ID,
            ticket_summary=ticket_summary,
            linked_by="U1",
        )
        for user_id, name in users.items():
            await uow.mappings.set(
                row.id,
                user_id,
                chat_user_name=name,
                member_id=int(member["id"]),
                member_identifier="jdoe",
                member_name="Jane Doe",
                member_email="jane.doe@example.com",
                mapped_by=user_id,
            )


def bot_env(
    db_url: str, key: str, data_dir: Path, sandbox: SandboxServer, slack_api_url: str, **extra: str
) -> dict[str, str]:
    """The environment of a `psabot serve` on `db_url`, talking to the sandbox and a fake
    Slack, with a short lease and settle window so that recovery happens within a test."""
    return {
        "PSABOT_DATABASE_URL": db_url,
        "PSABOT_ENCRYPTION_KEYS": key,
        "PSABOT_DATA_DIR": str(data_dir),
        "PSABOT_CW_ALLOWED_HOSTS": sandbox.host_port,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack_api_url,
        "PSABOT_LEASE_SECONDS": "1.5",
        "PSABOT_SETTLE_SECONDS": "0.5",
        **extra,
    }


@dataclass
class BotProcess:
    """One `psabot serve` process after another on the same port and database."""

    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    name: str = "bot"  # log files are <name>-<n>.log: two processes may share a log_dir

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        with (self.log_dir / f"{self.name}-{self.starts}.log").open("wb") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self, timeout: float = 30.0) -> None:
        self.proc = self._spawn()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"psabot exited with {self.proc.returncode}: {self.log()}")
                try:
                    async with session.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"psabot did not start: {self.log()}")

    def kill(self) -> None:
        """`kill -9`: no shutdown, no cleanup, whatever was in flight is cut off."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:]
            for p in sorted(self.log_dir.glob(f"{self.name}-*.log"))
        )
