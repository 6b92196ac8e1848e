"""Migrations run identically on SQLite and PostgreSQL and match the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

import storage.slack_tables  # noqa: F401  (part of the schema)
from storage import migrate
from storage.base import Base
from storage.engine import create_engine

TABLES = {
    "accounts",
    "account_owners",
    "psa_connections",
    "ticket_links",
    "member_mappings",
    "post_ledger",
    "conversation_refs",
    "slack_installations",
    "slack_bots",
    "slack_oauth_states",
}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= TABLES
        assert await migrate.current_revision(engine) == migrate.head_revision()

        await migrate.downgrade(engine, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        assert await migrate.current_revision(engine) is None

        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= TABLES
    finally:
        await engine.dispose()


async def test_models_match_migrations(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


def test_one_revision_per_change() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(script.walk_revisions())
    # one revision per psabot table, one for Slack's three OAuth store tables; a single line
    assert len(revisions) >= len(TABLES) - 2
    assert len(script.get_heads()) == 1
    assert all(len(r._all_down_revisions) <= 1 for r in revisions)
