"""The connection service: builds, tests, saves and forgets an account's PSA provider.

Handlers ask it for outcomes and never hold a provider's lifecycle themselves: a provider
built to test new credentials is closed here, and the live provider of an account is
forgotten here whenever its stored connection is replaced or deleted. Failures are raised as
the PSA's typed errors, for bot/core/errors.py to word (or to place on the connect form).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.context import Progress, Services, provider_for_connection
from bot.core.errors import message_for
from bot.core.invocation import ChatUser
from bot.core.pacing import paced
from psa.errors import PSAError
from psa.types import ConnectionCheck, ConnectionSettings
from storage.base import utcnow
from storage.models import PsaConnection

log = logging.getLogger(__name__)


async def _nothing(_: str) -> None:
    return None


@dataclass(frozen=True)
class Retest:
    """How re-testing a stored connection went: the row as it now stands, and the result."""

    row: PsaConnection
    check: ConnectionCheck | None
    error: PSAError | None


class Connections:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def get(self, account_id: int) -> PsaConnection | None:
        async with self.services.store.unit() as uow:
            return await uow.connections.get(account_id)

    async def stored_settings(self, row: PsaConnection) -> ConnectionSettings:
        """The stored connection's settings, keys decrypted (to keep keys left unchanged)."""
        async with self.services.store.unit() as uow:
            return uow.connections.settings_of(row)

    async def test(
        self, account_id: int, settings: ConnectionSettings, progress: Progress = _nothing
    ) -> ConnectionCheck:
        """Try new settings on a provider of their own (closed after); raises `PSAError`."""
        self.services.hosts.check_site(settings.site)
        await progress("Testing the connection to ConnectWise…")
        provider = self.services.registry.build(settings)
        try:
            return await provider.test_connection()
        except PSAError as exc:
            log.info("connection test failed account=%s error=%s", account_id, type(exc).__name__)
            raise
        finally:
            await provider.aclose()

    async def save(
        self, account_id: int, settings: ConnectionSettings, user: ChatUser
    ) -> PsaConnection:
        """Store tested settings (encrypted); whoever saved them becomes an owner."""
        async with self.services.store.unit() as uow:
            await uow.connections.save(
                account_id, settings, saved_by=user.id, validated_at=utcnow()
            )
            await uow.owners.add(account_id, user.id, user.display, "connect")
            row = await uow.connections.get(account_id)
        assert row is not None
        await self.forget(account_id)
        if self.services.twoway is not None:
            await self.services.twoway.connected(account_id)
        return row

    async def retest(self, row: PsaConnection, progress: Progress = _nothing) -> Retest:
        """Test the stored connection's live provider and record how it went."""
        await progress("Testing the connection to ConnectWise…")
        provider = paced(await provider_for_connection(self.services, row))
        check: ConnectionCheck | None = None
        error: PSAError | None = None
        try:
            check = await provider.test_connection()
        except PSAError as exc:
            error = exc
        async with self.services.store.unit() as uow:
            await uow.connections.record_validation(
                row.account_id, None if error is None else message_for(error)
            )
            fresh = await uow.connections.get(row.account_id)
        assert fresh is not None
        return Retest(fresh, check, error)

    async def disconnect(self, account_id: int) -> bool:
        """Delete the stored connection and its live provider; False if there was none."""
        if self.services.twoway is not None:  # while the keys can still reach ConnectWise
            await self.services.twoway.disconnecting(account_id)
        async with self.services.store.unit() as uow:
            deleted = await uow.connections.delete(account_id)
        await self.forget(account_id)
        return deleted

    async def forget(self, account_id: int) -> None:
        """Close the account's live provider, so the next use builds it from storage."""
        await self.services.registry.forget(str(account_id))
