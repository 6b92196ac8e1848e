"""Ticket links: one per conversation (channel or thread) within an account."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import utcnow
from storage.models import TicketLink

MAX_LINKS_PER_TICKET = 100  # conversations one ticket's update is posted into


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, account_id: int, conversation_key: str) -> TicketLink | None:
        result = await self.session.execute(
            select(TicketLink).where(
                TicketLink.account_id == account_id,
                TicketLink.conversation_key == conversation_key,
            )
        )
        return result.scalar_one_or_none()

    async def set(
        self,
        account_id: int,
        conversation_key: str,
        *,
        channel_id: str,
        thread_id: str | None,
        ticket_id: int,
        ticket_summary: str,
        linked_by: str,
        board_id: int | None = None,
    ) -> TicketLink:
        """Link the conversation to a ticket, replacing any earlier link."""
        for _ in range(2):
            link = await self.get(account_id, conversation_key)
            try:
                async with self.session.begin_nested():
                    if link is None:
                        link = TicketLink(account_id=account_id, conversation_key=conversation_key)
                        self.session.add(link)
                    link.channel_id = channel_id
                    link.thread_id = thread_id
                    link.ticket_id = ticket_id
                    link.ticket_summary = ticket_summary[:200]
                    link.board_id = board_id
                    link.linked_by = linked_by
                    link.created_at = utcnow()
                return link
            except IntegrityError:
                continue  # someone linked the same conversation at the same moment; update it
        raise RuntimeError("could not save the ticket link")

    async def remember_board(
        self, account_id: int, link_id: int, ticket_id: int, board_id: int | None
    ) -> None:
        """Keep the board the linked ticket was last seen on (tickets move between boards).

        Only while the link still points at that ticket: a relink meanwhile keeps its own."""
        await self.session.execute(
            update(TicketLink)
            .where(
                TicketLink.account_id == account_id,
                TicketLink.id == link_id,
                TicketLink.ticket_id == ticket_id,
            )
            .values(board_id=board_id)
        )

    async def delete(self, account_id: int, conversation_key: str) -> bool:
        result = await self.session.execute(
            delete(TicketLink).where(
                TicketLink.account_id == account_id,
                TicketLink.conversation_key == conversation_key,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def is_linked(self, account_id: int, ticket_id: int) -> bool:
        """Whether any conversation of the account links this ticket (a callback is wanted)."""
        result = await self.session.execute(
            select(TicketLink.id)
            .where(TicketLink.account_id == account_id, TicketLink.ticket_id == ticket_id)
            .limit(1)
        )
        return result.first() is not None

    async def links_of(self, account_id: int, ticket_id: int) -> list[TicketLink]:
        """The conversations one ticket's updates go to, oldest link first, bounded."""
        result = await self.session.execute(
            select(TicketLink)
            .where(TicketLink.account_id == account_id, TicketLink.ticket_id == ticket_id)
            .order_by(TicketLink.id)
            .limit(MAX_LINKS_PER_TICKET)
        )
        return list(result.scalars())

    async def set_internal(self, account_id: int, conversation_key: str, internal: bool) -> bool:
        result = await self.session.execute(
            update(TicketLink)
            .where(
                TicketLink.account_id == account_id,
                TicketLink.conversation_key == conversation_key,
            )
            .values(internal=internal)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
