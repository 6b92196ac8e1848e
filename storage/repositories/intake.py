"""The intake: write commands stored in one short transaction before the platform is acked.

A transport records the row (already claimed by the process that will work on it) and only
then acknowledges the chat platform; the row stays `pending` until its command has an outcome
that was handed to its author. Claims are leases like the ledger's (owner token + expiry): a
process that dies leaves the row to be claimed again once its lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import IntakeItem, IntakeState
from storage.repositories.leases import claim_due_rows


@dataclass(frozen=True)
class NewIntake:
    platform: str
    account_external_id: str
    idempotency_key: str
    invocation: str  # JSON
    reply_to: str  # JSON


def _record_statement(insert: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING on the table (not the ORM entity), built
    once: given a list of rows it is one cached, compiled statement (SQLAlchemy's
    "insertmanyvalues"), where `.values([...])` compiled a new one for every batch."""
    table = IntakeItem.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(
            index_elements=["platform", "account_external_id", "idempotency_key"]
        )
        .returning(table.c.id, table.c.platform, table.c.account_external_id)
        .returning(table.c.idempotency_key)
    )


_RECORD = {False: _record_statement(sqlite_insert), True: _record_statement(postgresql_insert)}


class IntakeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_many(
        self, items: list[tuple[NewIntake, str]], now: datetime, lease: timedelta
    ) -> list[tuple[int, bool, bool]]:
        """Store many writes in one statement, each claimed by its own owner token:
        (id, fresh, finished) per item, in order; a repeated key (stored earlier, or earlier
        in the same list) gives the first row with fresh=False."""

        def key(item: NewIntake) -> tuple[str, str, str]:
            return (item.platform, item.account_external_id[:128], item.idempotency_key[:200])

        firsts: dict[tuple[str, str, str], tuple[NewIntake, str]] = {}
        for item, owner in items:
            firsts.setdefault(key(item), (item, owner))
        values = [
            {
                "platform": item.platform,
                "account_external_id": item.account_external_id[:128],
                "idempotency_key": item.idempotency_key[:200],
                "invocation": item.invocation,
                "reply_to": item.reply_to,
                "state": IntakeState.PENDING.value,
                "attempts": 1,
                "lease_owner": owner,
                "lease_until": now + lease,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for item, owner in firsts.values()
        ]
        statement = _RECORD[self.session.get_bind().dialect.name == "postgresql"]
        result = await self.session.execute(statement, values)
        inserted = {(p, a, k): i for i, p, a, k in result.all()}
        known: dict[tuple[str, str, str], tuple[int, bool]] = {}
        missing = [k for k in firsts if k not in inserted]
        if missing:
            found = await self.session.execute(
                select(
                    IntakeItem.id,
                    IntakeItem.platform,
                    IntakeItem.account_external_id,
                    IntakeItem.idempotency_key,
                    IntakeItem.state,
                ).where(
                    tuple_(
                        IntakeItem.platform,
                        IntakeItem.account_external_id,
                        IntakeItem.idempotency_key,
                    ).in_(missing)
                )
            )
            for i, p, a, k, state in found.all():
                known[(p, a, k)] = (i, state != IntakeState.PENDING.value)
        out: list[tuple[int, bool, bool]] = []
        given: set[tuple[str, str, str]] = set()
        for item, _ in items:
            wanted = key(item)
            if wanted in inserted:
                out.append((inserted[wanted], wanted not in given, False))
            else:
                row_id, finished = known[wanted]
                out.append((row_id, False, finished))
            given.add(wanted)
        return out

    async def find(
        self, platform: str, account_external_id: str, idempotency_key: str
    ) -> IntakeItem | None:
        result = await self.session.execute(
            select(IntakeItem).where(
                IntakeItem.platform == platform,
                IntakeItem.account_external_id == account_external_id[:128],
                IntakeItem.idempotency_key == idempotency_key[:200],
            )
        )
        return result.scalar_one_or_none()

    async def get(self, item_id: int) -> IntakeItem | None:
        result = await self.session.execute(
            select(IntakeItem)
            .where(IntakeItem.id == item_id)
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    @staticmethod
    def _claimable(now: datetime, owner: str | None = None) -> ColumnElement[bool]:
        free = or_(IntakeItem.lease_until.is_(None), IntakeItem.lease_until < now)
        if owner is not None:
            free = or_(free, IntakeItem.lease_owner == owner)
        return and_(IntakeItem.state == IntakeState.PENDING.value, free)

    async def claim(
        self, item_id: int, owner: str, now: datetime, lease: timedelta, *, renew: str | None = None
    ) -> bool:
        """Take (or, with `renew=` the current owner's token, keep) the lease on one row."""
        result = await self.session.execute(
            update(IntakeItem)
            .where(IntakeItem.id == item_id, self._claimable(now, renew))
            .values(
                lease_owner=owner,
                lease_until=now + lease,
                attempts=IntakeItem.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def claim_due(
        self, owner: str, now: datetime, lease: timedelta, platforms: list[str], limit: int
    ) -> list[IntakeItem]:
        """Claim up to `limit` due rows of these platforms that no live process holds."""
        if limit <= 0 or not platforms:
            return []
        return await claim_due_rows(
            self.session,
            IntakeItem,
            due=(
                self._claimable(now),
                IntakeItem.next_attempt_at <= now,
                IntakeItem.platform.in_(platforms),
            ),
            claimable=self._claimable(now),
            order_by=(IntakeItem.next_attempt_at, IntakeItem.id),
            limit=limit,
            owner=owner,
            lease_values={
                "lease_until": now + lease,
                "attempts": IntakeItem.attempts + 1,
                "updated_at": now,
            },
        )

    async def extend(self, item_id: int, owner: str, until: datetime) -> bool:
        result = await self.session.execute(
            update(IntakeItem)
            .where(
                IntakeItem.id == item_id,
                IntakeItem.lease_owner == owner,
                IntakeItem.state == IntakeState.PENDING.value,
            )
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def finish(self, item_id: int, owner: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(IntakeItem)
            .where(IntakeItem.id == item_id, IntakeItem.lease_owner == owner)
            .values(
                state=IntakeState.DONE.value,
                lease_owner=None,
                lease_until=None,
                finished_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def postpone(
        self, item_id: int, owner: str, next_attempt_at: datetime, error: str, now: datetime
    ) -> bool:
        """Give the lease back; the row is tried again at `next_attempt_at`."""
        result = await self.session.execute(
            update(IntakeItem)
            .where(
                IntakeItem.id == item_id,
                IntakeItem.lease_owner == owner,
                IntakeItem.state == IntakeState.PENDING.value,
            )
            .values(
                lease_owner=None,
                lease_until=None,
                next_attempt_at=next_attempt_at,
                last_error=error[:500],
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def forget(self, item_ids: list[int]) -> None:
        """Delete rows just recorded in this transaction whose writer gave up waiting."""
        await self.session.execute(delete(IntakeItem).where(IntakeItem.id.in_(item_ids)))

    async def purge_done(self, before: datetime, limit: int = 500) -> int:
        """Forget finished rows older than `before` (they only served to spot repeats)."""
        ids = list(
            (
                await self.session.execute(
                    select(IntakeItem.id)
                    .where(
                        IntakeItem.state == IntakeState.DONE.value,
                        IntakeItem.finished_at < before,
                    )
                    .limit(limit)
                )
            ).scalars()
        )
        if not ids:
            return 0
        await self.session.execute(delete(IntakeItem).where(IntakeItem.id.in_(ids)))
        return len(ids)

    async def pending_count(self) -> int:
        result = await self.session.execute(
            select(func.count()).where(IntakeItem.state == IntakeState.PENDING.value)
        )
        return int(result.scalar_one())
