"""Builds PSA providers from connection settings and keeps one per account alive.

A provider owns an HTTP session and a reference-data cache, so it is reused for every command
of its account and replaced (the old one closed) when the account's settings change.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from psa.cache import TTLCache
from psa.connectwise.client import RetryPolicy
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.provider import ConnectWiseProvider
from psa.errors import ConfigurationError
from psa.provider import PSAProvider
from psa.types import ConnectionSettings

ProviderFactory = Callable[[ConnectionSettings], PSAProvider]


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
        cache_ttl: float = 300.0,
    ) -> None:
        self.hosts = hosts
        self._timeout = timeout
        self._retry = retry
        self._cache_ttl = cache_ttl
        self._live: dict[str, tuple[str, PSAProvider]] = {}
        self._lock = asyncio.Lock()

    def build(self, settings: ConnectionSettings) -> PSAProvider:
        """A new provider that the caller owns (and must close), e.g. to test new credentials."""
        if settings.provider != "connectwise":
            raise ConfigurationError(f"Unknown PSA provider {settings.provider!r}")
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
        live = self._live.get(account_key)
        if live is not None and live[0] == key:
            return live[1]
        async with self._lock:
            live = self._live.get(account_key)
            if live is not None and live[0] == key:
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
        providers = [p for _, p in self._live.values()]
        self._live.clear()
        for provider in providers:
            await provider.aclose()
