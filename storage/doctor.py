"""Read-only probes for start-up and `psabot check`: URL, reachability, schema, keys."""

from __future__ import annotations

from dataclasses import dataclass

from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.crypto import CredentialCipher, CredentialDecryptError
from storage.models import Account, PsaConnection
from storage.slack_tables import slack_bots, slack_installations
from storage.store import Store

Engine = AsyncEngine
TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
# The drivers psabot ships; any other spelling fails later with a confusing import error.
DRIVERS = {"postgresql+asyncpg": "PostgreSQL", "sqlite+aiosqlite": "SQLite"}


class UnknownRevision(Exception):
    """The database was migrated by a newer psabot than this one."""


@dataclass(frozen=True)
class UrlParts:
    driver: str
    backend: str
    host: str
    port: int
    database: str
    display: str  # password hidden


def url_parts(url: str) -> UrlParts | None:
    """The pieces of a database URL, or None when it does not parse."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    return UrlParts(
        driver=parsed.drivername,
        backend=parsed.get_backend_name(),
        host=parsed.host or "localhost",
        port=parsed.port or 5432,
        database=parsed.database or "",
        display=parsed.render_as_string(hide_password=True),
    )


async def probe(engine: AsyncEngine) -> None:
    """Open one connection; raises what the driver raised."""
    async with engine.connect():
        pass


async def schema_state(engine: AsyncEngine) -> tuple[str | None, list[str]]:
    """The database's revision and the revisions (oldest first) it still lacks."""
    current = await migrate.current_revision(engine)
    script = ScriptDirectory.from_config(migrate.alembic_config())
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise UnknownRevision(current)
    missing = [r.revision for r in script.iterate_revisions("heads", current or "base")]
    return current, list(reversed(missing))


async def undecryptable(engine: AsyncEngine, cipher: CredentialCipher) -> tuple[int, int]:
    """(stored secrets, how many `cipher` cannot decrypt): PSA connections and Slack tokens."""
    async with engine.connect() as conn:
        blobs = list((await conn.execute(select(PsaConnection.credentials))).scalars())
        for table in (slack_installations, slack_bots):
            names = [c for c in TOKEN_COLUMNS if c in table.c]
            for row in (await conn.execute(select(*(table.c[n] for n in names)))).all():
                blobs.extend(value for value in row if value)
    bad = 0
    for blob in blobs:
        try:
            cipher.decrypt(blob)
        except CredentialDecryptError:
            bad += 1
    return len(blobs), bad


@dataclass(frozen=True)
class StoredConnection:
    workspace: str
    site: str
    row: PsaConnection


async def stored_connections(store: Store) -> list[StoredConnection]:
    """Every account's PSA connection, with the workspace it belongs to."""
    async with store.unit() as uow:
        rows = (
            await uow.session.execute(
                select(PsaConnection, Account).join(Account, Account.id == PsaConnection.account_id)
            )
        ).all()
    return [
        StoredConnection(
            f"{account.platform} workspace {account.name or account.external_id}",
            connection.site,
            connection,
        )
        for connection, account in rows
    ]
