"""Member mappings: which PSA member a chat user posts as."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import utcnow
from storage.models import MemberMapping


class MappingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, account_id: int, chat_user_id: str) -> MemberMapping | None:
        result = await self.session.execute(
            select(MemberMapping).where(
                MemberMapping.account_id == account_id,
                MemberMapping.chat_user_id == chat_user_id,
            )
        )
        return result.scalar_one_or_none()

    async def set(
        self,
        account_id: int,
        chat_user_id: str,
        *,
        chat_user_name: str,
        member_id: int,
        member_identifier: str,
        member_name: str,
        member_email: str,
        mapped_by: str,
    ) -> MemberMapping:
        for _ in range(2):
            mapping = await self.get(account_id, chat_user_id)
            try:
                async with self.session.begin_nested():
                    if mapping is None:
                        mapping = MemberMapping(account_id=account_id, chat_user_id=chat_user_id)
                        self.session.add(mapping)
                    mapping.chat_user_name = chat_user_name[:200]
                    mapping.member_id = member_id
                    mapping.member_identifier = member_identifier[:64]
                    mapping.member_name = member_name[:200]
                    mapping.member_email = member_email[:255]
                    mapping.mapped_by = mapped_by
                    mapping.updated_at = utcnow()
                return mapping
            except IntegrityError:
                continue
        raise RuntimeError("could not save the member mapping")

    async def list(self, account_id: int) -> list[MemberMapping]:
        result = await self.session.execute(
            select(MemberMapping)
            .where(MemberMapping.account_id == account_id)
            .order_by(MemberMapping.chat_user_name, MemberMapping.id)
        )
        return list(result.scalars())

    async def delete(self, account_id: int, chat_user_id: str) -> bool:
        result = await self.session.execute(
            delete(MemberMapping).where(
                MemberMapping.account_id == account_id,
                MemberMapping.chat_user_id == chat_user_id,
            )
        )
        return bool(getattr(result, "rowcount", 0))
