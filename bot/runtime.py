"""Builds and closes the long-lived parts of the process: store, PSA registry, outbox, dispatch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot import logs
from bot.core.context import Services, provider_for_account
from bot.core.dispatch import Dispatcher
from bot.core.events import EventBus
from bot.core.intake import Intake, IntakeTuning
from bot.core.pacing import AckFirst
from bot.core.sharing import SharingProbe
from bot.core.twoway import TwoWay, TwoWayTuning
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.settings import Settings
from handlers import root_router
from psa.connectwise.hosts import HostPolicy
from psa.provider import PSAProvider
from psa.registry import ProviderRegistry
from storage import migrate
from storage.crypto import CredentialCipher
from storage.engine import create_engine
from storage.store import Store

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """The external database is behind the code's migrations."""


@dataclass(frozen=True)
class OutboxTuning:
    lease: timedelta = timedelta(seconds=60)
    retry_window: timedelta = timedelta(minutes=5)
    settle_window: timedelta = timedelta(minutes=2)  # > any POST timeout (late commits)
    base_delay: float = 1.0
    max_delay: float = 30.0
    poll_interval: float = 1.0


@dataclass
class Runtime:
    settings: Settings
    services: Services
    dispatcher: Dispatcher
    intake: Intake
    # Platform acks first: background units of work wait while requests are being acked.
    acks: AckFirst = field(default_factory=AckFirst)

    def __post_init__(self) -> None:
        self.store.before_unit = self.acks.turn

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def twoway(self) -> TwoWay:
        assert self.services.twoway is not None
        return self.services.twoway

    @property
    def metrics(self) -> Metrics:
        return self.services.metrics

    @property
    def outbox(self) -> Outbox:
        return self.services.outbox

    @property
    def sharing(self) -> dict[str, SharingProbe]:
        """Per platform, whether a channel is shared with another organisation."""
        return self.services.sharing

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        extra_allowed_hosts: Sequence[str] = (),
        tuning: OutboxTuning | None = None,
        registry: ProviderRegistry | None = None,
        intake_tuning: IntakeTuning | None = None,
    ) -> Runtime:
        """Connect the database (migrating the embedded one) and build the shared services."""
        logs.add_settings(settings)  # every secret setting is redacted from every log line
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
        hosts = HostPolicy([*settings.allowed_hosts, *extra_allowed_hosts])
        metrics = Metrics()
        metrics.counter(
            "psabot_commands_total",
            "Chat commands handled, by platform and outcome",
            ("platform", "command", "outcome"),
        )
        metrics.counter(
            "psabot_ledger_transitions_total",
            "Post ledger rows settled, by state",
            ("kind", "state"),
        )
        store = Store(engine, cipher)
        events = EventBus()
        tuning = tuning or OutboxTuning(
            lease=timedelta(seconds=settings.lease_seconds),
            settle_window=timedelta(seconds=settings.settle_seconds),
        )
        holder: list[Services] = []

        async def providers(account_id: int) -> PSAProvider:
            return await provider_for_account(holder[0], account_id)

        outbox = Outbox(
            store,
            providers,
            events,
            metrics=metrics,
            lease=tuning.lease,
            retry_window=tuning.retry_window,
            settle_window=tuning.settle_window,
            base_delay=tuning.base_delay,
            max_delay=tuning.max_delay,
            poll_interval=tuning.poll_interval,
        )
        services = Services(
            store=store,
            registry=(
                registry
                if registry is not None
                else ProviderRegistry(hosts, on_build=logs.add_connection)
            ),
            hosts=hosts,
            events=events,
            metrics=metrics,
            outbox=outbox,
            default_client_id=settings.cw_client_id,
        )
        holder.append(services)
        if services.registry.on_build is None:
            services.registry.on_build = logs.add_connection

        async def pending() -> float:
            async with store.unit() as uow:
                return float(await uow.ledger.pending_count())

        metrics.gauge("psabot_ledger_pending", "Ledger rows not yet settled", pending)

        async def stored() -> float:
            async with store.unit() as uow:
                return float(await uow.intake.pending_count())

        metrics.gauge("psabot_intake_pending", "Stored writes not yet finished", stored)
        services.twoway = TwoWay(
            services,
            settings.public_url,
            tuning=TwoWayTuning(reconcile_interval=settings.cw_reconcile_seconds),
        )

        async def callbacks() -> float:
            async with store.unit() as uow:
                return float(await uow.callbacks.pending_count())

        metrics.gauge(
            "psabot_callbacks_pending", "ConnectWise callbacks not yet handled", callbacks
        )
        dispatcher = Dispatcher(root_router(), services)
        intake = Intake(
            store,
            dispatcher,
            intake_tuning or IntakeTuning(lease=timedelta(seconds=settings.lease_seconds)),
        )
        return cls(settings, services, dispatcher, intake)

    def start(self) -> None:
        """Start background work (the outbox worker re-drives pending rows first)."""
        self.services.outbox.start()
        self.intake.start()  # finishes writes an earlier process stored but never finished
        self.twoway.start()  # (re-)registers callbacks, then handles and reconciles changes

    async def aclose(self) -> None:
        await self.twoway.stop()
        await self.intake.stop()
        await self.services.outbox.stop()
        await self.services.events.aclose()
        await self.services.registry.aclose()
        await self.services.store.aclose()
