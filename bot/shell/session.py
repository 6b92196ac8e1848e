"""A shell chat session: lines in, the same Invocations as Slack, text out.

Meta commands switch identity and place like a chat client would: `/as <user> [--admin]
[--email <address>]`, `/in <channel> [<thread>]`, `/press <n>` for the last reply's buttons,
`/whoami`, `/quit`. Anything else is a `/ticket` command (the `/ticket` prefix is optional);
`@name` in it mentions a shell user (a core `Mention`, as a Slack user reference becomes).
Forms become prompts through a `Prompter`; secrets are read without echo.
"""

from __future__ import annotations

import itertools
import re
import shlex
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.dispatch import Dispatcher
from bot.core.invocation import (
    Action,
    ButtonAction,
    ChatUser,
    Command,
    Conversation,
    FormSubmission,
    Invocation,
    Mention,
    OptionsQuery,
    Platform,
)
from bot.core.reply import Button, FieldKind, Form, FormField, Option, Reply
from bot.core.transport import guarded
from bot.shell.render import plain, render, terminal_width, wrap

Output = Callable[[str], Awaitable[None]]
MAX_FORM_ROUNDS = 3
# `@bob` or `@"Jane Doe"`; not the middle of an address like jane@example.com.
MENTION_RE = re.compile(r"(?<![\w<@])@(?:\"([^\"]+)\"|([A-Za-z0-9][\w.\-]*[\w]|[A-Za-z0-9]))")
SHELL_COMMANDS = (
    (
        "/as <name> [--admin] [--email <address>]",
        "become another user (quote two words, or "
        "not: /as Jane Doe); a user you were before is picked up again",
    ),
    ("/in <channel> [<thread>]", "move to another channel or thread"),
    ("/press <n>", "press button [n] of the last reply"),
    ("/whoami", "who and where you are"),
    ("/quit", "leave (Ctrl-D and Ctrl-C too)"),
    ("@name", "mention a shell user in a command: owners add @bob, map @bob msmith"),
)


def shell_help(width: int) -> list[str]:
    lines = ["Shell commands (everything else is a /ticket command; the prefix is optional):"]
    for usage, summary in SHELL_COMMANDS:
        lines += wrap(usage, width, "  ")
        lines += wrap(summary, width, "      ")
    return lines


def user_id_for(name: str) -> str:
    return name.strip().lower().replace(" ", ".")


class Prompter(Protocol):
    async def ask(self, label: str, *, secret: bool = False) -> str | None:
        """The user's answer; None at end of input."""
        ...


@dataclass
class ShellState:
    user: ChatUser
    conversation: Conversation
    workspace: str = "local"
    buttons: list[Button] = field(default_factory=list)


class EndOfInput(Exception):
    """The prompter ran out of input in the middle of a form."""


class ShellSession:
    def __init__(
        self,
        dispatcher: Dispatcher,
        prompter: Prompter,
        output: Output,
        *,
        user: ChatUser,
        channel: str = "general",
        workspace: str = "local",
        width: int | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.prompter = prompter
        self.output = output
        self.state = ShellState(user=user, conversation=Conversation(channel), workspace=workspace)
        self.users: dict[str, ChatUser] = {user.id: user}  # everyone this session has been
        self.width = width
        self._session = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)

    @property
    def prompt(self) -> str:
        """`Jane Doe in #general> `: who is typing, and where."""
        conv = self.state.conversation
        place = f"#{conv.channel_id}" + (f" thread {conv.thread_id}" if conv.thread_id else "")
        return f"{self.state.user.display} in {place}> "

    def _width(self) -> int:
        return self.width or terminal_width()

    def known_user(self, name: str) -> ChatUser | None:
        """A user of this session by id, full name or (when unambiguous) first name."""
        key = name.strip().casefold()
        for user in self.users.values():
            if key in (user.id.casefold(), user.name.casefold()):
                return user
        firsts = [u for u in self.users.values() if u.name.split()[:1] == [name.strip()]]
        return firsts[0] if len(firsts) == 1 else None

    def mentions(self, text: str) -> str:
        """`@bob` → the core's `Mention` token, the form every transport hands the handlers."""

        def resolve(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            user = self.known_user(name) or ChatUser(id=user_id_for(name), name=name)
            self.users.setdefault(user.id, user)
            return Mention(user.id, user.display).token

        return MENTION_RE.sub(resolve, text)

    def _invocation(self, action: Action) -> Invocation:
        return Invocation(
            platform=Platform.SHELL,
            account_external_id=self.state.workspace,
            account_name=self.state.workspace,
            user=self.state.user,
            conversation=self.state.conversation,
            action=action,
            idempotency_key=f"shell-{self._session}-{next(self._counter)}",
        )

    async def _say(self, text: str) -> None:
        await self.output(text)

    async def _progress(self, text: str) -> None:
        await self.output(f"… {text}")

    async def run_line(self, line: str) -> bool:
        """Handle one line; False when the session should end."""
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return True
        if stripped in ("/quit", "/exit", "\\q"):
            return False
        if stripped.startswith("/") and not stripped.lower().startswith("/ticket"):
            await self._meta(stripped)
            return True
        text = stripped[len("/ticket") :] if stripped.lower().startswith("/ticket") else stripped
        await self.dispatch(Command(self.mentions(text.strip())))
        if text.strip().lower() == "help":
            for line in shell_help(self._width()):
                await self._say(line)
        return True

    async def _handle(self, invocation: Invocation) -> Reply:
        """The shared guarded run (bot/core/transport.py): any failure becomes a reply."""
        return await guarded(lambda: self.dispatcher.handle(invocation, self._progress))

    async def dispatch(self, action: Action) -> None:
        await self._show(await self._handle(self._invocation(action)))

    async def _show(self, reply: Reply) -> None:
        self.state.buttons = []
        for line in render(reply, self.state.buttons, self._width()):
            await self._say(line)
        if reply.form is not None:
            await self._fill(reply.form)

    # -- forms ------------------------------------------------------------------------------

    async def _fill(self, form: Form) -> None:
        for _ in range(MAX_FORM_ROUNDS):
            await self._say(f"── {form.title} ──")
            for line in wrap(plain(form.intro), self._width()) if form.intro else []:
                await self._say(line)
            # Every error before any question, so nobody re-answers a form without knowing why.
            if "" in form.errors:
                await self._say(f"⚠️  {plain(form.errors[''])}")
            for name, error in form.errors.items():
                if name:
                    label = next((f.label for f in form.fields if f.name == name), name)
                    await self._say(f"⚠️  {label}: {plain(error)}")
            values: dict[str, str] = {}
            try:
                for form_field in form.fields:
                    values[form_field.name] = await self._ask(form, form_field)
            except EndOfInput:
                await self._say("(form cancelled: end of input)")
                return
            invocation = self._invocation(
                FormSubmission(form.form_id, values=values, metadata=dict(form.metadata))
            )
            reply = await self._handle(invocation)
            if reply.form is None or reply.form.form_id != form.form_id or not reply.form.errors:
                await self._show(reply)
                return
            if reply.text:
                await self._say(plain(reply.text))
            form = reply.form
        for name, error in form.errors.items():
            label = next((f.label for f in form.fields if f.name == name), "Form")
            await self._say(f"⚠️  {label}: {plain(error)}")
        await self._say("Giving up on this form; run the command again when ready.")

    async def _ask(self, form: Form, f: FormField) -> str:
        if f.hint:
            await self._say(f"   ({plain(f.hint)})")
        optional = "" if f.required else ", optional"
        default = f" [{f.initial}]" if f.initial and f.kind is not FieldKind.SECRET else ""
        if f.kind is FieldKind.SELECT:
            for i, option in enumerate(f.options, 1):
                await self._say(f"   {i}. {option.label}")
            answer = await self._answer(f"{f.label} (number{optional}){default}: ")
            return self._pick(answer, f.options, f.initial)
        if f.kind is FieldKind.SEARCH:
            # Like Slack's picker opened without typing: the first options are listed at once.
            first = await self._options(form, f, "")
            for i, option in enumerate(first, 1):
                await self._say(f"   {i}. {option.label}")
            how = "number, or words to search" if first else "type to search"
            query = await self._answer(f"{f.label} ({how}{optional}): ")
            if not query.strip():
                return ""
            if query.strip().isdigit() and 1 <= int(query) <= len(first):
                return self._pick(query, first, "")
            found = await self._options(form, f, query)
            if not found:
                await self._say(f"   nothing matches; using {query!r} as typed")
                return query.strip()
            for i, option in enumerate(found, 1):
                await self._say(f"   {i}. {option.label}")
            answer = await self._answer(f"{f.label} (number): ")
            return self._pick(answer, found, "")
        if f.kind is FieldKind.MULTILINE:
            await self._say(f"{f.label}{optional} (end with a line containing only '.'):")
            lines: list[str] = []
            while (line := await self._answer("")) != ".":
                lines.append(line)
            return "\n".join(lines)
        answer = await self._answer(
            f"{f.label}{optional}{default}: ", secret=f.kind is FieldKind.SECRET
        )
        return answer if answer else f.initial if f.kind is not FieldKind.SECRET else ""

    async def _options(self, form: Form, f: FormField, query: str) -> tuple[Option, ...]:
        reply = await self._handle(
            self._invocation(OptionsQuery(f.source, query, dict(form.metadata)))
        )
        return reply.options

    @staticmethod
    def _pick(answer: str, options: tuple[object, ...], default: str) -> str:
        choices = [o for o in options if isinstance(o, Option)]
        text = answer.strip()
        if not text:
            return default
        if text.isdigit() and 1 <= int(text) <= len(choices):
            return choices[int(text) - 1].value
        for option in choices:
            if text.casefold() in (option.value.casefold(), option.label.casefold()):
                return option.value
        return text

    async def _answer(self, label: str, *, secret: bool = False) -> str:
        answer = await self.prompter.ask(label, secret=secret)
        if answer is None:
            raise EndOfInput()
        return answer

    # -- meta commands ----------------------------------------------------------------------

    async def _meta(self, line: str) -> None:
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        command, args = words[0].lower(), words[1:]
        if command == "/as" and args:
            await self._become(args)
        elif command == "/in" and args:
            thread = args[1] if len(args) > 1 else None
            self.state.conversation = Conversation(args[0].lstrip("#"), thread)
            where = f"#{args[0].lstrip('#')}" + (f" thread {thread}" if thread else "")
            await self._say(f"You are now in {where}.")
        elif command == "/press" and args and args[0].isdigit():
            index = int(args[0])
            if not 1 <= index <= len(self.state.buttons):
                await self._say("No such button on the last reply.")
                return
            button = self.state.buttons[index - 1]
            await self.dispatch(ButtonAction(button.action_id, button.value))
        elif command == "/whoami":
            user, conv = self.state.user, self.state.conversation
            await self._say(
                f"{user.name} <{user.email or 'no email'}>"
                f"{' (admin)' if user.is_admin else ''} in #{conv.channel_id}"
                + (f" thread {conv.thread_id}" if conv.thread_id else "")
                + f" of workspace {self.state.workspace}"
            )
        else:
            for line in shell_help(self._width()):
                await self._say(line)

    async def _become(self, args: list[str]) -> None:
        """`/as Jane Doe --admin`: every word before the first flag is the name."""
        flags = [i for i, a in enumerate(args) if a.startswith("--")]
        name = " ".join(args[: flags[0]] if flags else args).strip()
        if not name:
            await self._say("Say who to become: /as <name> [--admin] [--email <address>].")
            return
        email: str | None = None
        if "--email" in args and args.index("--email") + 1 < len(args):
            email = args[args.index("--email") + 1]
        before = self.known_user(name)
        user = ChatUser(
            id=before.id if before else user_id_for(name),
            name=before.name if before else name,
            email=email or (before.email if before else None),
            is_admin="--admin" in args,
            admin_known=False,
        )
        self.users[user.id] = user
        self.state.user = user
        await self._say(f"You are now {user.display}{' (admin)' if user.is_admin else ''}.")
