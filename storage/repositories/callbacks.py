"""ConnectWise callbacks: each account's endpoint, the queue of verified deliveries, and what
was last seen of each linked ticket (to tell what changed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.base import utcnow
from storage.models import (
    CallbackDelivery,
    CallbackEndpoint,
    LedgerKind,
    LedgerState,
    PostLedger,
    PsaConnection,
    TicketLink,
    TicketWatch,
)
from storage.repositories.leases import claim_due_rows
from storage.repositories.links import LinkRepository

PENDING = "pending"
DONE = "done"


@dataclass(frozen=True)
class Seen:
    """A ticket as psabot saw it on one check."""

    status_id: int | None
    status_name: str
    closed: bool
    last_note_id: int
    ticket_updated_at: datetime | None


class CallbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- endpoints ----------------------------------------------------------------------------

    async def endpoint(self, account_id: int) -> CallbackEndpoint | None:
        result = await self.session.execute(
            select(CallbackEndpoint).where(CallbackEndpoint.account_id == account_id)
        )
        return result.scalar_one_or_none()

    async def endpoint_by_token_hash(self, token_hash: str) -> CallbackEndpoint | None:
        result = await self.session.execute(
            select(CallbackEndpoint).where(CallbackEndpoint.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def endpoints(self) -> list[CallbackEndpoint]:
        result = await self.session.execute(select(CallbackEndpoint).order_by(CallbackEndpoint.id))
        return list(result.scalars())

    async def save_endpoint(
        self,
        account_id: int,
        *,
        token_hash: str,
        base_url: str,
        level: str,
        callback_id: int | None,
        error: str | None,
    ) -> CallbackEndpoint:
        row = await self.endpoint(account_id)
        if row is None:
            row = CallbackEndpoint(account_id=account_id)
            self.session.add(row)
        now = utcnow()
        row.token_hash = token_hash
        row.base_url = base_url[:500]
        row.level = level
        row.callback_id = callback_id
        row.registered_at = now if error is None else None
        row.last_error = None if error is None else error[:500]
        row.updated_at = now
        await self.session.flush()
        return row

    async def claim_registration(self, account_id: int, seen_hash: str | None, mark: str) -> bool:
        """Take the right to (re-)register an account's callback: of several processes starting
        at once, only the one whose `mark` replaces the token hash it saw goes on."""
        if seen_hash is None:
            try:
                async with self.session.begin_nested():
                    self.session.add(
                        CallbackEndpoint(
                            account_id=account_id, token_hash=mark, base_url="", level=""
                        )
                    )
            except IntegrityError:
                return False
            return True
        result = await self.session.execute(
            update(CallbackEndpoint)
            .where(
                CallbackEndpoint.account_id == account_id,
                CallbackEndpoint.token_hash == seen_hash,
            )
            .values(token_hash=mark)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def connected_accounts(self) -> list[int]:
        result = await self.session.execute(
            select(PsaConnection.account_id).order_by(PsaConnection.account_id)
        )
        return list(result.scalars())

    async def delete_endpoint(self, account_id: int) -> None:
        await self.session.execute(
            delete(CallbackEndpoint).where(CallbackEndpoint.account_id == account_id)
        )

    # -- deliveries ---------------------------------------------------------------------------

    async def enqueue(
        self, account_id: int, message_key: str, ticket_id: int, action: str, now: datetime
    ) -> bool:
        """Queue a verified delivery; False when this message was received before (a replay)."""
        try:
            async with self.session.begin_nested():
                self.session.add(
                    CallbackDelivery(
                        account_id=account_id,
                        message_key=message_key[:200],
                        ticket_id=ticket_id,
                        action=action[:16],
                        state=PENDING,
                        next_attempt_at=now,
                        received_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _claimable(now: datetime) -> ColumnElement[bool]:
        free = or_(CallbackDelivery.lease_until.is_(None), CallbackDelivery.lease_until < now)
        return and_(
            CallbackDelivery.state == PENDING, free, CallbackDelivery.next_attempt_at <= now
        )

    async def claim_due(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[CallbackDelivery]:
        """Up to `limit` due deliveries no live process holds, leased to `owner`."""
        return await claim_due_rows(
            self.session,
            CallbackDelivery,
            due=(self._claimable(now),),
            claimable=self._claimable(now),
            order_by=(CallbackDelivery.next_attempt_at, CallbackDelivery.id),
            limit=limit,
            owner=owner,
            lease_values={"lease_until": now + lease, "attempts": CallbackDelivery.attempts + 1},
        )

    async def finish(
        self, account_id: int, ticket_id: int, ids: list[int], received_by: datetime, now: datetime
    ) -> None:
        """Done: the claimed rows, and every other pending delivery of the same ticket received
        before the check began (that check already covered it)."""
        await self.session.execute(
            update(CallbackDelivery)
            .where(
                CallbackDelivery.state == PENDING,
                or_(
                    CallbackDelivery.id.in_(ids),
                    and_(
                        CallbackDelivery.account_id == account_id,
                        CallbackDelivery.ticket_id == ticket_id,
                        CallbackDelivery.received_at <= received_by,
                    ),
                ),
            )
            .values(state=DONE, finished_at=now, lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )

    async def postpone(
        self, ids: list[int], until: datetime, error: str, *, give_up: bool, now: datetime
    ) -> None:
        values: dict[str, object] = {
            "lease_owner": None,
            "lease_until": None,
            "next_attempt_at": until,
            "last_error": error[:500],
        }
        if give_up:
            values |= {"state": DONE, "finished_at": now}
        await self.session.execute(
            update(CallbackDelivery)
            .where(CallbackDelivery.id.in_(ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def purge_done(self, before: datetime, limit: int = 500) -> int:
        """Forget finished deliveries older than `before` (the replay guard's window)."""
        ids = list(
            (
                await self.session.execute(
                    select(CallbackDelivery.id)
                    .where(CallbackDelivery.state == DONE, CallbackDelivery.received_at < before)
                    .limit(limit)
                )
            ).scalars()
        )
        if ids:
            await self.session.execute(delete(CallbackDelivery).where(CallbackDelivery.id.in_(ids)))
        return len(ids)

    async def pending_count(self) -> int:
        result = await self.session.execute(
            select(func.count()).where(CallbackDelivery.state == PENDING)
        )
        return int(result.scalar_one())

    # -- watched tickets ----------------------------------------------------------------------

    async def watch(self, account_id: int, ticket_id: int) -> TicketWatch | None:
        result = await self.session.execute(
            select(TicketWatch)
            .where(TicketWatch.account_id == account_id, TicketWatch.ticket_id == ticket_id)
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def seed_watch(self, account_id: int, ticket_id: int, seen: Seen) -> bool:
        """The first look at a ticket; False when someone else already has one."""
        try:
            async with self.session.begin_nested():
                self.session.add(
                    TicketWatch(
                        account_id=account_id,
                        ticket_id=ticket_id,
                        status_id=seen.status_id,
                        status_name=seen.status_name[:100],
                        closed=seen.closed,
                        last_note_id=seen.last_note_id,
                        ticket_updated_at=seen.ticket_updated_at,
                        checked_at=utcnow(),
                        version=0,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def advance_watch(self, watch: TicketWatch, seen: Seen, now: datetime) -> bool:
        """Record a newer look, only if nobody recorded one since `watch` was read (so two
        processes checking the same ticket post its update once)."""
        result = await self.session.execute(
            update(TicketWatch)
            .where(TicketWatch.id == watch.id, TicketWatch.version == watch.version)
            .values(
                status_id=seen.status_id,
                status_name=seen.status_name[:100],
                closed=seen.closed,
                last_note_id=max(seen.last_note_id, watch.last_note_id),
                ticket_updated_at=seen.ticket_updated_at,
                checked_at=now,
                version=watch.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def forget_unlinked(self, account_id: int, ticket_id: int) -> bool:
        """Drop the watch of a ticket no conversation links any more (a later link starts
        from a fresh look, instead of reporting everything since the old one)."""
        if await LinkRepository(self.session).is_linked(account_id, ticket_id):
            return False
        await self.session.execute(
            delete(TicketWatch).where(
                TicketWatch.account_id == account_id, TicketWatch.ticket_id == ticket_id
            )
        )
        return True

    async def touch_watches(self, account_id: int, ticket_ids: list[int], now: datetime) -> None:
        """Checked, nothing changed: to the back of the reconcile's queue (the version stays,
        so a check running meanwhile still records its own look)."""
        if not ticket_ids:
            return
        await self.session.execute(
            update(TicketWatch)
            .where(TicketWatch.account_id == account_id, TicketWatch.ticket_id.in_(ticket_ids))
            .values(checked_at=now)
            .execution_options(synchronize_session=False)
        )

    async def linked_tickets(self, account_id: int) -> list[int]:
        result = await self.session.execute(
            select(TicketLink.ticket_id).where(TicketLink.account_id == account_id).distinct()
        )
        return sorted(result.scalars())

    async def stalest_watches(self, account_id: int, limit: int) -> list[TicketWatch]:
        """The open linked tickets checked longest ago (the reconcile's bounded pass)."""
        linked = select(TicketLink.ticket_id).where(TicketLink.account_id == account_id)
        result = await self.session.execute(
            select(TicketWatch)
            .where(
                TicketWatch.account_id == account_id,
                TicketWatch.closed.is_(False),
                TicketWatch.ticket_id.in_(linked),
            )
            .order_by(TicketWatch.checked_at, TicketWatch.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def unwatched_links(self, account_id: int, limit: int) -> list[int]:
        """Linked tickets with no watch yet (linked before two-way was on, or seeding failed)."""
        watched = select(TicketWatch.ticket_id).where(TicketWatch.account_id == account_id)
        result = await self.session.execute(
            select(TicketLink.ticket_id)
            .where(TicketLink.account_id == account_id, TicketLink.ticket_id.not_in(watched))
            .distinct()
            .order_by(TicketLink.ticket_id)
            .limit(limit)
        )
        return list(result.scalars())

    # -- psabot's own changes -----------------------------------------------------------------

    async def own_status_change(
        self, account_id: int, ticket_id: int, status_id: int, since: datetime
    ) -> bool:
        """Did psabot itself move the ticket to `status_id` since `since` (posted or in flight)?"""
        result = await self.session.execute(
            select(PostLedger.id)
            .where(
                PostLedger.account_id == account_id,
                PostLedger.ticket_id == ticket_id,
                PostLedger.kind == LedgerKind.STATUS.value,
                PostLedger.status_id == status_id,
                PostLedger.state != LedgerState.FAILED.value,
                PostLedger.created_at >= since,
            )
            .limit(1)
        )
        return result.first() is not None

    async def own_notes(
        self, account_id: int, ticket_id: int, note_ids: list[int], refs: list[str]
    ) -> tuple[set[int], set[str]]:
        """Which of these note ids psabot posted, and which footer refs are psabot's own."""
        if not note_ids and not refs:
            return set(), set()
        conditions = []
        if note_ids:
            conditions.append(PostLedger.psa_object_id.in_([str(i) for i in note_ids]))
        if refs:
            conditions.append(PostLedger.ref.in_(refs))
        result = await self.session.execute(
            select(PostLedger.psa_object_id, PostLedger.ref).where(
                PostLedger.account_id == account_id,
                PostLedger.ticket_id == ticket_id,
                PostLedger.kind == LedgerKind.NOTE.value,
                or_(*conditions),
            )
        )
        ids: set[int] = set()
        own_refs: set[str] = set()
        for object_id, ref in result.all():
            if object_id and object_id.isdigit():
                ids.add(int(object_id))
            own_refs.add(ref)
        return ids, own_refs
