"""Claiming due rows of a leased work queue (the intake, the callback deliveries).

A row is claimable when no live process holds its lease. Several processes may claim at
once: the candidates are picked with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one
writer), the lease is taken only where the row is still claimable, and only the rows this
owner now holds are returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import CallbackDelivery, IntakeItem

Leased = TypeVar("Leased", IntakeItem, CallbackDelivery)


async def claim_due_rows(
    session: AsyncSession,
    model: type[Leased],
    *,
    due: Sequence[ColumnElement[bool]],
    claimable: ColumnElement[bool],
    order_by: Sequence[Any],
    limit: int,
    owner: str,
    lease_values: Mapping[str, Any],
) -> list[Leased]:
    """Up to `limit` rows matching `due`, leased to `owner` with `lease_values`, by id."""
    candidates = (
        select(model.id)
        .where(*due)
        .order_by(*order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.execute(candidates)).scalars())
    if not ids:
        return []
    await session.execute(
        update(model)
        .where(model.id.in_(ids), claimable)
        .values(lease_owner=owner, **lease_values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        select(model)
        .where(model.id.in_(ids), model.lease_owner == owner)
        .order_by(model.id)
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())
