"""The account's PSA connection: credentials go in encrypted and come out only in memory."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from psa.types import ConnectionSettings
from storage.base import utcnow
from storage.crypto import CredentialCipher, mask
from storage.models import PsaConnection


def decrypt_settings(row: PsaConnection, cipher: CredentialCipher) -> ConnectionSettings:
    """The connection with its keys in clear (memory only)."""
    secrets = cipher.decrypt_json(row.credentials)
    return ConnectionSettings(
        provider=row.provider,
        site=row.site,
        company_id=row.company_id,
        public_key=secrets.get("public_key", ""),
        private_key=secrets.get("private_key", ""),
        client_id=row.client_id,
    )


class ConnectionRepository:
    def __init__(self, session: AsyncSession, cipher: CredentialCipher) -> None:
        self.session = session
        self.cipher = cipher

    async def get(self, account_id: int) -> PsaConnection | None:
        result = await self.session.execute(
            select(PsaConnection).where(PsaConnection.account_id == account_id)
        )
        return result.scalar_one_or_none()

    async def save(
        self,
        account_id: int,
        settings: ConnectionSettings,
        *,
        saved_by: str,
        validated_at: datetime | None = None,
    ) -> PsaConnection:
        """Create or replace the account's connection (one per account)."""
        row = await self.get(account_id)
        if row is None:
            row = PsaConnection(account_id=account_id, created_by=saved_by)
            self.session.add(row)
        row.provider = settings.provider
        row.site = settings.site
        row.company_id = settings.company_id
        row.client_id = settings.client_id
        row.credentials = self.cipher.encrypt_json(
            {"public_key": settings.public_key, "private_key": settings.private_key}
        )
        row.public_key_hint = mask(settings.public_key)
        row.private_key_hint = mask(settings.private_key)
        row.updated_at = utcnow()
        row.last_validated_at = validated_at
        row.last_validation_error = None
        await self.session.flush()
        return row

    def settings_of(self, row: PsaConnection) -> ConnectionSettings:
        return decrypt_settings(row, self.cipher)

    async def record_validation(self, account_id: int, error: str | None) -> None:
        row = await self.get(account_id)
        if row is None:
            return
        if error is None:
            row.last_validated_at = utcnow()
            row.last_validation_error = None
        else:
            row.last_validation_error = error[:500]

    async def set_time_defaults(
        self, account_id: int, work_type_id: int | None, work_role_id: int | None
    ) -> bool:
        """The work type and role time entries from chat get; False without a connection."""
        row = await self.get(account_id)
        if row is None:
            return False
        row.work_type_id = work_type_id
        row.work_role_id = work_role_id
        await self.session.flush()
        return True

    async def delete(self, account_id: int) -> bool:
        result = await self.session.execute(
            delete(PsaConnection).where(PsaConnection.account_id == account_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def rotate_all(self) -> int:
        """Re-encrypt every stored credential with the newest key; returns how many rows."""
        rows = (await self.session.execute(select(PsaConnection))).scalars().all()
        for row in rows:
            row.credentials = self.cipher.rotate(row.credentials)
        await self.session.flush()
        return len(rows)
