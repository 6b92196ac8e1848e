"""Per-channel unfurl choices of an account's owners (see `UnfurlSetting`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import utcnow
from storage.models import UnfurlSetting


class UnfurlRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, account_id: int, channel_id: str) -> UnfurlSetting | None:
        result = await self.session.execute(
            select(UnfurlSetting).where(
                UnfurlSetting.account_id == account_id, UnfurlSetting.channel_id == channel_id
            )
        )
        return result.scalar_one_or_none()

    async def allowed(self, account_id: int, channel_id: str) -> bool:
        """Whether an owner allowed unfurls in this channel (False when nobody decided)."""
        setting = await self.get(account_id, channel_id)
        return setting is not None and setting.allowed

    async def set(self, account_id: int, channel_id: str, allowed: bool, by: str) -> bool:
        """Record the owner's choice; True when it changed anything."""
        setting = await self.get(account_id, channel_id)
        if setting is None:
            setting = UnfurlSetting(
                account_id=account_id, channel_id=channel_id, allowed=allowed, set_by=by
            )
            try:
                async with self.session.begin_nested():
                    self.session.add(setting)
                return True
            except IntegrityError:  # another owner decided at the same moment: theirs first
                found = await self.get(account_id, channel_id)
                assert found is not None
                setting = found
        if setting.allowed == allowed:
            return False
        setting.allowed = allowed
        setting.set_by = by
        setting.updated_at = utcnow()
        return True
