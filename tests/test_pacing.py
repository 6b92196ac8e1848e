"""Bounded background work: slots are shared, handed back while idle, never starve anyone."""

from __future__ import annotations

import asyncio

from bot.core.pacing import idle, working


async def test_slots_bound_work_and_idle_hands_them_over() -> None:
    limiter = asyncio.Semaphore(1)
    order: list[str] = []
    release = asyncio.Event()

    async def sleeper() -> None:
        async with working(limiter, max_wait=5):
            order.append("sleeper starts")
            async with idle():
                await release.wait()
            order.append("sleeper ends")

    async def quick() -> None:
        async with working(limiter, max_wait=5):
            order.append("quick runs")

    first = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    await asyncio.wait_for(quick(), timeout=1)  # gets the slot the sleeper handed back
    release.set()
    await first
    assert order == ["sleeper starts", "quick runs", "sleeper ends"]
    assert limiter._value == 1  # every slot was returned exactly once


async def test_waiting_for_a_slot_is_capped() -> None:
    limiter = asyncio.Semaphore(1)
    await limiter.acquire()  # somebody holds it for a long time
    ran = False

    async def late() -> None:
        nonlocal ran
        async with working(limiter, max_wait=0.05):
            ran = True

    await asyncio.wait_for(late(), timeout=1)
    assert ran
    limiter.release()
    assert limiter._value == 1  # the capped waiter did not release a slot it never held
