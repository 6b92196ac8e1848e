"""A chat harness over the shell transport: tests read like transcripts."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bot.core.invocation import ChatUser, Conversation
from bot.runtime import Runtime
from bot.shell.session import ShellSession


class ScriptedPrompter:
    """Answers form prompts from a queue; records every prompt it was asked."""

    def __init__(self) -> None:
        self.answers: deque[str] = deque()
        self.asked: list[tuple[str, bool]] = []

    async def ask(self, label: str, *, secret: bool = False) -> str | None:
        self.asked.append((label, secret))
        return self.answers.popleft() if self.answers else None


class Chat:
    """One person in one channel of one workspace, typing into the shell transport."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        user: str = "Jane Doe",
        email: str | None = "jane.doe@example.com",
        admin: bool = False,
        channel: str = "general",
        workspace: str = "acme",
    ) -> None:
        self.runtime = runtime
        self.lines: list[str] = []
        self.prompter = ScriptedPrompter()
        self.session = ShellSession(
            runtime.dispatcher,
            self.prompter,
            self._collect,
            user=_user(user, email, admin),
            channel=channel,
            workspace=workspace,
            width=1000,  # no wrapping: assertions read whole sentences
        )

    async def _collect(self, text: str) -> None:
        self.lines.extend(text.splitlines() or [""])

    async def say(self, line: str, answers: Iterable[str] = ()) -> str:
        """Type a line (answering any form with `answers`); returns what the bot printed."""
        self.prompter.answers.extend(answers)
        start = len(self.lines)
        await self.session.run_line(line)
        return "\n".join(self.lines[start:])

    def as_user(self, name: str, *, email: str | None = None, admin: bool = False) -> Chat:
        self.session.state.user = _user(name, email, admin)
        return self

    def in_channel(self, channel: str, thread: str | None = None) -> Chat:
        self.session.state.conversation = Conversation(channel, thread)
        return self

    @property
    def user(self) -> ChatUser:
        return self.session.state.user


def _user(name: str, email: str | None, admin: bool) -> ChatUser:
    return ChatUser(
        id=name.lower().replace(" ", "."),
        name=name,
        email=email,
        is_admin=admin,
        admin_known=True,
    )


async def linked_chat(runtime: Runtime, sandbox: object, **kw: object) -> Chat:
    """Jane in #general of a workspace connected to the sandbox, linked to the open ticket
    and mapped to jdoe: where most note tests start."""
    from conftest import connect_account

    from psa.connectwise.sandbox import OPEN_TICKET_ID

    await connect_account(runtime, sandbox)  # type: ignore[arg-type]
    chat = Chat(runtime, **kw)  # type: ignore[arg-type]
    assert "Linked" in await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    assert "jdoe" in await chat.say("/ticket map me")
    return chat
