"""A shell chat session: lines in, the same Invocations as Slack and Teams, text out.

Meta commands switch identity and place like a chat client would: `/as <user> [--admin]
[--email <address>]`, `/in <channel> [<thread>]`, `/press <n>` for the last reply's buttons,
`/whoami`, `/quit`. Anything else is a `/ticket` command (the `/ticket` prefix is optional).
Forms become prompts through a `Prompter`; secrets are read without echo.
"""

from __future__ import annotations

import itertools
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
    OptionsQuery,
    Platform,
)
from bot.core.reply import Button, FieldKind, Form, FormField, Reply
from bot.shell.render import render

Output = Callable[[str], Awaitable[None]]
MAX_FORM_ROUNDS = 3


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
    ) -> None:
        self.dispatcher = dispatcher
        self.prompter = prompter
        self.output = output
        self.state = ShellState(user=user, conversation=Conversation(channel), workspace=workspace)
        self._session = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)

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
        await self.dispatch(Command(text.strip()))
        return True

    async def dispatch(self, action: Action) -> None:
        reply = await self.dispatcher.handle(self._invocation(action), self._progress)
        await self._show(reply)

    async def _show(self, reply: Reply) -> None:
        self.state.buttons = []
        for line in render(reply, self.state.buttons):
            await self._say(line)
        if reply.form is not None:
            await self._fill(reply.form)

    # -- forms ------------------------------------------------------------------------------

    async def _fill(self, form: Form) -> None:
        for _ in range(MAX_FORM_ROUNDS):
            await self._say(f"── {form.title} ──")
            if form.intro:
                await self._say(form.intro)
            if "" in form.errors:
                await self._say(f"⚠️  {form.errors['']}")
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
            reply = await self.dispatcher.handle(invocation, self._progress)
            if reply.form is None or reply.form.form_id != form.form_id or not reply.form.errors:
                await self._show(reply)
                return
            if reply.text:
                await self._say(reply.text)
            form = reply.form
        for name, error in form.errors.items():
            label = next((f.label for f in form.fields if f.name == name), "Form")
            await self._say(f"⚠️  {label}: {error}")
        await self._say("Giving up on this form; run the command again when ready.")

    async def _ask(self, form: Form, f: FormField) -> str:
        if error := form.errors.get(f.name):
            await self._say(f"⚠️  {f.label}: {error}")
        if f.hint:
            await self._say(f"   ({f.hint})")
        optional = "" if f.required else ", optional"
        default = f" [{f.initial}]" if f.initial and f.kind is not FieldKind.SECRET else ""
        if f.kind is FieldKind.SELECT:
            for i, option in enumerate(f.options, 1):
                await self._say(f"   {i}. {option.label}")
            answer = await self._answer(f"{f.label} (number{optional}){default}: ")
            return self._pick(answer, f.options, f.initial)
        if f.kind is FieldKind.SEARCH:
            query = await self._answer(f"{f.label} (type to search{optional}): ")
            if not query.strip():
                return ""
            reply = await self.dispatcher.handle(
                self._invocation(OptionsQuery(f.source, query, dict(form.metadata))),
                self._progress,
            )
            if not reply.options:
                await self._say(f"   nothing matches; using {query!r} as typed")
                return query.strip()
            for i, option in enumerate(reply.options, 1):
                await self._say(f"   {i}. {option.label}")
            answer = await self._answer(f"{f.label} (number): ")
            return self._pick(answer, reply.options, "")
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

    @staticmethod
    def _pick(answer: str, options: tuple[object, ...], default: str) -> str:
        from bot.core.reply import Option

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
            admin = "--admin" in args
            email = None
            if "--email" in args and args.index("--email") + 1 < len(args):
                email = args[args.index("--email") + 1]
            name = args[0]
            self.state.user = ChatUser(
                id=name.lower(), name=name, email=email, is_admin=admin, admin_known=False
            )
            await self._say(f"You are now {name}{' (admin)' if admin else ''}.")
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
            await self._say(
                "Shell commands: /as <user> [--admin] [--email <address>], "
                "/in <channel> [<thread>], /press <n>, /whoami, /quit. "
                "Everything else is a /ticket command; try `help`."
            )


def user_from(name: str, *, email: str | None, admin: bool) -> ChatUser:
    return ChatUser(id=name.lower(), name=name, email=email, is_admin=admin, admin_known=False)
