"""Accounts (chat workspaces) and their owners."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, AccountOwner


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, account_id: int) -> Account | None:
        return await self.session.get(Account, account_id)

    async def find(self, platform: str, external_id: str) -> Account | None:
        result = await self.session.execute(
            select(Account).where(Account.platform == platform, Account.external_id == external_id)
        )
        return result.scalar_one_or_none()

    async def get_or_create(self, platform: str, external_id: str, name: str = "") -> Account:
        """The account of a workspace, created on first contact (safe under concurrency)."""
        found = await self.find(platform, external_id)
        if found is not None:
            if name and found.name != name:
                found.name = name[:200]
            return found
        account = Account(platform=platform, external_id=external_id, name=name[:200])
        try:
            async with self.session.begin_nested():
                self.session.add(account)
        except IntegrityError:
            existing = await self.find(platform, external_id)
            assert existing is not None
            return existing
        return account


class OwnerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, account_id: int) -> list[AccountOwner]:
        result = await self.session.execute(
            select(AccountOwner)
            .where(AccountOwner.account_id == account_id)
            .order_by(AccountOwner.created_at, AccountOwner.id)
        )
        return list(result.scalars())

    async def count(self, account_id: int) -> int:
        result = await self.session.execute(
            select(func.count()).where(AccountOwner.account_id == account_id)
        )
        return int(result.scalar_one())

    async def is_owner(self, account_id: int, user_id: str) -> bool:
        result = await self.session.execute(
            select(AccountOwner.id).where(
                AccountOwner.account_id == account_id, AccountOwner.user_id == user_id
            )
        )
        return result.first() is not None

    async def add(
        self, account_id: int, user_id: str, user_name: str = "", added_by: str = ""
    ) -> bool:
        """Add an owner; False when they already were one."""
        if await self.is_owner(account_id, user_id):
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(
                    AccountOwner(
                        account_id=account_id,
                        user_id=user_id,
                        user_name=user_name[:200],
                        added_by=added_by,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def remove(self, account_id: int, user_id: str) -> bool:
        result = await self.session.execute(
            delete(AccountOwner).where(
                AccountOwner.account_id == account_id, AccountOwner.user_id == user_id
            )
        )
        return bool(getattr(result, "rowcount", 0))
