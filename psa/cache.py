"""In-memory TTL cache for PSA reference data, with single-flight loading.

Reference data (statuses per board, boards, members, companies) changes rarely but is read on
almost every command. Concurrent misses for one key share a single load; a failed load is not
cached. Writes that change reference data call `invalidate(prefix)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

Clock = Callable[[], float]


class TTLCache:
    def __init__(self, ttl_seconds: float = 300.0, *, clock: Clock = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._values: dict[str, tuple[float, Any]] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self.loads = 0  # how many times a loader actually ran (observability and tests)

    async def get_or_load(
        self, key: str, loader: Callable[[], Awaitable[T]], *, ttl: float | None = None
    ) -> T:
        hit = self._values.get(key)
        if hit is not None and hit[0] > self._clock():
            value: T = hit[1]
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
            expires = self._clock() + (self.ttl if ttl is None else ttl)
            self._values[key] = (expires, loaded)
            future.set_result(loaded)
            return loaded
        finally:
            self._inflight.pop(key, None)

    def invalidate(self, prefix: str = "") -> None:
        """Forget every entry whose key starts with `prefix` (everything when empty)."""
        for key in [k for k in self._values if k.startswith(prefix)]:
            del self._values[key]

    def __len__(self) -> int:
        return len(self._values)
