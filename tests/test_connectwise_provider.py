"""The ConnectWise provider against the running sandbox: every operation, every failure mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from conftest import FAST_RETRY

from psa.connectwise.client import RetryPolicy
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.provider import ConnectWiseProvider
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID, SandboxServer
from psa.errors import (
    AuthError,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    PSATimeout,
    RateLimited,
    ServerError,
    SiteNotAllowed,
    UnknownCompany,
    ValidationFailed,
)
from psa.types import Member, NoteType, SearchQuery, TicketState


def settings_for(sandbox: SandboxServer, **over: str):  # type: ignore[no-untyped-def]
    from psa.types import ConnectionSettings

    creds = sandbox.credentials
    fields = {
        "provider": "connectwise",
        "site": sandbox.host_port,
        "company_id": creds.company_id,
        "public_key": creds.public_key,
        "private_key": creds.private_key,
        "client_id": creds.client_id,
    }
    fields.update(over)
    return ConnectionSettings(**fields)


def make(
    sandbox: SandboxServer, retry: RetryPolicy = FAST_RETRY, timeout: float = 2.0, **over: str
) -> ConnectWiseProvider:
    return ConnectWiseProvider(
        settings_for(sandbox, **over),
        HostPolicy([sandbox.host_port]),
        retry=retry,
        timeout=timeout,
    )


@pytest.fixture
async def provider(cw_sandbox: SandboxServer) -> AsyncIterator[ConnectWiseProvider]:
    p = make(cw_sandbox)
    try:
        yield p
    finally:
        await p.aclose()


def api_calls(sandbox: SandboxServer, method: str = "GET", contains: str = "") -> list[str]:
    return [
        r.path
        for r in sandbox.requests.records
        if r.method == method and contains in r.path and "/apis/3.0/" in r.path
    ]


async def test_connection_and_headers(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    check = await provider.test_connection()
    assert check.company_name == "Psabot Demo MSP"
    assert check.api_url.endswith("/v2025_1/apis/3.0")
    assert all(
        r.client_id == cw_sandbox.credentials.client_id
        for r in cw_sandbox.requests.records
        if "/apis/" in r.path
    )


async def test_bad_keys_401(cw_sandbox: SandboxServer) -> None:
    p = make(cw_sandbox, private_key="wrong")
    try:
        with pytest.raises(AuthError):
            await p.test_connection()
    finally:
        await p.aclose()


async def test_member_without_rights_403(cw_sandbox: SandboxServer) -> None:
    p = make(cw_sandbox, public_key="restricted-public", private_key="restricted-private")
    try:
        with pytest.raises(PermissionDenied):
            await p.test_connection()
    finally:
        await p.aclose()


async def test_unknown_company(cw_sandbox: SandboxServer) -> None:
    p = make(cw_sandbox, company_id="nosuchco")
    try:
        with pytest.raises(UnknownCompany):
            await p.test_connection()
    finally:
        await p.aclose()


def test_site_outside_allow_list_refused(cw_sandbox: SandboxServer) -> None:
    with pytest.raises(SiteNotAllowed):
        ConnectWiseProvider(settings_for(cw_sandbox), HostPolicy([]))


async def test_get_ticket_and_404(provider: ConnectWiseProvider) -> None:
    ticket = await provider.get_ticket(OPEN_TICKET_ID)
    assert ticket.summary == "Front desk printer jams on every print job"
    assert ticket.board is not None and ticket.board.name == "Service Desk"
    assert ticket.company is not None and ticket.company.identifier == "ContosoDental"
    assert not ticket.closed
    with pytest.raises(NotFound) as info:
        await provider.get_ticket(999)
    assert info.value.ticket_id == 999


async def test_search_tickets(provider: ConnectWiseProvider) -> None:
    found = await provider.search_tickets(SearchQuery(text="front desk printer", limit=20))
    assert OPEN_TICKET_ID in [t.id for t in found]
    assert all(not t.closed for t in found)
    closed = await provider.search_tickets(
        SearchQuery(company="Northwind", state=TicketState.CLOSED, limit=50)
    )
    assert CLOSED_TICKET_ID in [t.id for t in closed] and all(t.closed for t in closed)
    escalations = await provider.search_tickets(SearchQuery(board="Escalations", limit=100))
    assert escalations and all(t.board and t.board.name == "Escalations" for t in escalations)
    by_id = await provider.search_tickets(
        SearchQuery(text=f"#{OPEN_TICKET_ID}", state=TicketState.ANY)
    )
    assert [t.id for t in by_id] == [OPEN_TICKET_ID]
    assert [t.id for t in found] == sorted((t.id for t in found), reverse=True)  # newest first
    quoted = await provider.search_tickets(SearchQuery(company="O'Brien", state=TicketState.ANY))
    assert all(t.company and "O" in t.company.name for t in quoted)


async def test_post_note_as_member_and_find_it(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    jane = await provider.get_member("jdoe")
    note = await provider.post_note(
        OPEN_TICKET_ID, "Swapped the fuser · ref abc12345", NoteType.RESOLUTION, jane
    )
    assert note.id and note.ticket_id == OPEN_TICKET_ID
    assert note.note_type is NoteType.RESOLUTION
    assert note.member is not None and note.member.identifier == "jdoe"
    found = await provider.find_note_containing(OPEN_TICKET_ID, "ref abc12345")
    assert found is not None and found.id == note.id
    assert await provider.find_note_containing(OPEN_TICKET_ID, "ref 00000000") is None
    with pytest.raises(ValidationFailed) as info:
        await provider.post_note(
            OPEN_TICKET_ID,
            "x",
            NoteType.INTERNAL,
            Member(id=148, identifier="rbrooks", name="Ryan"),
        )
    assert any(e.field == "member" for e in info.value.field_errors)


async def test_post_note_is_not_retried_blindly(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    await provider.get_ticket(OPEN_TICKET_ID)  # resolve the base URL first
    for fault, error in (
        ("500", ServerError),
        ("drop_after_write", Exception),
        ("429", RateLimited),
    ):
        cw_sandbox.requests.clear()
        cw_sandbox.faults.script([fault], method="POST", path_contains="/notes")
        with pytest.raises(error):
            await provider.post_note(OPEN_TICKET_ID, f"once {fault}", NoteType.INTERNAL, None)
        assert len(api_calls(cw_sandbox, "POST", "/notes")) == 1, fault
    texts = [n["text"] for n in cw_sandbox.state.notes_for(OPEN_TICKET_ID)]
    assert texts.count("once drop_after_write") == 1  # applied once, answer lost
    assert "once 500" not in texts and "once 429" not in texts


@pytest.mark.parametrize("fault", ["429", "500"])
async def test_get_retried_after_429_or_500(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer, fault: str
) -> None:
    cw_sandbox.faults.configure(retry_after=0)
    await provider.get_ticket(OPEN_TICKET_ID)
    cw_sandbox.requests.clear()
    cw_sandbox.faults.script([fault], method="GET")
    assert (await provider.get_ticket(OPEN_TICKET_ID)).id == OPEN_TICKET_ID
    statuses = [r.status for r in cw_sandbox.requests.records]
    assert statuses == [int(fault), 200]


async def test_long_retry_after_is_reported_not_waited(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    cw_sandbox.faults.configure(retry_after=120)
    cw_sandbox.faults.script(["429"], method="GET")
    with pytest.raises(RateLimited) as info:
        await provider.get_ticket(OPEN_TICKET_ID)
    assert info.value.retry_after == 120


async def test_persistent_500_gives_up_after_the_policy(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    await provider.get_ticket(OPEN_TICKET_ID)
    cw_sandbox.requests.clear()
    cw_sandbox.faults.configure(rate_500=1.0)
    with pytest.raises(ServerError):
        await provider.get_ticket(OPEN_TICKET_ID)
    assert len(cw_sandbox.requests.records) == FAST_RETRY.attempts


async def test_timeout(cw_sandbox: SandboxServer) -> None:
    p = make(cw_sandbox, retry=RetryPolicy(attempts=1), timeout=0.5)
    try:
        await p.get_ticket(OPEN_TICKET_ID)
        cw_sandbox.faults.configure(hang_seconds=3)
        cw_sandbox.faults.script(["timeout", "timeout"], method="GET")
        with pytest.raises(PSATimeout):
            await p.get_ticket(OPEN_TICKET_ID)
    finally:
        await p.aclose()


async def test_status_change_checks_the_board(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    statuses = await provider.get_ticket_statuses(1)
    names = [s.name for s in statuses]
    assert names[:3] == ["New", "Assigned", "In Progress"] and len(names) == 7  # inactive gone
    assert [s.closed for s in statuses][-2:] == [True, True]
    waiting = next(s for s in statuses if s.name == "Waiting on Customer")
    ticket = await provider.update_ticket_status(OPEN_TICKET_ID, waiting.id)
    assert ticket.status is not None and ticket.status.name == "Waiting on Customer"
    cw_sandbox.requests.clear()
    with pytest.raises(ValidationFailed, match="not a status of the ticket's board"):
        await provider.update_ticket_status(OPEN_TICKET_ID, 22)  # an Escalations status
    assert api_calls(cw_sandbox, "PATCH") == []


async def test_status_change_patches_the_ticket_it_is_given_and_never_repeats_the_patch(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    ticket = await provider.get_ticket(OPEN_TICKET_ID)
    await provider.get_ticket_statuses(1)
    cw_sandbox.requests.clear()
    changed = await provider.update_ticket_status(OPEN_TICKET_ID, 4, current=ticket)
    assert changed.status is not None and changed.status.name == "Waiting on Customer"
    assert api_calls(cw_sandbox, "GET") == [] and len(api_calls(cw_sandbox, "PATCH")) == 1
    # A ticket read for another id is not trusted: this one is read.
    await provider.update_ticket_status(OPEN_TICKET_ID, 5, current=replace(ticket, id=1))
    assert len(api_calls(cw_sandbox, "GET", f"/tickets/{OPEN_TICKET_ID}")) == 1
    # Whatever became of a PATCH, the client does not send it again: the outbox decides.
    for fault in ("500", "drop_after_write"):
        cw_sandbox.requests.clear()
        cw_sandbox.faults.script([fault], method="PATCH")
        with pytest.raises((ServerError, ConnectionFailed)):
            await provider.update_ticket_status(OPEN_TICKET_ID, 3, current=changed)
        assert len(api_calls(cw_sandbox, "PATCH")) == 1
    assert cw_sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"] == "In Progress"


async def test_reference_data_is_cached_single_flight(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    import asyncio

    await provider.get_ticket(OPEN_TICKET_ID)
    cw_sandbox.requests.clear()
    await asyncio.gather(*(provider.get_ticket_statuses(1) for _ in range(5)))
    await provider.get_ticket_statuses(1)
    assert len(api_calls(cw_sandbox, "GET", "/statuses")) == 1
    boards = await provider.list_boards()
    assert {b.name for b in boards} == {"Service Desk", "Escalations"}  # inactive board left out
    await provider.list_boards()
    assert len(api_calls(cw_sandbox, "GET", "/service/boards")) == 2  # statuses + boards


async def test_companies_members_configurations_and_url(
    provider: ConnectWiseProvider,
) -> None:
    companies = await provider.list_companies("contoso")
    assert [c.identifier for c in companies] == ["ContosoDental"]
    assert (await provider.get_company(companies[0].id)).name == "Contoso Dental Group"
    with pytest.raises(NotFound):
        await provider.get_company(999999)
    members = await provider.list_members()
    assert {"jdoe", "rbrooks", "PsabotAPI"} <= {m.identifier for m in members}
    david = await provider.find_members_by_email("DAVID.OKAFOR@example.com")
    assert [m.identifier for m in david] == ["dokafor"]
    assert await provider.find_members_by_email("ryan.brooks@example.com") == []  # inactive
    assert (await provider.get_member("142")).identifier == "jdoe"
    with pytest.raises(NotFound):
        await provider.get_member("ghost")
    configurations = await provider.get_ticket_configurations(OPEN_TICKET_ID)
    assert len(configurations) == 2 and all(c.name for c in configurations)
    url = provider.ticket_url(OPEN_TICKET_ID)
    assert "/v2025_1/services/system_io/Service/fv_sr100_request.rails?" in url
    assert f"service_recid={OPEN_TICKET_ID}" in url and "companyName=psabot" in url


async def test_pagination_follows_link_headers_with_commas(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    rows = await provider.client.get_all(
        "system/members", {"fields": "id,identifier", "orderBy": "id asc"}, page_size=2
    )
    assert len(rows) == len(cw_sandbox.state.members)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    tickets = await provider.client.get_all("service/tickets", {"fields": "id"}, page_size=50)
    assert len(tickets) == 200


async def test_codebase_move_is_followed(
    provider: ConnectWiseProvider, cw_sandbox: SandboxServer
) -> None:
    await provider.get_ticket(OPEN_TICKET_ID)
    cw_sandbox.move_codebase("v2026_1/")
    cw_sandbox.requests.clear()
    assert (await provider.get_ticket(OPEN_TICKET_ID)).id == OPEN_TICKET_ID
    paths = [r.path for r in cw_sandbox.requests.records]
    assert paths[0].startswith("/v2025_1/") and paths[1].startswith("/login/companyinfo/")
    assert paths[2].startswith("/v2026_1/apis/3.0/service/tickets/")
    assert provider.client.codebase == "v2026_1/"


async def test_unsafe_search_characters_do_not_crash(provider: ConnectWiseProvider) -> None:
    assert isinstance(await provider.search_tickets(SearchQuery(text="²", company="³")), list)
