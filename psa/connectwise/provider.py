"""The ConnectWise PSA provider: psa/provider.py's operations over the ConnectWise REST API."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote

from psa.cache import TTLCache
from psa.connectwise import conditions as cw
from psa.connectwise import work
from psa.connectwise.client import ConnectWiseClient, RetryPolicy
from psa.connectwise.hosts import ON_PREM_CODEBASE, HostPolicy
from psa.connectwise.links import ticket_id_in_url
from psa.connectwise.parse import (
    note_flags,
    parse_board,
    parse_company,
    parse_configuration,
    parse_member,
    parse_note,
    parse_status,
    parse_ticket,
    parse_tickets,
)
from psa.errors import FieldError, NotFound, PSAError, ValidationFailed
from psa.types import (
    Board,
    Company,
    Configuration,
    ConnectionCheck,
    ConnectionSettings,
    Member,
    NewTicket,
    NewTimeEntry,
    Note,
    NoteType,
    Priority,
    SearchQuery,
    Status,
    Ticket,
    TicketState,
    TimeEntry,
)

log = logging.getLogger(__name__)

RECOVERY_SCAN_LIMIT = 2000
RECOVERY_SCAN_PAGE_SIZE = 100  # 20 pages for the 2,000 newest notes: exactly the page cap
SEARCH_CACHE_TTL = 60.0  # company type-ahead answers; short, they are typed, not reference data
SEARCH_CACHE_MAXSIZE = 256
TICKET_FIELDS = "id,summary,company,board,status,priority,owner,contact,closedFlag,_info"


def _is_number(text: str) -> bool:
    """ASCII digits only: `int()` refuses many characters that `str.isdigit()` accepts."""
    return text.isascii() and text.isdigit()


def _records(body: Any, operation: str) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise PSAError("ConnectWise answered with an unexpected body", operation=operation)
    return [r for r in body if isinstance(r, dict)]


def _record(body: Any, operation: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PSAError("ConnectWise answered with an unexpected body", operation=operation)
    return body


class ConnectWiseProvider:
    name = "connectwise"

    def __init__(
        self,
        settings: ConnectionSettings,
        hosts: HostPolicy,
        *,
        cache: TTLCache | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        ca_bundle: str | Path | None = None,
    ) -> None:
        self.client = ConnectWiseClient(
            settings, hosts, timeout=timeout, retry=retry, ca_bundle=ca_bundle
        )
        self.cache = cache or TTLCache()
        # Type-ahead keys are as many as users type: their own cache, so a burst of searches
        # cannot push boards, members and statuses out of `cache`.
        self.search_cache = TTLCache(
            min(self.cache.ttl, SEARCH_CACHE_TTL), maxsize=SEARCH_CACHE_MAXSIZE
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- connection ---------------------------------------------------------------------------

    async def test_connection(self) -> ConnectionCheck:
        await self.client.base_url()
        info = _record(await self.client.get("system/info", operation="connection test"), "info")
        # Reading one ticket id proves the API member's role can see service tickets.
        await self.client.get(
            "service/tickets", {"pageSize": 1, "fields": "id"}, operation="connection test"
        )
        company = self.client.company_info
        return ConnectionCheck(
            company_name=str(company.get("CompanyName") or self.client.settings.company_id),
            version=str(info.get("version") or company.get("VersionCode") or ""),
            is_cloud=str(info["isCloud"]).lower() == "true" if "isCloud" in info else None,
            api_url=str(await self.client.base_url()),
        )

    # -- tickets ------------------------------------------------------------------------------

    async def get_ticket(self, ticket_id: int) -> Ticket:
        body = await self.client.get(
            f"service/tickets/{int(ticket_id)}", operation="get ticket", ticket_id=ticket_id
        )
        return parse_ticket(_record(body, "get ticket"))

    async def search_tickets(self, query: SearchQuery) -> list[Ticket]:
        clauses: list[cw.Condition | None] = []
        text = query.text.strip().lstrip("#")
        if _is_number(text):
            clauses.append(cw.any_of([cw.eq("id", int(text)), cw.contains("summary", text)]))
        else:
            clauses.append(cw.contains_words(["summary"], query.text))
        if query.company.strip():
            company = query.company.strip()
            clauses.append(
                cw.eq("company/id", int(company))
                if _is_number(company)
                else cw.contains_words(["company/name", "company/identifier"], company)
            )
        if query.board.strip():
            board = query.board.strip()
            clauses.append(
                cw.eq("board/id", int(board))
                if _is_number(board)
                else cw.contains_words(["board/name"], board)
            )
        if query.state is TicketState.OPEN:
            clauses.append(cw.eq("closedFlag", False))
        elif query.state is TicketState.CLOSED:
            clauses.append(cw.eq("closedFlag", True))
        params: dict[str, str | int] = {"orderBy": "id desc", "fields": TICKET_FIELDS}
        present = [c for c in clauses if c is not None]
        if present:
            params["conditions"] = str(cw.all_of(present))
        limit = max(1, min(query.limit, 100))
        rows = await self.client.get_all(
            "service/tickets", params, limit=limit, operation="search tickets"
        )
        return parse_tickets(rows)

    async def update_ticket_status(
        self, ticket_id: int, status_id: int, *, current: Ticket | None = None
    ) -> Ticket:
        if current is not None and current.id == ticket_id:
            ticket = current
        else:
            ticket = await self.get_ticket(ticket_id)
        board_id = ticket.board.id if ticket.board else 0
        statuses = await self.get_ticket_statuses(board_id)
        if not any(s.id == status_id for s in statuses):
            raise ValidationFailed(
                f"Status {status_id} is not a status of the ticket's board "
                f"{ticket.board.name if ticket.board else board_id}",
                field_errors=(FieldError("status", "not on this ticket's board"),),
                operation="change status",
                ticket_id=ticket_id,
            )
        try:
            resp = await self.client.request(
                "PATCH",
                f"service/tickets/{int(ticket_id)}",
                json=[{"op": "replace", "path": "status", "value": {"id": int(status_id)}}],
                # Not repeated here: a repeat sent after someone changed the status meanwhile
                # would undo their change. The outbox retries, reading the ticket first.
                idempotent=False,
                operation="change status",
                ticket_id=ticket_id,
            )
        except ValidationFailed:
            self.cache.invalidate(f"statuses:{board_id}")  # the board's statuses may have changed
            raise
        return parse_ticket(_record(resp.body, "change status"))

    async def get_ticket_statuses(self, board_id: int) -> list[Status]:
        async def load() -> list[Status]:
            rows = await self.client.get_all(
                f"service/boards/{int(board_id)}/statuses",
                {"orderBy": "sortOrder asc"},
                operation="list statuses",
            )
            found = [parse_status(r, board_id) for r in rows if isinstance(r, dict)]
            return sorted((s for s in found if not s.inactive), key=lambda s: (s.sort_order, s.id))

        return await self.cache.get_or_load(f"statuses:{board_id}", load)

    async def get_ticket_configurations(self, ticket_id: int) -> list[Configuration]:
        rows = await self.client.get_all(
            f"service/tickets/{int(ticket_id)}/configurations", operation="list configurations"
        )
        return [parse_configuration(r) for r in rows if isinstance(r, dict)]

    # -- notes --------------------------------------------------------------------------------

    async def post_note(
        self, ticket_id: int, text: str, note_type: NoteType, member: Member | None
    ) -> Note:
        body: dict[str, Any] = {"text": text, **note_flags(note_type)}
        if member is not None:
            body["member"] = {"id": member.id}
        try:
            resp = await self.client.request(
                "POST",
                f"service/tickets/{int(ticket_id)}/notes",
                json=body,
                idempotent=False,
                operation="post note",
                ticket_id=ticket_id,
            )
        except ValidationFailed as exc:
            if any(e.field == "member" for e in exc.field_errors):
                self.cache.invalidate("members")
            raise
        if not isinstance(resp.body, dict):
            # ConnectWise accepted it (2xx) but sent no record back: posted, id unknown.
            log.warning("note posted without a record in the answer ticket=%s", ticket_id)
            return Note(id=0, ticket_id=ticket_id, text=text, note_type=note_type)
        return parse_note(resp.body, ticket_id)

    async def find_note_containing(self, ticket_id: int, marker: str) -> Note | None:
        path = f"service/tickets/{int(ticket_id)}/notes"
        operation = "look for an earlier note"
        try:
            rows = await self.client.get_all(
                path,
                {"conditions": str(cw.contains("text", marker)), "orderBy": "id desc"},
                operation=operation,
            )
        except ValidationFailed:
            # Not every ConnectWise version filters notes by text: read the newest ones instead.
            # Small pages: notes can be long, and each page must stay under the body cap.
            rows = await self.client.get_all(
                path,
                {"orderBy": "id desc"},
                page_size=RECOVERY_SCAN_PAGE_SIZE,
                limit=RECOVERY_SCAN_LIMIT,
                operation=operation,
            )
        for row in rows:
            if isinstance(row, dict) and marker in str(row.get("text", "")):
                return parse_note(row, ticket_id)
        return None

    # -- time entries and new tickets (psa/connectwise/work.py) -------------------------------

    async def post_time_entry(self, entry: NewTimeEntry) -> TimeEntry:
        try:
            return await work.post_time_entry(self.client, entry)
        except ValidationFailed as exc:
            if any(e.field == "member" for e in exc.field_errors):
                self.cache.invalidate("members")
            raise

    async def find_time_entry_containing(self, ticket_id: int, marker: str) -> TimeEntry | None:
        return await work.find_time_entry_containing(self.client, ticket_id, marker)

    async def create_ticket(self, ticket: NewTicket) -> Ticket:
        return await work.create_ticket(self.client, ticket)

    async def find_new_ticket(
        self, company_id: int, summary: str, since: datetime, marker: str
    ) -> Ticket | None:
        for ticket in await work.new_ticket_candidates(self.client, company_id, summary, since):
            if await self.find_note_containing(ticket.id, marker) is not None:
                return ticket
        return None

    async def list_priorities(self) -> list[Priority]:
        return await self.cache.get_or_load("priorities", lambda: work.list_priorities(self.client))

    # -- reference data -----------------------------------------------------------------------

    async def list_boards(self) -> list[Board]:
        async def load() -> list[Board]:
            rows = await self.client.get_all(
                "service/boards",
                {"conditions": str(cw.eq("inactiveFlag", False)), "orderBy": "name asc"},
                operation="list boards",
            )
            return [parse_board(r) for r in rows if isinstance(r, dict)]

        return await self.cache.get_or_load("boards", load)

    async def list_companies(self, name_contains: str = "", limit: int = 25) -> list[Company]:
        async def load() -> list[Company]:
            cond = cw.contains_words(["name", "identifier"], name_contains)
            params: dict[str, str | int] = {"orderBy": "name asc"}
            params["conditions"] = str(cw.all_of([cw.eq("deletedFlag", False), cond]))
            rows = await self.client.get_all(
                "company/companies", params, limit=limit, operation="list companies"
            )
            return [parse_company(r) for r in rows if isinstance(r, dict)]

        key = f"companies:{name_contains.strip().casefold()}:{limit}"
        return await self.search_cache.get_or_load(key, load)

    async def get_company(self, company_id: int) -> Company:
        body = await self.client.get(
            f"company/companies/{int(company_id)}", operation="get company"
        )
        return parse_company(_record(body, "get company"))

    async def list_members(self) -> list[Member]:
        async def load() -> list[Member]:
            rows = await self.client.get_all(
                "system/members",
                {
                    "fields": "id,identifier,firstName,lastName,primaryEmail,officeEmail,"
                    "inactiveFlag,licenseClass,title",
                    "orderBy": "identifier asc",
                },
                operation="list members",
            )
            return [parse_member(r) for r in rows if isinstance(r, dict)]

        return await self.cache.get_or_load("members", load)

    async def get_member(self, identifier: str) -> Member:
        wanted = identifier.strip().lstrip("@")
        for member in await self.list_members():
            if member.identifier.casefold() == wanted.casefold() or (
                _is_number(wanted) and member.id == int(wanted)
            ):
                return member
        raise NotFound(f"No ConnectWise member {wanted!r}", operation="find member")

    async def find_members_by_email(self, email: str) -> list[Member]:
        return [
            m
            for m in await self.list_members()
            if m.has_email(email) and not m.inactive and not m.api_member
        ]

    # -- links --------------------------------------------------------------------------------

    def ticket_url(self, ticket_id: int) -> str:
        site = self.client.site.web_host()
        codebase = self.client.codebase or ON_PREM_CODEBASE
        company = urlquote(self.client.settings.company_id, safe="")
        return (
            f"{site.origin}/{codebase}services/system_io/Service/fv_sr100_request.rails"
            f"?service_recid={int(ticket_id)}&companyName={company}"
        )

    def ticket_id_in_url(self, url: str) -> int | None:
        """The ticket a pasted web-UI link names, when it is this connection's site and
        company (psa/connectwise/links.py); None for anything else."""
        return ticket_id_in_url(url, self.client.site.web_host(), self.client.settings.company_id)
