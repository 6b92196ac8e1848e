"""Bounded TTL cache for PSA reference data, with single-flight loading.

Reference data (statuses per board, boards, members, companies) changes rarely but is read on
almost every command. Entries live `ttl` seconds and at most `maxsize` are kept (least recently
used go first), so distinct keys such as type-ahead searches cannot grow memory without bound.
Concurrent misses for one key share a single load; a failed load is not cached. Writes that
change reference data call `invalidate(prefix)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import cachetools

T = TypeVar("T")

Clock = Callable[[], float]

DEFAULT_TTL = 300.0  # seconds a reference-data entry is trusted
DEFAULT_MAXSIZE = 256  # entries per cache (one provider, i.e. one account, has its own)


class TTLCache:
    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL,
        *,
        maxsize: int = DEFAULT_MAXSIZE,
        clock: Clock = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self.maxsize = maxsize
        self._values: cachetools.TTLCache[str, Any] = cachetools.TTLCache(
            maxsize=maxsize, ttl=ttl_seconds, timer=clock
        )
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self.loads = 0  # how many times a loader actually ran (observability and tests)

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[T]]) -> T:
        try:
            value: T = self._values[key]
        except KeyError:
            pass
        else:
            return value
        pending = self._inflight.get(key)
        if pending is not None:
            shared: T = await asyncio.shield(pending)
            return shared
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            self.loads += 1
            loaded = await loader()
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            self._values[key] = loaded
            future.set_result(loaded)
            return loaded
        finally:
            self._inflight.pop(key, None)

    def invalidate(self, prefix: str = "") -> None:
        """Forget every entry whose key starts with `prefix` (everything when empty)."""
        for key in [k for k in self._values if k.startswith(prefix)]:
            self._values.pop(key, None)

    def __len__(self) -> int:
        return len(self._values)
