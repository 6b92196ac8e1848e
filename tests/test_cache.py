"""The reference-data cache: TTL, single-flight loading, failures not cached, invalidation."""

from __future__ import annotations

import asyncio

from psa.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_misses_share_one_load() -> None:
    cache = TTLCache(60)
    started = asyncio.Event()
    release = asyncio.Event()

    async def load() -> list[int]:
        started.set()
        await release.wait()
        return [1, 2]

    tasks = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(10)]
    await started.wait()
    release.set()
    assert all(r == [1, 2] for r in await asyncio.gather(*tasks))
    assert cache.loads == 1


async def test_ttl_expiry_and_invalidate() -> None:
    clock = Clock()
    cache = TTLCache(10, clock=clock)
    calls: list[int] = []

    async def load() -> int:
        calls.append(1)
        return len(calls)

    assert await cache.get_or_load("statuses:1", load) == 1
    assert await cache.get_or_load("statuses:1", load) == 1
    clock.now = 11
    assert await cache.get_or_load("statuses:1", load) == 2
    await cache.get_or_load("members", load)
    cache.invalidate("statuses:")
    assert await cache.get_or_load("statuses:1", load) == 4
    assert await cache.get_or_load("members", load) == 3


async def test_failures_are_not_cached_and_reach_every_waiter() -> None:
    cache = TTLCache(60)
    gate = asyncio.Event()

    async def boom() -> int:
        await gate.wait()
        raise RuntimeError("down")

    tasks = [asyncio.create_task(cache.get_or_load("k", boom)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def ok() -> int:
        return 5

    assert await cache.get_or_load("k", ok) == 5


def test_len() -> None:
    assert len(TTLCache()) == 0
