"""`Services` (process-wide) and `Request` (one invocation): the typed context handlers get."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.errors import NotConnected, NotLinked, NotMapped, NotOwner
from bot.core.events import AccountRef, EventBus
from bot.core.invocation import ChatUser, Conversation, Invocation
from bot.metrics import Metrics
from psa.connectwise.hosts import HostPolicy
from psa.provider import PSAProvider
from psa.registry import ProviderRegistry
from storage.base import utcnow
from storage.models import Account, MemberMapping, TicketLink
from storage.store import Store

if TYPE_CHECKING:
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


async def provider_for_account(services: Services, account_id: int) -> PSAProvider:
    """The live provider of an account's stored connection; `NotConnected` when there is none."""
    async with services.store.unit() as uow:
        row = await uow.connections.get(account_id)
        if row is None:
            raise NotConnected()
        settings = uow.connections.settings_of(row)
    return await services.registry.for_account(str(account_id), settings)


@dataclass
class Request:
    invocation: Invocation
    services: Services
    account: Account
    args: str = ""
    progress: Progress = field(default=_no_progress)

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
        return await provider_for_account(self.services, self.account.id)

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
        async with self.services.store.unit() as uow:
            link = await uow.links.get(self.account.id, self.conversation.key)
            if link is None and self.conversation.thread_id:
                link = await uow.links.get(self.account.id, self.conversation.channel_id)
            return link

    async def require_link(self) -> TicketLink:
        link = await self.link()
        if link is None:
            raise NotLinked()
        return link

    async def require_mapping(self) -> MemberMapping:
        async with self.services.store.unit() as uow:
            mapping = await uow.mappings.get(self.account.id, self.user.id)
        if mapping is None:
            raise NotMapped()
        return mapping

    async def require_connection(self) -> None:
        async with self.services.store.unit() as uow:
            if await uow.connections.get(self.account.id) is None:
                raise NotConnected()
