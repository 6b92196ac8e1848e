"""Acks first: background units of work wait while a platform request is being acknowledged."""

from __future__ import annotations

import asyncio

from bot.core.pacing import AckFirst
from bot.core.transport import Worker


async def test_background_work_waits_for_the_ack_in_progress() -> None:
    acks = AckFirst(max_wait=5.0)
    order: list[str] = []
    worker = Worker("test")
    answered = asyncio.Event()

    async def background() -> None:
        await acks.turn()
        order.append("background")

    async def request() -> None:
        with acks.acking():
            worker.spawn(background())  # started by the request, yet background work
            await acks.turn()  # the request's own work goes on at once
            order.append("own work")
            await asyncio.sleep(0.05)
            order.append("answered")
        answered.set()

    await request()
    await worker.drain()
    assert order == ["own work", "answered", "background"]


async def test_a_stream_of_acks_delays_background_work_only_a_little() -> None:
    acks = AckFirst(max_wait=0.05)
    loop = asyncio.get_running_loop()
    with acks.acking():
        AckFirst.background()  # as a Worker task does
        started = loop.time()
        await acks.turn()
        waited = loop.time() - started
    assert 0.04 <= waited < 1.0


async def test_no_ack_in_progress_costs_nothing() -> None:
    acks = AckFirst()
    AckFirst.background()
    await asyncio.wait_for(acks.turn(), timeout=0.01)
