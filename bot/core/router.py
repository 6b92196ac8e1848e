"""Routers: each handler module owns one; the root composes them.

A command is registered with the words that start it (`"map me"`), a usage line, and its
docstring's first line as the summary that `help` shows. Forms, buttons and type-ahead
options are registered by id. Matching prefers the longest command words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.reply import Reply

if TYPE_CHECKING:
    from bot.core.context import Request

Handler = Callable[["Request"], Awaitable[Reply]]


@dataclass(frozen=True)
class CommandSpec:
    words: tuple[str, ...]
    usage: str
    summary: str
    handler: Handler
    owner_only: bool = False
    hidden: bool = False
    writes: bool = False  # with arguments, it sends something to the PSA (durable intake)


def _summary(handler: Handler) -> str:
    doc = (handler.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[CommandSpec] = []
        self.forms: dict[str, Handler] = {}
        self.actions: dict[str, Handler] = {}
        self.options: dict[str, Handler] = {}
        self.write_forms: set[str] = set()
        self.write_actions: set[str] = set()

    def command(
        self,
        words: str,
        *,
        usage: str = "",
        owner_only: bool = False,
        hidden: bool = False,
        writes: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register a command; `writes=True` when, given arguments, it posts to the PSA."""

        def register(handler: Handler) -> Handler:
            self.commands.append(
                CommandSpec(
                    words=tuple(words.lower().split()),
                    usage=usage or words,
                    summary=_summary(handler),
                    handler=handler,
                    owner_only=owner_only,
                    hidden=hidden,
                    writes=writes,
                )
            )
            return handler

        return register

    def form(self, form_id: str, *, writes: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.forms[form_id] = handler
            if writes:
                self.write_forms.add(form_id)
            return handler

        return register

    def action(self, action_id: str, *, writes: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.actions[action_id] = handler
            if writes:
                self.write_actions.add(action_id)
            return handler

        return register

    def source(self, name: str) -> Callable[[Handler], Handler]:
        """Options for SEARCH form fields with `source=name`."""

        def register(handler: Handler) -> Handler:
            self.options[name] = handler
            return handler

        return register

    def include(self, *routers: Router) -> None:
        for router in routers:
            self.commands.extend(router.commands)
            for table, theirs in (
                (self.forms, router.forms),
                (self.actions, router.actions),
                (self.options, router.options),
            ):
                clash = set(table) & set(theirs)
                if clash:
                    raise ValueError(f"{router.name} registers {sorted(clash)} again")
                table.update(theirs)
            self.write_forms |= router.write_forms
            self.write_actions |= router.write_actions

    def match(self, text: str) -> tuple[CommandSpec, str] | None:
        """The command the text starts with (longest words first) and the raw rest."""
        stripped = text.strip()
        words = stripped.split()
        lowered = [w.lower() for w in words]
        best: CommandSpec | None = None
        for spec in self.commands:
            n = len(spec.words)
            if lowered[:n] == list(spec.words) and (best is None or n > len(best.words)):
                best = spec
        if best is None:
            return None
        rest = stripped
        for word in words[: len(best.words)]:
            rest = rest[len(word) :].lstrip() if rest.startswith(word) else rest
        return best, rest
