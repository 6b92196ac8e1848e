"""`psabot shell`: the REPL around a ShellSession, optionally with an in-process sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from bot.core.invocation import ChatUser, Platform
from bot.runtime import Runtime
from bot.settings import Settings
from bot.shell.session import ShellSession, user_id_for
from bot.startup import preflight
from psa.connectwise.sandbox import SandboxServer
from psa.types import ConnectionSettings
from storage.base import utcnow
from storage.crypto import generate_key

WORKSPACE = "local"
SANDBOX_USER = ChatUser(id="jane", name="Jane Doe", email="jane.doe@example.com", admin_known=False)


async def _in_daemon_thread(read: Callable[[], str]) -> str:
    """Run a blocking read on a daemon thread: Ctrl-C must not wait for the read to finish."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def settle(result: str | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result or "")

    def run() -> None:
        try:
            result, error = read(), None
        except BaseException as exc:  # handed to the awaiting coroutine
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="psabot-shell-input", daemon=True).start()
    return await done


class ConsolePrompter:
    """Reads answers from stdin: a terminal gets prompts (secrets unechoed), a pipe just lines."""

    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty()

    async def ask(self, label: str, *, secret: bool = False) -> str | None:
        if self.interactive:
            try:
                reader = getpass.getpass if secret else input
                answer: str = await _in_daemon_thread(lambda: reader(label))
                return answer
            except EOFError:
                return None
        if label:
            print(label, end="", flush=True)
        line = await _in_daemon_thread(sys.stdin.readline)
        if not line:
            return None
        answer = line.rstrip("\n")
        print("••••••" if secret and answer else answer, flush=True)
        return answer


async def _print(text: str) -> None:
    print(text, flush=True)


async def connect_to_sandbox(runtime: Runtime, sandbox: SandboxServer, user: ChatUser) -> str:
    """Point the shell workspace's connection at the sandbox (tested first) and own it."""
    creds = sandbox.credentials
    settings = ConnectionSettings(
        provider="connectwise",
        site=sandbox.host_port,
        company_id=creds.company_id,
        public_key=creds.public_key,
        private_key=creds.private_key,
        client_id=creds.client_id,
    )
    provider = runtime.services.registry.build(settings)
    try:
        check = await provider.test_connection()
    finally:
        await provider.aclose()
    async with runtime.store.unit() as uow:
        account = await uow.accounts.get_or_create("shell", WORKSPACE, WORKSPACE)
        await uow.connections.save(account.id, settings, saved_by=user.id, validated_at=utcnow())
        await uow.owners.add(account.id, user.id, user.display, "shell --sandbox")
    return check.company_name


def sandbox_settings(settings: Settings, data_dir: Path) -> Settings:
    """The sandbox's own SQLite and key in a private temporary directory, never ./.psabot.

    The emulator starts fresh on every run, so its shell must too: a database kept across runs
    would list posts in `history` that the new emulator never had.
    """
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": None,
            "encryption_keys": SecretStr(generate_key()),
        }
    )


async def run_shell(settings: Settings, *, sandbox: bool, user: str | None, admin: bool) -> int:
    if not sandbox:
        await preflight(settings)  # a set-up problem is one sentence, as for `serve`
        return await _run(settings, sandbox=False, user=user, admin=admin)
    with tempfile.TemporaryDirectory(prefix="psabot-sandbox-") as scratch:  # created 0700
        return await _run(
            sandbox_settings(settings, Path(scratch)), sandbox=True, user=user, admin=admin
        )


class Terminal:
    """The shell's sharing probe: a local terminal is read by its user alone."""

    platform = Platform.SHELL.value

    async def shared_externally(self, account_external_id: str, channel_id: str) -> bool:
        return False


async def _run(settings: Settings, *, sandbox: bool, user: str | None, admin: bool) -> int:
    server: SandboxServer | None = None
    extra_hosts: list[str] = []
    if sandbox:
        server = SandboxServer()
        await server.start()
        extra_hosts.append(server.host_port)
    runtime = await Runtime.open(settings, extra_allowed_hosts=extra_hosts)
    runtime.sharing[Terminal.platform] = Terminal()
    runtime.start()
    try:
        if user:
            me = ChatUser(id=user_id_for(user), name=user, is_admin=admin, admin_known=False)
        elif server is not None:
            me = ChatUser(
                id=SANDBOX_USER.id,
                name=SANDBOX_USER.name,
                email=SANDBOX_USER.email,
                is_admin=admin,
                admin_known=False,
            )
        else:
            name = os.environ.get("USER") or "me"
            me = ChatUser(id=user_id_for(name), name=name, is_admin=admin, admin_known=False)
        await _print("psabot shell. Type `help` for commands; /quit or Ctrl-D leaves.")
        if server is not None:
            company = await connect_to_sandbox(runtime, server, me)
            await _print(
                f"Sandbox ConnectWise at {server.url} (company {company}); this workspace is "
                "connected to it; its data is discarded on exit. Try: link 48213, map me, "
                "note Replaced the toner, status, history."
            )
        prompter = ConsolePrompter()
        session = ShellSession(runtime.dispatcher, prompter, _print, user=me, workspace=WORKSPACE)
        while True:
            line = await prompter.ask(session.prompt)
            if line is None:  # Ctrl-D: end the prompt's line so the shell's starts clean
                await _print("")
                break
            if not await session.run_line(line):
                break
        return 0
    finally:
        await runtime.aclose()
        if server is not None:
            await server.stop()
