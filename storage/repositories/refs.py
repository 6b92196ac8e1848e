"""Conversation references: proactive-reply data and the post-history thread per conversation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import utcnow
from storage.models import ConversationRef


class ConversationRefRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, account_id: int, conversation_key: str) -> ConversationRef | None:
        result = await self.session.execute(
            select(ConversationRef).where(
                ConversationRef.account_id == account_id,
                ConversationRef.conversation_key == conversation_key,
            )
        )
        return result.scalar_one_or_none()

    async def _upsert(
        self, account_id: int, conversation_key: str, platform: str
    ) -> ConversationRef:
        ref = await self.get(account_id, conversation_key)
        if ref is not None:
            return ref
        ref = ConversationRef(
            account_id=account_id, conversation_key=conversation_key, platform=platform
        )
        try:
            async with self.session.begin_nested():
                self.session.add(ref)
        except IntegrityError:
            existing = await self.get(account_id, conversation_key)
            assert existing is not None
            return existing
        return ref

    async def save_reference(
        self, account_id: int, conversation_key: str, platform: str, reference_json: str
    ) -> ConversationRef:
        ref = await self._upsert(account_id, conversation_key, platform)
        ref.reference = reference_json
        ref.updated_at = utcnow()
        return ref

    async def set_history_thread(
        self,
        account_id: int,
        conversation_key: str,
        platform: str,
        *,
        thread_id: str | None,
        ticket_id: int | None,
    ) -> ConversationRef:
        ref = await self._upsert(account_id, conversation_key, platform)
        ref.history_thread_id = thread_id
        ref.history_ticket_id = ticket_id
        ref.updated_at = utcnow()
        return ref
