"""The storage entry point: one `Store` per process, one unit of work per command."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from psa.types import ConnectionSettings
from storage.crypto import CredentialCipher
from storage.engine import session_factory
from storage.models import PsaConnection
from storage.repositories import (
    AccountRepository,
    ConnectionRepository,
    ConversationRefRepository,
    IntakeRepository,
    LedgerRepository,
    LinkRepository,
    MappingRepository,
    OwnerRepository,
    UnfurlRepository,
)
from storage.repositories.callbacks import CallbackRepository
from storage.repositories.connections import decrypt_settings
from storage.repositories.slack_tokens import SlackTokenRepository


@dataclass
class UnitOfWork:
    """Repositories sharing one session and transaction."""

    session: AsyncSession
    accounts: AccountRepository
    owners: OwnerRepository
    connections: ConnectionRepository
    links: LinkRepository
    mappings: MappingRepository
    ledger: LedgerRepository
    refs: ConversationRefRepository
    intake: IntakeRepository
    slack_tokens: SlackTokenRepository
    callbacks: CallbackRepository
    unfurls: UnfurlRepository

    async def commit(self) -> None:
        await self.session.commit()


class Store:
    def __init__(self, engine: AsyncEngine, cipher: CredentialCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        self._sessions = session_factory(engine)
        # Awaited before each unit of work starts: the bot's pacing (background work lets
        # the platform acks in progress go first).
        self.before_unit: Callable[[], Awaitable[None]] | None = None

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[UnitOfWork]:
        """A transaction: committed when the block ends normally, rolled back on error."""
        if self.before_unit is not None:
            await self.before_unit()
        async with self._sessions() as session:
            uow = UnitOfWork(
                session=session,
                accounts=AccountRepository(session),
                owners=OwnerRepository(session),
                connections=ConnectionRepository(session, self.cipher),
                links=LinkRepository(session),
                mappings=MappingRepository(session),
                ledger=LedgerRepository(session),
                refs=ConversationRefRepository(session),
                intake=IntakeRepository(session),
                slack_tokens=SlackTokenRepository(session, self.cipher),
                callbacks=CallbackRepository(session),
                unfurls=UnfurlRepository(session),
            )
            try:
                yield uow
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    def cipher_settings(self, row: PsaConnection) -> ConnectionSettings:
        """Decrypt a connection row read in any unit of work."""
        return decrypt_settings(row, self.cipher)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def aclose(self) -> None:
        await self.engine.dispose()
