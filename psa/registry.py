"""Builds PSA providers from connection settings and keeps one per account alive.

A provider owns an HTTP session and a reference-data cache, so it is reused for every command
of its account and replaced (the old one closed) when the account's settings change. At most
MAX_LIVE_PROVIDERS are kept, each for PROVIDER_IDLE_TTL seconds after its last use; one that
falls out is closed RETIRE_GRACE seconds later, so requests still running on it can finish.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

import cachetools

from psa.cache import DEFAULT_TTL, TTLCache
from psa.connectwise.client import RetryPolicy
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.provider import ConnectWiseProvider
from psa.errors import ConfigurationError
from psa.provider import PSAProvider
from psa.types import ConnectionSettings

ProviderFactory = Callable[[ConnectionSettings], PSAProvider]

MAX_LIVE_PROVIDERS = 256  # accounts with an open provider at once
PROVIDER_IDLE_TTL = 3600.0  # seconds an unused provider stays open
RETIRE_GRACE = 300.0  # seconds between evicting a provider and closing it

_Live = tuple[str, PSAProvider]


class _LiveProviders(cachetools.TTLCache[str, _Live]):
    """cachetools' TTL+LRU cache that hands every entry it drops to `retire`."""

    def __init__(
        self,
        maxsize: int,
        ttl: float,
        timer: Callable[[], float],
        retire: Callable[[PSAProvider], None],
    ) -> None:
        super().__init__(maxsize=maxsize, ttl=ttl, timer=timer)
        self._retire = retire

    def popitem(self) -> tuple[str, _Live]:
        key, value = super().popitem()
        self._retire(value[1])
        return key, value

    def expire(self, time: Any = None) -> list[tuple[str, _Live]]:
        expired = list(super().expire(time))
        for _, value in expired:
            self._retire(value[1])
        return expired


def _fingerprint(settings: ConnectionSettings) -> str:
    parts = (
        settings.provider,
        settings.site,
        settings.company_id,
        settings.public_key,
        settings.private_key,
        settings.client_id,
    )
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class ProviderRegistry:
    def __init__(
        self,
        hosts: HostPolicy,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        cache_ttl: float = DEFAULT_TTL,
        max_live: int = MAX_LIVE_PROVIDERS,
        idle_ttl: float = PROVIDER_IDLE_TTL,
        retire_grace: float = RETIRE_GRACE,
        clock: Callable[[], float] = time.monotonic,
        on_build: Callable[[ConnectionSettings], None] | None = None,
    ) -> None:
        self.hosts = hosts
        # told about every provider's settings before it is built (the bot registers the
        # keys with its log redaction here)
        self.on_build = on_build
        self._timeout = timeout
        self._retry = retry
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._grace = retire_grace
        self._retiring: list[tuple[float, PSAProvider]] = []
        self._live = _LiveProviders(max_live, idle_ttl, clock, self._retire)
        self._lock = asyncio.Lock()

    def _retire(self, provider: PSAProvider) -> None:
        self._retiring.append((self._clock() + self._grace, provider))

    async def _close_retired(self, *, everything: bool = False) -> None:
        now = self._clock()
        due = [p for at, p in self._retiring if everything or at <= now]
        self._retiring = [(at, p) for at, p in self._retiring if not everything and at > now]
        for provider in due:
            await provider.aclose()

    def __len__(self) -> int:
        """Providers currently live (not counting retired ones waiting to be closed)."""
        return len(self._live)

    def build(self, settings: ConnectionSettings) -> PSAProvider:
        """A new provider that the caller owns (and must close), e.g. to test new credentials."""
        if settings.provider != "connectwise":
            raise ConfigurationError(f"Unknown PSA provider {settings.provider!r}")
        if self.on_build is not None:
            self.on_build(settings)
        return ConnectWiseProvider(
            settings,
            self.hosts,
            cache=TTLCache(self._cache_ttl),
            timeout=self._timeout,
            retry=self._retry,
        )

    async def for_account(
        self,
        account_key: str,
        settings: ConnectionSettings | Callable[[], ConnectionSettings],
        *,
        version: str | None = None,
    ) -> PSAProvider:
        """The shared provider of an account; rebuilt when its settings change.

        With a `version` (anything that changes when the stored connection does) and a
        callable for the settings, an unchanged connection is found without decrypting it.
        """
        key = version
        if key is None:
            assert not callable(settings)
            key = _fingerprint(settings)
        if self._retiring:
            await self._close_retired()
        live = self._live.get(account_key)
        if live is not None and live[0] == key:
            self._live[account_key] = live  # used: its idle time starts over
            return live[1]
        async with self._lock:
            live = self._live.get(account_key)
            if live is not None and live[0] == key:
                self._live[account_key] = live
                return live[1]
            provider = self.build(settings() if callable(settings) else settings)
            self._live[account_key] = (key, provider)
        if live is not None:
            await live[1].aclose()
        return provider

    async def forget(self, account_key: str) -> None:
        live = self._live.pop(account_key, None)
        if live is not None:
            await live[1].aclose()

    async def aclose(self) -> None:
        self._live.expire()  # hands expired ones to the retired list, closed below
        providers = [p for _, p in self._live.values()]
        self._live.clear()
        for provider in providers:
            await provider.aclose()
        await self._close_retired(everything=True)
