"""`Services` (process-wide) and `Request` (one invocation): the typed context handlers get."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.errors import NotConnected, NotLinked, NotMapped, NotOwner
from bot.core.events import AccountRef, EventBus
from bot.core.invocation import ChatUser, Conversation, Invocation
from bot.core.pacing import paced
from bot.core.sharing import SharingProbe
from bot.metrics import Metrics
from psa.connectwise.hosts import HostPolicy
from psa.provider import PSAProvider
from psa.registry import ProviderRegistry
from storage.base import utcnow
from storage.models import Account, MemberMapping, PsaConnection, TicketLink
from storage.store import Store

if TYPE_CHECKING:
    from bot.core.twoway import TwoWay
    from bot.outbox import Outbox

Progress = Callable[[str], Awaitable[None]]


async def _no_progress(_: str) -> None:
    return None


@dataclass
class Services:
    store: Store
    registry: ProviderRegistry
    hosts: HostPolicy
    events: EventBus
    metrics: Metrics
    outbox: Outbox
    default_client_id: str | None = None
    clock: Callable[[], datetime] = utcnow
    twoway: TwoWay | None = None  # ConnectWise changes back into chat (PSABOT_PUBLIC_URL set)
    # platform name → its transport's answer to "is this channel shared with another
    # organisation?" (bot/core/sharing.py); each transport registers its own when it starts
    sharing: dict[str, SharingProbe] = field(default_factory=dict)


def connection_version(row: PsaConnection) -> str:
    """Changes whenever the stored connection does (edit, reconnect, key rotation)."""
    digest = hashlib.sha256(row.credentials.encode()).hexdigest()[:16]
    return f"{row.id}:{row.updated_at.isoformat()}:{row.site}:{row.company_id}:{digest}"


async def provider_for_connection(services: Services, row: PsaConnection) -> PSAProvider:
    """The live provider for a stored connection row (decrypted only when it changed)."""
    return await services.registry.for_account(
        str(row.account_id),
        lambda: services.store.cipher_settings(row),
        version=connection_version(row),
    )


async def provider_for_account(services: Services, account_id: int) -> PSAProvider:
    """The live provider of an account's stored connection; `NotConnected` when there is none."""
    async with services.store.unit() as uow:
        row = await uow.connections.get(account_id)
    if row is None:
        raise NotConnected()
    return await provider_for_connection(services, row)


@dataclass(frozen=True)
class Snapshot:
    """What most commands need to know, read in one transaction."""

    connection: PsaConnection | None
    link: TicketLink | None
    mapping: MemberMapping | None


@dataclass
class Request:
    invocation: Invocation
    services: Services
    account: Account
    args: str = ""
    progress: Progress = field(default=_no_progress)
    _snapshot: Snapshot | None = field(default=None, repr=False)

    async def snapshot(self) -> Snapshot:
        """Connection, link and mapping of this request, read once; `refresh()` forgets it."""
        if self._snapshot is None:
            async with self.services.store.unit() as uow:
                account_id, conversation = self.account.id, self.conversation
                link = await uow.links.get(account_id, conversation.key)
                if link is None and conversation.thread_id:
                    # a thread without its own link uses its channel's
                    link = await uow.links.get(account_id, conversation.channel_id)
                self._snapshot = Snapshot(
                    connection=await uow.connections.get(account_id),
                    link=link,
                    mapping=await uow.mappings.get(account_id, self.user.id),
                )
        return self._snapshot

    def refresh(self) -> None:
        self._snapshot = None

    @property
    def user(self) -> ChatUser:
        return self.invocation.user

    @property
    def conversation(self) -> Conversation:
        return self.invocation.conversation

    @property
    def account_ref(self) -> AccountRef:
        return AccountRef(self.account.id, self.account.platform, self.account.external_id)

    async def provider(self) -> PSAProvider:
        connection = (await self.snapshot()).connection
        if connection is None:
            raise NotConnected()
        return paced(await provider_for_connection(self.services, connection))

    async def is_owner(self) -> bool:
        if self.user.is_admin:
            return True
        async with self.services.store.unit() as uow:
            return await uow.owners.is_owner(self.account.id, self.user.id)

    async def may_bootstrap(self) -> bool:
        """Nobody owns this account yet and the platform can't name admins: first come."""
        if self.user.admin_known:
            return False
        async with self.services.store.unit() as uow:
            return await uow.owners.count(self.account.id) == 0 and (
                await uow.connections.get(self.account.id) is None
            )

    async def require_owner(self, what: str) -> None:
        if not await self.is_owner():
            raise NotOwner(what)

    async def link(self) -> TicketLink | None:
        """This conversation's link; a thread without its own link uses its channel's."""
        return (await self.snapshot()).link

    async def require_link(self) -> TicketLink:
        link = await self.link()
        if link is None:
            raise NotLinked()
        return link

    async def require_mapping(self) -> MemberMapping:
        mapping = (await self.snapshot()).mapping
        if mapping is None:
            raise NotMapped()
        return mapping

    async def require_connection(self) -> None:
        if (await self.snapshot()).connection is None:
            raise NotConnected()
