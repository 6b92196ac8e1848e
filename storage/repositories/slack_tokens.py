"""Slack OAuth tokens at rest (the rows slack_sdk's installation store writes, sealed by us)."""

from __future__ import annotations

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import CredentialCipher
from storage.slack_tables import slack_bots, slack_installations

TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


class SlackTokenRepository:
    def __init__(self, session: AsyncSession, cipher: CredentialCipher) -> None:
        self.session = session
        self.cipher = cipher

    async def rotate_all(self) -> int:
        """Re-encrypt every stored Slack token with the newest key; returns how many."""
        count = 0
        for table in (slack_installations, slack_bots):
            count += await self._rotate(table)
        return count

    async def _rotate(self, table: Table) -> int:
        names = [c for c in TOKEN_COLUMNS if c in table.c]
        rows = (await self.session.execute(select(table.c.id, *(table.c[n] for n in names)))).all()
        count = 0
        for row in rows:
            values = {
                name: self.cipher.rotate(value)
                for name, value in zip(names, row[1:], strict=True)
                if value
            }
            if values:
                await self.session.execute(
                    update(table).where(table.c.id == row[0]).values(**values)
                )
                count += len(values)
        return count
