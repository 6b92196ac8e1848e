"""The pieces every transport shares (bot/core/transport.py): bounded background work, the
guarded run that always answers, and the "working…" message shown only for slow work."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.core.errors import UserError
from bot.core.reply import Reply, Tone
from bot.core.transport import DelayedProgress, Worker, guarded, working_text


async def until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_worker_runs_a_bounded_number_at_once_and_drains_everything() -> None:
    worker = Worker("test", max_concurrent=2, max_slot_wait=30.0)
    gate = asyncio.Event()
    running = 0
    peak = 0
    done: list[int] = []

    async def job(n: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1
        done.append(n)

    for n in range(10):
        worker.spawn(job(n))
    await until(lambda: running == 2)
    assert worker.busy == 10  # the rest wait for a slot
    gate.set()
    await worker.drain()
    assert peak == 2 and sorted(done) == list(range(10)) and worker.busy == 0


async def test_a_failing_job_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Worker("test")
    finished: list[str] = []

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        finished.append("fine")

    with caplog.at_level(logging.ERROR):
        worker.spawn(broken())
        worker.spawn(fine())
        await worker.drain()
    assert finished == ["fine"]
    assert "test background work failed" in caplog.text


async def test_guarded_turns_any_failure_into_a_reply() -> None:
    async def not_linked() -> Reply:
        raise UserError("This channel is not linked to a ticket.")

    async def crash() -> Reply:
        raise KeyError("internal detail")

    async def fine() -> Reply:
        return Reply.success("done")

    assert (await guarded(fine)).text == "done"
    linked = await guarded(not_linked)
    assert linked.text == "This channel is not linked to a ticket."  # what the user can fix
    crashed = await guarded(crash)
    assert crashed.tone is Tone.ERROR and "internal detail" not in crashed.text


async def test_progress_shows_only_for_slow_work_and_the_outcome_can_replace_it() -> None:
    shown: list[str] = []

    async def show(text: str) -> str | None:
        shown.append(text)
        return f"m{len(shown)}"

    quick = DelayedProgress(show, delay=60.0)
    await quick.callback("Posting the note to ConnectWise…")
    assert await quick.settle() is None and shown == []  # done before anything was shown

    slow = DelayedProgress(show, delay=0.0)
    await slow.callback("Testing the connection to ConnectWise…")
    await slow.callback("still testing")  # one message, showing the latest words
    await until(lambda: slow.message_id is not None)
    assert await slow.settle() == "m1" and shown == ["still testing"]


def test_working_text_says_what_runs_and_where_the_outcome_goes() -> None:
    assert working_text("note") == "Posting the note to ConnectWise…"
    assert working_text("unknown") == "Working on it…"
    assert (
        working_text("connect", "the result will be posted here.")
        == "Testing the connection to ConnectWise… the result will be posted here."
    )
