"""The transport contract: what every chat platform implements, and the pieces they share.

A transport is one folder (bot/slack, bot/teams, bot/shell) plus one registration line in
bot/app.py (the shell is started by the CLI instead). It implements:

- an **inbound converter**: the platform's payload → an `Invocation` (tenant, user,
  conversation, action, idempotency key), from the payload alone and without anything slow,
  so a write can be stored by the durable intake before the platform is acknowledged;
- a **responder** (`Responder` below): the reply to the invoker, a post into the conversation
  or thread, a form opened, and "working…" progress while a command runs;
- the **intake transport** (`bot.core.intake.IntakeTransport`: `resolve`, `deliver`), so a
  stored write is finished and its author told, also by a later process;
- optionally a **history poster** (`bot.core.history.HistoryPoster`) for post-history threads.

Updating an open form (field errors, the result) is the answer to the form's submission and
so travels however that platform answers a submission (Slack's view ack and views.update, a
Teams task/submit body, the shell's next prompt).

What transports share lives here rather than in each of them: the bounded background worker
(`Worker`: a platform is acked first and the command runs after, a few at a time), the guarded
run that turns any failure into a reply (`guarded`), and the "working…" wording and delayed
progress message (`working_text`, `DelayedProgress`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from bot.core.context import Progress
from bot.core.errors import reply_for
from bot.core.pacing import AckFirst, working
from bot.core.reply import Form, Reply

log = logging.getLogger(__name__)

MAX_CONCURRENT_WORK = 8
MAX_SLOT_WAIT = 0.5  # seconds; a Slack trigger_id lives 3 s, so no command waits long for a slot
PROGRESS_DELAY = 1.0  # a "working…" message only for work that takes longer than this

# What a form's submission is doing while the user waits (the modal, the dialog, the chat).
WORKING = {
    "connect": "Testing the connection to ConnectWise…",
    "note": "Posting the note to ConnectWise…",
    "status": "Changing the status in ConnectWise…",
}
WORKING_DEFAULT = "Working on it…"

Target = TypeVar("Target", contravariant=True)


def working_text(form_id: str, then: str = "") -> str:
    """The "working…" line for a form being submitted; `then` says where the outcome goes."""
    text = WORKING.get(form_id, WORKING_DEFAULT)
    return f"{text} {then}" if then else text


class Responder(Protocol[Target]):
    """How a transport answers, given its own `Target` (where one request's answers go)."""

    async def deliver(self, target: Target, reply: Reply) -> None:
        """The reply to the invoker: a form in it opens (where the platform can), the rest is
        shown to them."""

    async def post(self, target: Target, reply: Reply) -> None:
        """The reply into the conversation or thread the request came from."""

    async def open_form(self, target: Target, form: Form) -> None:
        """Open a form for the invoker (a modal, a dialog opener, prompts)."""

    async def progress(self, target: Target, text: str) -> None:
        """Say that work is under way ("working…"), best effort."""


class Worker:
    """Background work of one transport: acked first, then run here, a bounded number at once.

    A command that then only waits (on ConnectWise, a retry back-off) gives its slot up (see
    bot/core/pacing.py), so a burst never crowds out the loop that acks the next request."""

    def __init__(
        self,
        name: str,
        *,
        max_concurrent: int = MAX_CONCURRENT_WORK,
        max_slot_wait: float = MAX_SLOT_WAIT,
    ) -> None:
        self.name = name
        self.max_slot_wait = max_slot_wait
        self._limiter = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._limited(work))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _limited(self, work: Coroutine[Any, Any, None]) -> None:
        AckFirst.background()  # started by a request, but not part of its ack
        async with working(self._limiter, max_wait=self.max_slot_wait):
            await work

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s background work failed", self.name, exc_info=task.exception())

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every piece of background work (shutdown, tests), also work it started."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def guarded(work: Callable[[], Awaitable[Reply]]) -> Reply:
    """The reply of `work`, or the reply for whatever it raised: never no answer at all."""
    try:
        return await work()
    except Exception as exc:  # never leave the user without an answer
        return reply_for(exc)


class DelayedProgress:
    """A "working…" message that appears only for work slower than `delay`, and whose id is
    kept so the outcome can replace it.

    `show(text)` posts the message and returns its id (None: it could not be posted)."""

    def __init__(
        self, show: Callable[[str], Awaitable[str | None]], delay: float = PROGRESS_DELAY
    ) -> None:
        self._show = show
        self.delay = delay
        self.text = ""
        self.message_id: str | None = None
        self._timer: asyncio.Task[None] | None = None

    @property
    def callback(self) -> Progress:
        async def progress(text: str) -> None:
            self.text = text
            if self._timer is None:
                self._timer = asyncio.create_task(self._later())

        return progress

    async def _later(self) -> None:
        await asyncio.sleep(self.delay)
        self.message_id = await self._show(self.text)

    async def settle(self) -> str | None:
        """Stop a message not shown yet; the id of the one shown (for the outcome to replace)."""
        if self._timer is not None:
            if not self._timer.done():
                self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._timer
        return self.message_id
