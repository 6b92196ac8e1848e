"""Builds and closes the long-lived parts of the process: store, PSA registry, metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.metrics import Metrics
from bot.settings import Settings
from psa.connectwise.hosts import HostPolicy
from psa.registry import ProviderRegistry
from storage import migrate
from storage.crypto import CredentialCipher
from storage.engine import create_engine
from storage.store import Store

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """The external database is behind the code's migrations."""


@dataclass
class Runtime:
    settings: Settings
    store: Store
    registry: ProviderRegistry
    hosts: HostPolicy
    metrics: Metrics

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        """Connect the database (migrating the embedded one) and build the shared services."""
        cipher = CredentialCipher(settings.encryption_key_list())
        engine = create_engine(settings.resolved_database_url)
        try:
            if settings.embedded_database:
                await migrate.upgrade(engine)
            else:
                current = await migrate.current_revision(engine)
                head = migrate.head_revision()
                if current != head:
                    raise SchemaOutOfDate(
                        f"database schema is at {current or 'nothing'}, code needs {head}: "
                        "run `psabot migrate` first"
                    )
        except BaseException:
            await engine.dispose()
            raise
        hosts = HostPolicy(settings.allowed_hosts)
        metrics = Metrics()
        metrics.counter("psabot_commands_total", "Chat commands handled, by platform and outcome")
        metrics.counter("psabot_ledger_transitions_total", "Post ledger rows settled, by state")
        return cls(
            settings=settings,
            store=Store(engine, cipher),
            registry=ProviderRegistry(hosts),
            hosts=hosts,
            metrics=metrics,
        )

    async def aclose(self) -> None:
        await self.registry.aclose()
        await self.store.aclose()
