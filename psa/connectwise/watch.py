"""The reads behind two-way updates: a ticket's notes after a known one, and which of a set of
tickets changed since a time (the reconcile's one request per pass). Every read is bounded."""

from __future__ import annotations

from datetime import datetime

from psa.connectwise import conditions as cw
from psa.connectwise.client import ConnectWiseClient
from psa.connectwise.parse import parse_note, parse_ticket
from psa.types import Note, Ticket

WATCH_FIELDS = "id,summary,board,status,closedFlag,_info"
MAX_TICKETS_PER_QUERY = 50  # ids in one `id in (...)` condition


async def newest_note_id(client: ConnectWiseClient, ticket_id: int) -> int:
    rows = await client.get_all(
        f"service/tickets/{int(ticket_id)}/notes",
        {"orderBy": "id desc", "fields": "id"},
        limit=1,
        operation="read notes",
    )
    return max((int(r.get("id") or 0) for r in rows if isinstance(r, dict)), default=0)


async def notes_after(
    client: ConnectWiseClient, ticket_id: int, after: int, limit: int
) -> list[Note]:
    """At most `limit` notes with an id above `after`, oldest first."""
    rows = await client.get_all(
        f"service/tickets/{int(ticket_id)}/notes",
        {"conditions": str(cw.gt("id", int(after))), "orderBy": "id asc"},
        page_size=limit,
        limit=limit,
        operation="read notes",
    )
    return [parse_note(r, ticket_id) for r in rows if isinstance(r, dict)]


async def updated_since(
    client: ConnectWiseClient, ticket_ids: list[int], since: datetime
) -> list[Ticket]:
    """Those of `ticket_ids` (at most MAX_TICKETS_PER_QUERY) ConnectWise updated after `since`."""
    ids = sorted(set(ticket_ids))[:MAX_TICKETS_PER_QUERY]
    if not ids:
        return []
    condition = cw.all_of([cw.in_("id", ids), cw.gt("lastUpdated", since)])
    rows = await client.get_all(
        "service/tickets",
        {"conditions": str(condition), "fields": WATCH_FIELDS, "orderBy": "id asc"},
        page_size=len(ids),
        limit=len(ids),
        operation="reconcile tickets",
    )
    return [parse_ticket(r) for r in rows if isinstance(r, dict)]
