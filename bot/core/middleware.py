"""Middlewares around every handler: error mapping, timing/metrics/logging, owner checks.

A middleware is `(next, call) -> Reply`: it gets the rest of the chain and one `Call`, and
may act before, after or instead of it. `compose()` builds the chain once; the dispatcher
(bot/core/dispatch.py) adds the step that resolves the account and picks the handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.core.context import Progress, Request
from bot.core.errors import NotOwner, reply_for
from bot.core.invocation import Invocation
from bot.core.reply import Reply
from bot.core.router import Handler
from bot.metrics import Metrics
from storage.errors import is_unavailable

log = logging.getLogger(__name__)


@dataclass
class Call:
    """One invocation on its way through the chain; inner steps fill in what they learn."""

    invocation: Invocation
    progress: Progress
    durable: bool = False  # stored work: a database outage is raised, to be tried again
    name: str = "unknown"  # the command, form or action, for metrics and logs
    request: Request | None = None
    handler: Handler | None = None
    owner_only: str | None = None  # what only owners may do, when the handler is for owners


Next = Callable[[Call], Awaitable[Reply]]
Middleware = Callable[[Next, Call], Awaitable[Reply]]


def compose(middlewares: Sequence[Middleware], endpoint: Next) -> Next:
    """One callable: the first middleware outermost, `endpoint` innermost."""
    chain = endpoint
    for middleware in reversed(middlewares):
        chain = _link(middleware, chain)
    return chain


def _link(middleware: Middleware, rest: Next) -> Next:
    async def step(call: Call) -> Reply:
        return await middleware(rest, call)

    return step


async def map_errors(rest: Next, call: Call) -> Reply:
    """Every failure becomes the user's reply, except a database outage in durable work."""
    try:
        return await rest(call)
    except Exception as exc:
        if call.durable and is_unavailable(exc):
            raise
        return reply_for(exc)


def measure(metrics: Metrics) -> Middleware:
    """Count and log every call with its outcome and time (never its arguments)."""

    async def middleware(rest: Next, call: Call) -> Reply:
        started = time.perf_counter()
        outcome = "ok"
        try:
            reply = await rest(call)
            outcome = reply.tone.value
            return reply
        except Exception as exc:
            outcome = "deferred" if call.durable and is_unavailable(exc) else "error"
            raise
        finally:
            invocation = call.invocation
            metrics.inc(
                "psabot_commands_total",
                platform=invocation.platform.value,
                command=call.name,
                outcome=outcome,
            )
            log.info(
                "handled platform=%s account=%s user=%s command=%s outcome=%s ms=%.1f",
                invocation.platform.value,
                invocation.account_external_id,
                invocation.user.id,
                call.name,
                outcome,
                (time.perf_counter() - started) * 1000,
            )

    return middleware


async def require_owner(rest: Next, call: Call) -> Reply:
    """Refuse an owners-only handler to anyone else, before it runs."""
    if call.owner_only is not None:
        assert call.request is not None
        if not await call.request.is_owner():
            raise NotOwner(call.owner_only)
    return await rest(call)


async def run_handler(call: Call) -> Reply:
    """The innermost step: the handler the chain picked."""
    assert call.handler is not None and call.request is not None
    return await call.handler(call.request)
