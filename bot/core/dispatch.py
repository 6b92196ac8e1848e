"""Dispatch: Invocation → the right handler → Reply, with the account resolved and errors mapped."""

from __future__ import annotations

import difflib
import logging
import time

from cachetools import LRUCache

from bot.core.context import Progress, Request, Services
from bot.core.errors import NotOwner, reply_for
from bot.core.invocation import (
    Action,
    ButtonAction,
    Command,
    FormSubmission,
    Invocation,
    OptionsQuery,
)
from bot.core.reply import Reply
from bot.core.router import Handler, Router
from storage.errors import is_unavailable
from storage.models import Account

log = logging.getLogger(__name__)
MAX_ACCOUNTS = 10_000  # account rows kept in memory (workspaces seen by this process)


async def _nothing(_: str) -> None:
    return None


class Dispatcher:
    def __init__(self, router: Router, services: Services) -> None:
        self.router = router
        self.services = services
        self._accounts: LRUCache[tuple[str, str], Account] = LRUCache(MAX_ACCOUNTS)

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
        started = time.perf_counter()
        outcome = "ok"
        name = "unknown"
        try:
            account = await self._account(invocation)
            request = Request(invocation, self.services, account, progress=progress or _nothing)
            handler, name = await self._route(request)
            reply = await handler(request)
            outcome = reply.tone.value
            return reply
        except Exception as exc:
            outcome = "error"
            if durable and is_unavailable(exc):
                outcome = "deferred"
                raise
            return reply_for(exc)
        finally:
            self.services.metrics.inc(
                "psabot_commands_total",
                platform=invocation.platform.value,
                command=name,
                outcome=outcome,
            )
            log.info(
                "handled platform=%s account=%s user=%s command=%s outcome=%s ms=%.1f",
                invocation.platform.value,
                invocation.account_external_id,
                invocation.user.id,
                name,
                outcome,
                (time.perf_counter() - started) * 1000,
            )

    async def _account(self, invocation: Invocation) -> Account:
        """The workspace's account row, created on first contact and kept in memory after."""
        key = (invocation.platform.value, invocation.account_external_id)
        account = self._accounts.get(key)
        if account is None or (invocation.account_name and account.name != invocation.account_name):
            async with self.services.store.unit() as uow:
                account = await uow.accounts.get_or_create(key[0], key[1], invocation.account_name)
            self._accounts[key] = account
        return account

    async def _route(self, request: Request) -> tuple[Handler, str]:
        action = request.invocation.action
        if isinstance(action, Command):
            found = self.router.match(action.text)
            if found is None:
                if not action.text.strip():
                    found = self.router.match("show")
                if found is None:
                    word = action.text.split()[0] if action.text.split() else ""
                    return _unknown(word, self.router), "unknown"
            spec, rest = found
            request.args = rest
            if spec.owner_only and not await request.is_owner():
                raise NotOwner(spec.summary[:1].lower() + spec.summary[1:].rstrip("."))
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
