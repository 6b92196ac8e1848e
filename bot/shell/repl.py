"""`psabot shell`: the REPL around a ShellSession, optionally with an in-process sandbox."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys

from bot.core.invocation import ChatUser
from bot.runtime import Runtime
from bot.settings import Settings
from bot.shell.session import ShellSession
from psa.connectwise.sandbox import SandboxServer
from psa.types import ConnectionSettings
from storage.base import utcnow

WORKSPACE = "local"
SANDBOX_USER = ChatUser(id="jane", name="Jane Doe", email="jane.doe@example.com", admin_known=False)


class ConsolePrompter:
    """Reads answers from stdin: a terminal gets prompts (secrets unechoed), a pipe just lines."""

    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty()

    async def ask(self, label: str, *, secret: bool = False) -> str | None:
        if self.interactive:
            try:
                reader = getpass.getpass if secret else input
                answer: str = await asyncio.to_thread(reader, label)
                return answer
            except EOFError:
                return None
        if label:
            print(label, end="", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
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


async def run_shell(settings: Settings, *, sandbox: bool, user: str | None, admin: bool) -> int:
    server: SandboxServer | None = None
    extra_hosts: list[str] = []
    if sandbox:
        server = SandboxServer()
        await server.start()
        extra_hosts.append(server.host_port)
    runtime = await Runtime.open(settings, extra_allowed_hosts=extra_hosts)
    runtime.start()
    try:
        if user:
            me = ChatUser(id=user.lower(), name=user, is_admin=admin, admin_known=False)
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
            me = ChatUser(id=name.lower(), name=name, is_admin=admin, admin_known=False)
        await _print("psabot shell. Type `help` for commands, /quit to leave.")
        if server is not None:
            company = await connect_to_sandbox(runtime, server, me)
            await _print(
                f"Sandbox ConnectWise at {server.url} (company {company}); this workspace is "
                f"connected to it. Try: link {48213}, map me, note Replaced the toner, "
                "status, history."
            )
        prompter = ConsolePrompter()
        session = ShellSession(runtime.dispatcher, prompter, _print, user=me, workspace=WORKSPACE)
        while True:
            line = await prompter.ask(f"{session.state.user.display}> ")
            if line is None or not await session.run_line(line):
                break
        return 0
    finally:
        await runtime.aclose()
        if server is not None:
            await server.stop()
