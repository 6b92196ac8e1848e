"""Telling the rest of the process how a ledger row ended: metrics and transport events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cachetools import LRUCache

from bot.core.events import AccountRef, EventBus, PostTransition
from bot.metrics import Metrics
from bot.outbox.records import preview, stored_error, work_of
from psa.provider import PSAProvider
from storage.models import LedgerState, PostLedger
from storage.store import Store

ProviderLookup = Callable[[int], Awaitable[PSAProvider]]


class Announcer:
    def __init__(
        self, store: Store, events: EventBus, providers: ProviderLookup, metrics: Metrics | None
    ) -> None:
        self.store = store
        self.events = events
        self.providers = providers
        self.metrics = metrics
        self._accounts: LRUCache[int, AccountRef] = LRUCache(10_000)

    async def settled(self, row: PostLedger, provider: PSAProvider | None) -> None:
        if self.metrics is not None:
            self.metrics.inc("psabot_ledger_transitions_total", kind=row.kind, state=row.state)
        if not self.events.has_subscribers:
            return
        account = await self._account(row.account_id)
        if account is None:
            return
        url = ""
        try:
            provider = provider or await self.providers(row.account_id)
            url = provider.ticket_url(row.ticket_id)
        except Exception:  # no connection any more: announce without a link
            url = ""
        await self.events.publish(
            PostTransition(
                account=account,
                ledger_id=row.id,
                conversation_key=row.conversation_key,
                ticket_id=row.ticket_id,
                kind=row.kind,
                state=row.state,
                who=row.chat_user_name or row.chat_user_id,
                note_type=row.note_type,
                preview=preview(row.body),
                status_name=row.status_name,
                error=stored_error(row) if row.state == LedgerState.FAILED.value else None,
                psa_object_id=row.psa_object_id,
                ticket_url=url,
                at=row.finished_at or row.updated_at,
                work=work_of(row),
            )
        )

    async def _account(self, account_id: int) -> AccountRef | None:
        cached = self._accounts.get(account_id)
        if cached is None:
            async with self.store.unit() as uow:
                account = await uow.accounts.get(account_id)
            if account is None:
                return None
            cached = AccountRef(account.id, account.platform, account.external_id)
            self._accounts[account_id] = cached  # accounts never change platform or id
        return cached
