"""The post ledger: exactly-once bookkeeping for notes and status changes sent to the PSA.

A row is written `pending` before anything is sent, keyed by the chat platform's idempotency
key (a repeat of the key finds the first row instead of making a second). A worker *claims* a
row (a lease: owner + expiry, and `attempts` counts up) before it talks to the PSA, and only
the lease holder may settle it as `posted` or `failed` or put it back for a later retry. On
PostgreSQL due rows are claimed with `FOR UPDATE SKIP LOCKED`, so several bot processes can
share one database; every claim is also a conditional UPDATE, which keeps SQLite safe too.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import LedgerKind, LedgerState, PostLedger


def new_ref() -> str:
    """The short reference printed in a note's footer and searched for during recovery."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class NewPost:
    account_id: int
    idempotency_key: str
    kind: LedgerKind
    ticket_id: int
    platform: str
    chat_user_id: str
    chat_user_name: str
    give_up_at: datetime
    conversation_key: str | None = None
    member_id: int | None = None
    member_identifier: str | None = None
    note_type: str | None = None
    body: str = ""
    status_id: int | None = None
    status_name: str | None = None
    previous_status_id: int | None = None
    details: dict[str, Any] | None = None


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_pending(
        self, post: NewPost, now: datetime, *, claim_for: tuple[str, timedelta] | None = None
    ) -> tuple[PostLedger, bool]:
        """The row for this idempotency key: (row, True) when new, (first row, False) if seen.

        With `claim_for=(owner, lease)` a new row is created already claimed by that owner, so
        the caller can post it at once without a background worker taking it first.
        """
        values = {
            "account_id": post.account_id,
            "idempotency_key": post.idempotency_key[:200],
            "ref": new_ref(),
            "kind": post.kind.value,
            "ticket_id": post.ticket_id,
            "conversation_key": post.conversation_key,
            "platform": post.platform,
            "chat_user_id": post.chat_user_id,
            "chat_user_name": post.chat_user_name[:200],
            "member_id": post.member_id,
            "member_identifier": post.member_identifier,
            "note_type": post.note_type,
            "body": post.body,
            "status_id": post.status_id,
            "status_name": post.status_name,
            "previous_status_id": post.previous_status_id,
            "details": post.details,
            "state": LedgerState.PENDING.value,
            "attempts": 1 if claim_for else 0,
            "lease_owner": claim_for[0] if claim_for else None,
            "lease_until": now + claim_for[1] if claim_for else None,
            "created_at": now,
            "updated_at": now,
            "next_attempt_at": now,
            "give_up_at": post.give_up_at,
        }
        # One statement: the new row, or nothing when the key was recorded before (a repeat).
        dialect = self.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        result = await self.session.execute(
            insert(PostLedger)
            .values(values)
            .on_conflict_do_nothing(index_elements=["account_id", "idempotency_key"])
            .returning(PostLedger)
        )
        row = result.scalar_one_or_none()
        if row is not None:
            return row, True
        first = await self.find_by_key(post.account_id, post.idempotency_key)
        assert first is not None
        return first, False

    async def find_by_key(self, account_id: int, idempotency_key: str) -> PostLedger | None:
        result = await self.session.execute(
            select(PostLedger).where(
                PostLedger.account_id == account_id,
                PostLedger.idempotency_key == idempotency_key[:200],
            )
        )
        return result.scalar_one_or_none()

    async def get(self, ledger_id: int) -> PostLedger | None:
        """A row by id, freshly read (the worker's view; rows carry their account)."""
        result = await self.session.execute(
            select(PostLedger)
            .where(PostLedger.id == ledger_id)
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    # -- claiming -----------------------------------------------------------------------------

    @staticmethod
    def _claimable(now: datetime) -> ColumnElement[bool]:
        return and_(
            PostLedger.state == LedgerState.PENDING.value,
            or_(PostLedger.lease_until.is_(None), PostLedger.lease_until < now),
        )

    async def _defer_orphans(
        self, now: datetime, settle: timedelta, ledger_id: int | None = None
    ) -> None:
        """Rows whose holder died mid-attempt (lease run out, never given back) wait until that
        attempt is certainly over (its lease's end) plus `settle`: ConnectWise may still apply
        a POST it received, so nobody looks for the note, or posts it again, before then."""
        query = select(PostLedger.id, PostLedger.lease_owner, PostLedger.lease_until).where(
            PostLedger.state == LedgerState.PENDING.value,
            PostLedger.lease_owner.is_not(None),
            PostLedger.lease_until < now,
        )
        if ledger_id is not None:
            query = query.where(PostLedger.id == ledger_id)
        orphans = (await self.session.execute(query.limit(100))).all()
        for row_id, owner, until in orphans:
            assert until is not None  # selected by lease_until < now
            await self.session.execute(
                update(PostLedger)
                .where(PostLedger.id == row_id, PostLedger.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, next_attempt_at=until + settle)
                .execution_options(synchronize_session=False)
            )

    async def claim(
        self,
        ledger_id: int,
        owner: str,
        now: datetime,
        lease: timedelta,
        *,
        orphan_settle: timedelta | None = None,
    ) -> PostLedger | None:
        """Take the lease on one pending row, if nobody holds it and it is due; None otherwise.

        With `orphan_settle`, a row left by a holder that died is first deferred (see
        `_defer_orphans`)."""
        due: list[ColumnElement[bool]] = []
        if orphan_settle is not None:
            await self._defer_orphans(now, orphan_settle, ledger_id)
            due.append(PostLedger.next_attempt_at <= now)
        result = await self.session.execute(
            update(PostLedger)
            .where(PostLedger.id == ledger_id, self._claimable(now), *due)
            .values(
                lease_owner=owner,
                lease_until=now + lease,
                attempts=PostLedger.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if not getattr(result, "rowcount", 0):
            return None
        return await self.get(ledger_id)

    async def claim_due(
        self,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int = 20,
        *,
        orphan_settle: timedelta | None = None,
        skip_accounts: Sequence[int] = (),
        per_account: int | None = None,
    ) -> list[PostLedger]:
        """Claim up to `limit` due rows that no live worker holds: none of `skip_accounts`,
        and at most `per_account` of any one account (fairness between tenants)."""
        if orphan_settle is not None:
            await self._defer_orphans(now, orphan_settle)
        due = [self._claimable(now), PostLedger.next_attempt_at <= now]
        if skip_accounts:
            due.append(PostLedger.account_id.not_in(list(skip_accounts)))
        order = (PostLedger.next_attempt_at, PostLedger.id)
        candidates = select(PostLedger.id).where(*due)
        if per_account is not None:
            ranked = (
                select(
                    PostLedger.id,
                    func.row_number()
                    .over(partition_by=PostLedger.account_id, order_by=order)
                    .label("rank"),
                )
                .where(*due)
                .subquery()
            )
            fair = select(ranked.c.id).where(ranked.c.rank <= per_account)
            candidates = select(PostLedger.id).where(PostLedger.id.in_(fair))
        candidates = candidates.order_by(*order).limit(limit).with_for_update(skip_locked=True)
        ids = list((await self.session.execute(candidates)).scalars())
        if not ids:
            return []
        await self.session.execute(
            update(PostLedger)
            .where(PostLedger.id.in_(ids), self._claimable(now))
            .values(
                lease_owner=owner,
                lease_until=now + lease,
                attempts=PostLedger.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(
            select(PostLedger)
            .where(PostLedger.id.in_(ids), PostLedger.lease_owner == owner)
            .where(PostLedger.lease_until == now + lease)
            .order_by(PostLedger.id)
            .execution_options(populate_existing=True)
        )
        return list(result.scalars())

    # -- settling -----------------------------------------------------------------------------

    @staticmethod
    def _release_statement(
        ledger_id: int, owner: str, now: datetime, values: dict[str, Any]
    ) -> Update:
        """Apply `values` and give the lease back, if `owner` still holds a pending row."""
        return (
            update(PostLedger)
            .where(
                PostLedger.id == ledger_id,
                PostLedger.lease_owner == owner,
                PostLedger.state == LedgerState.PENDING.value,
            )
            .values(lease_owner=None, lease_until=None, updated_at=now, **values)
        )

    async def _release(self, ledger_id: int, owner: str, now: datetime, **values: Any) -> bool:
        """`_release_statement`; whether a row was released."""
        result = await self.session.execute(
            self._release_statement(ledger_id, owner, now, values).execution_options(
                synchronize_session=False
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def _settled(
        self, ledger_id: int, owner: str, now: datetime, **values: Any
    ) -> PostLedger | None:
        """`_release`, returning the settled row as stored (one statement, no read after)."""
        result = await self.session.execute(
            self._release_statement(ledger_id, owner, now, values)
            .returning(PostLedger)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def extend_lease(self, ledger_id: int, owner: str, until: datetime) -> bool:
        """Keep holding a row while its attempt runs; False once the lease was lost."""
        result = await self.session.execute(
            update(PostLedger)
            .where(
                PostLedger.id == ledger_id,
                PostLedger.lease_owner == owner,
                PostLedger.state == LedgerState.PENDING.value,
            )
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def mark_posted(
        self,
        ledger_id: int,
        owner: str,
        psa_object_id: str,
        now: datetime,
        *,
        ticket_id: int | None = None,
    ) -> PostLedger | None:
        """Settle as posted (`ticket_id` for a new ticket, whose id is known only now): the row
        as settled, or None if `owner` no longer holds it."""
        extra: dict[str, Any] = {} if ticket_id is None else {"ticket_id": ticket_id}
        return await self._settled(
            ledger_id,
            owner,
            now,
            **extra,
            state=LedgerState.POSTED.value,
            psa_object_id=psa_object_id,
            last_error=None,
            error_kind=None,
            error_context=None,
            finished_at=now,
        )

    async def mark_failed(
        self,
        ledger_id: int,
        owner: str,
        error_kind: str,
        message: str,
        now: datetime,
        context: dict[str, Any] | None = None,
    ) -> PostLedger | None:
        """Settle as failed: the error's kind and context (worded when shown) and its message
        as worded now (the fallback). The row as settled, or None as for `mark_posted`."""
        return await self._settled(
            ledger_id,
            owner,
            now,
            state=LedgerState.FAILED.value,
            error_kind=error_kind[:64],
            error_context=context,
            last_error=message[:500],
            finished_at=now,
        )

    async def reschedule(
        self,
        ledger_id: int,
        owner: str,
        next_attempt_at: datetime,
        error_kind: str,
        message: str,
        now: datetime,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Give the lease back and try again at `next_attempt_at`."""
        return await self._release(
            ledger_id,
            owner,
            now,
            next_attempt_at=next_attempt_at,
            error_kind=error_kind[:64],
            error_context=context,
            last_error=message[:500],
        )

    # -- reading history ----------------------------------------------------------------------

    async def recent(
        self,
        account_id: int,
        *,
        conversation_key: str | None = None,
        ticket_id: int | None = None,
        chat_user_id: str | None = None,
        limit: int = 10,
    ) -> list[PostLedger]:
        query = select(PostLedger).where(PostLedger.account_id == account_id)
        if conversation_key is not None:
            query = query.where(PostLedger.conversation_key == conversation_key)
        if ticket_id is not None:
            query = query.where(PostLedger.ticket_id == ticket_id)
        if chat_user_id is not None:
            query = query.where(PostLedger.chat_user_id == chat_user_id)
        result = await self.session.execute(
            query.order_by(PostLedger.created_at.desc(), PostLedger.id.desc()).limit(limit)
        )
        return list(result.scalars())

    async def pending_count(self) -> int:
        result = await self.session.execute(
            select(func.count()).where(PostLedger.state == LedgerState.PENDING.value)
        )
        return int(result.scalar_one())
