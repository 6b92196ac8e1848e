"""The PSA provider interface: every operation psabot needs from a PSA.

Implementations (psa/connectwise/provider.py) translate these calls into the PSA's API and
its answers into the normalized records of psa/types.py. They raise only errors from
psa/errors.py. A provider instance belongs to exactly one account's connection; it keeps its
HTTP session open between calls and is closed with `aclose()`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from psa.types import (
    Board,
    Company,
    Configuration,
    ConnectionCheck,
    Member,
    NewTicket,
    NewTimeEntry,
    Note,
    NoteType,
    Priority,
    SearchQuery,
    Status,
    Ticket,
    TimeEntry,
)


class PSAProvider(Protocol):
    """Operations on one PSA account. All methods may raise `psa.errors.PSAError`."""

    name: str

    async def test_connection(self) -> ConnectionCheck:
        """Authenticate and prove read access to tickets; raise on any problem."""
        ...

    async def get_ticket(self, ticket_id: int) -> Ticket:
        """One ticket; `NotFound` if it does not exist."""
        ...

    async def search_tickets(self, query: SearchQuery) -> list[Ticket]:
        """Tickets matching words / company / board / open-closed, newest first."""
        ...

    async def post_note(
        self, ticket_id: int, text: str, note_type: NoteType, member: Member | None
    ) -> Note:
        """Add a note as `member` (the API member when None). Never retried blindly."""
        ...

    async def find_note_containing(self, ticket_id: int, marker: str) -> Note | None:
        """The note on the ticket whose text contains `marker`, if any (exact recovery check)."""
        ...

    async def update_ticket_status(
        self, ticket_id: int, status_id: int, *, current: Ticket | None = None
    ) -> Ticket:
        """Move the ticket to a status of its own board; `ValidationFailed` otherwise.

        `current` is the ticket as the caller has just read it: its board is checked without
        reading the ticket again. The change is sent once, never repeated blindly: whoever
        retries it reads the ticket first, so a change made in the PSA meanwhile stands.
        """
        ...

    async def create_ticket(self, ticket: NewTicket) -> Ticket:
        """Create a service ticket. Never retried blindly (no idempotency key exists)."""
        ...

    async def find_new_ticket(
        self, company_id: int, summary: str, since: datetime, marker: str
    ) -> Ticket | None:
        """A ticket of the company entered after `since` with this summary and a note
        containing `marker` (the recovery check before creating it again); bounded."""
        ...

    async def post_time_entry(self, entry: NewTimeEntry) -> TimeEntry:
        """Add a time entry charged to the ticket. Never retried blindly."""
        ...

    async def find_time_entry_containing(self, ticket_id: int, marker: str) -> TimeEntry | None:
        """The ticket's time entry whose notes contain `marker`, if any (recovery check)."""
        ...

    async def list_priorities(self) -> list[Priority]:
        """Ticket priorities, in their sort order."""
        ...

    async def get_ticket_statuses(self, board_id: int) -> list[Status]:
        """Active statuses of a board, in board order."""
        ...

    async def list_boards(self) -> list[Board]:
        """Active service boards."""
        ...

    async def list_companies(self, name_contains: str = "", limit: int = 25) -> list[Company]:
        """Companies, optionally filtered by name."""
        ...

    async def get_company(self, company_id: int) -> Company:
        """One company; `NotFound` if it does not exist."""
        ...

    async def list_members(self) -> list[Member]:
        """Every member (active and inactive; callers filter)."""
        ...

    async def get_member(self, identifier: str) -> Member:
        """A member by identifier (user name) or numeric id; `NotFound` otherwise."""
        ...

    async def find_members_by_email(self, email: str) -> list[Member]:
        """Active, non-API members with this email (case-insensitive)."""
        ...

    async def get_ticket_configurations(self, ticket_id: int) -> list[Configuration]:
        """Configuration items attached to the ticket."""
        ...

    def ticket_url(self, ticket_id: int) -> str:
        """The ticket's page in the PSA's web UI (for "Open in ConnectWise" links)."""
        ...

    def ticket_id_in_url(self, url: str) -> int | None:
        """The ticket a link to this connection's own web UI names, or None (another site,
        another company, not a ticket page): what a link unfurl may look up."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP session."""
        ...
