"""Dispatch: Invocation → the right handler → Reply, through one middleware chain.

The chain, composed once: errors mapped to replies (bot/core/middleware.py), then timing,
metrics and logging, then this module's step that resolves the account and picks the handler,
then the owner check, then the handler.
"""

from __future__ import annotations

import difflib

from cachetools import LRUCache

from bot.core.context import Progress, Request, Services
from bot.core.invocation import (
    Action,
    ButtonAction,
    Command,
    FormSubmission,
    Invocation,
    OptionsQuery,
)
from bot.core.middleware import (
    Call,
    Next,
    compose,
    map_errors,
    measure,
    require_owner,
    run_handler,
)
from bot.core.reply import Reply
from bot.core.router import Handler, Router
from storage.models import Account

MAX_ACCOUNTS = 10_000  # account rows kept in memory (workspaces seen by this process)


async def _nothing(_: str) -> None:
    return None


class Dispatcher:
    def __init__(self, router: Router, services: Services) -> None:
        self.router = router
        self.services = services
        self._accounts: LRUCache[tuple[str, str], Account] = LRUCache(MAX_ACCOUNTS)
        self._chain = compose(
            [map_errors, measure(services.metrics), self._resolve, require_owner], run_handler
        )

    def is_write(self, action: Action) -> bool:
        """Whether this action sends something to the PSA, so it must be stored before the
        platform is acknowledged (pure: no I/O, decided from the words and ids alone)."""
        if isinstance(action, Command):
            found = self.router.match(action.text)
            return found is not None and found[0].writes and bool(found[1].strip())
        if isinstance(action, FormSubmission):
            return action.form_id in self.router.write_forms
        if isinstance(action, ButtonAction):
            return action.action_id in self.router.write_actions
        return False

    async def handle(
        self, invocation: Invocation, progress: Progress | None = None, *, durable: bool = False
    ) -> Reply:
        """The reply to one invocation; every failure becomes a reply, except, with
        `durable=True`, a database outage, which is raised so stored work is tried again."""
        return await self._chain(Call(invocation, progress or _nothing, durable=durable))

    async def _resolve(self, rest: Next, call: Call) -> Reply:
        """Find the account and the handler (and whether it is for owners only)."""
        account = await self._account(call.invocation)
        call.request = Request(call.invocation, self.services, account, progress=call.progress)
        call.handler, call.name = self._route(call)
        return await rest(call)

    async def _account(self, invocation: Invocation) -> Account:
        """The workspace's account row, created on first contact and kept in memory after."""
        key = (invocation.platform.value, invocation.account_external_id)
        account = self._accounts.get(key)
        if account is None or (invocation.account_name and account.name != invocation.account_name):
            async with self.services.store.unit() as uow:
                account = await uow.accounts.get_or_create(key[0], key[1], invocation.account_name)
            self._accounts[key] = account
        return account

    def _route(self, call: Call) -> tuple[Handler, str]:
        action = call.invocation.action
        if isinstance(action, Command):
            found = self.router.match(action.text)
            if found is None:
                if not action.text.strip():
                    found = self.router.match("show")
                if found is None:
                    word = action.text.split()[0] if action.text.split() else ""
                    return _unknown(word, self.router), "unknown"
            spec, rest = found
            assert call.request is not None
            call.request.args = rest
            if spec.owner_only:
                call.owner_only = spec.summary[:1].lower() + spec.summary[1:].rstrip(".")
            return spec.handler, " ".join(spec.words)
        if isinstance(action, FormSubmission):
            handler = self.router.forms.get(action.form_id)
            return (handler or _stale("form")), f"form:{action.form_id}"
        if isinstance(action, ButtonAction):
            handler = self.router.actions.get(action.action_id)
            return (handler or _stale("button")), f"action:{action.action_id}"
        if isinstance(action, OptionsQuery):
            handler = self.router.options.get(action.source)
            return (handler or _no_options), f"options:{action.source}"
        raise TypeError(f"unknown action {type(action).__name__}")


def _unknown(word: str, router: Router) -> Handler:
    names = sorted({" ".join(c.words[:1]) for c in router.commands if not c.hidden})
    lowered = word.lower()
    close = [n for n in names if lowered and n.startswith(lowered)]
    close = close or difflib.get_close_matches(lowered, names, n=1, cutoff=0.6)
    hint = f"Did you mean `{close[0]}`? " if close else ""

    async def handler(request: Request) -> Reply:
        return Reply.warning(
            f"I don't know `{word}`. {hint}Try `{{cmd}} help` to see what I can do."
        )

    return handler


def _stale(what: str) -> Handler:
    async def handler(request: Request) -> Reply:
        return Reply.warning(
            f"That {what} is from an older version of psabot; run the command again."
        )

    return handler


async def _no_options(request: Request) -> Reply:
    return Reply()
