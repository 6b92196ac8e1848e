"""Sandbox: reset, request log, codebase moves, seeded data and the Python accessors."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from psa.connectwise.sandbox import (
    CLOSED_TICKET_ID,
    ESCALATION_TICKET_ID,
    FIRST_TICKET_ID,
    NEW_TICKET_ID,
    OPEN_TICKET_ID,
    TICKET_COUNT,
    SandboxServer,
    SandboxState,
    run_sandbox,
)

from .helpers import CWClient, eventually


async def test_codebase_move_leaves_old_path_with_plain_404(cw: CWClient) -> None:
    old_api = cw.server.api_url
    moved = await cw.admin("POST", "/codebase", {"codebase": "v2025_2/"})

    old = await cw.get("", url=old_api + "/service/tickets/48213")
    info = await cw.get("", url=f"{cw.server.url}/login/companyinfo/psabot", auth=None)
    new = await cw.get(
        "", url=f"{cw.server.url}/{info.body['Codebase']}apis/3.0/service/tickets/48213"
    )

    assert moved == {"codebase": "v2025_2/"}
    assert old.status == 404
    assert old.text == "Cannot route. Codebase/company is invalid"
    assert info.body["Codebase"] == "v2025_2/"
    assert info.body["VersionCode"] == "v2025.2"
    assert new.status == 200
    assert cw.server.api_url.endswith("/v2025_2/apis/3.0")


async def test_codebase_move_from_python(cw: CWClient) -> None:
    assert cw.server.move_codebase("v2026_1") == "v2026_1/"
    assert (await cw.get("/system/info")).status == 200
    assert (await cw.admin("GET", "/codebase")) == {"codebase": "v2026_1/"}


async def test_request_log_never_holds_credentials(cw: CWClient) -> None:
    await cw.get("/service/tickets", params={"conditions": "id = 48213", "pageSize": 5})
    await cw.post(
        f"/service/tickets/{OPEN_TICKET_ID}/notes", {"text": "hi", "internalAnalysisFlag": True}
    )
    await cw.admin("GET", "/faults")  # admin calls are not logged

    logged = await cw.admin("GET", "/requests")

    assert [(r["method"], r["status"]) for r in logged] == [("GET", 200), ("POST", 201)]
    assert logged[0]["path"] == cw.server.api_url.split(cw.server.url)[1] + "/service/tickets"
    assert "conditions=id" in logged[0]["query"]
    assert logged[0]["client_id"]
    text = str(logged)
    assert "sandbox-private" not in text and "Basic" not in text
    assert [r.status for r in cw.server.requests] == [200, 201]
    assert await cw.admin("DELETE", "/requests") == []
    assert len(cw.server.requests) == 0


async def test_reset_reseeds_and_clears_faults_and_log(cw: CWClient) -> None:
    await cw.patch(
        f"/service/tickets/{OPEN_TICKET_ID}",
        [{"op": "replace", "path": "summary", "value": "changed"}],
    )
    cw.server.faults.configure(rate_500=0.5)
    state = cw.server.state

    answer = await cw.admin("POST", "/reset")

    assert answer["seed"] == 7
    assert state.ticket(OPEN_TICKET_ID)["summary"] == "Front desk printer jams on every print job"
    assert cw.server.faults.options.rate_500 == 0
    assert len(cw.server.requests) == 0


async def test_reset_with_another_seed(cw: CWClient) -> None:
    before = {t["id"]: t["summary"] for t in cw.server.state.tickets.values()}

    await cw.admin("POST", "/reset", {"seed": 8})

    after = {t["id"]: t["summary"] for t in cw.server.state.tickets.values()}
    assert cw.server.state.seed == 8
    assert before != after
    assert after[OPEN_TICKET_ID] == before[OPEN_TICKET_ID]


async def test_reset_with_more_tickets(cw: CWClient) -> None:
    answer = await cw.admin("POST", "/reset", {"tickets": 2000})

    state = cw.server.state
    assert answer["tickets"] == 2000 == state.ticket_count == len(state.tickets)
    assert sorted(state.tickets) == list(range(FIRST_TICKET_ID, FIRST_TICKET_ID + 2000))
    assert state.ticket(OPEN_TICKET_ID)["summary"] == "Front desk printer jams on every print job"
    count = await cw.get("/service/tickets/count")
    assert count.body == {"count": 2000}
    await cw.admin("POST", "/reset")  # the count stays until changed again
    assert len(state.tickets) == 2000


async def test_reset_refuses_an_unusable_ticket_count(cw: CWClient) -> None:
    for bad in (10, 20_001, "many", True):
        async with cw.session.post(
            f"{cw.server.url}/_sandbox/reset", json={"tickets": bad}
        ) as response:
            assert response.status == 400
            assert "ticket" in (await response.json())["error"]
    assert len(cw.server.state.tickets) == TICKET_COUNT


def test_more_tickets_keep_the_well_known_ones_and_the_mix() -> None:
    state = SandboxState(ticket_count=2000)
    default = SandboxState()

    for well_known in (OPEN_TICKET_ID, CLOSED_TICKET_ID, NEW_TICKET_ID, ESCALATION_TICKET_ID):
        for field in ("summary", "status", "company", "owner", "board", "closedFlag"):
            assert state.ticket(well_known).get(field) == default.ticket(well_known).get(field)
    closed = [t for t in state.tickets.values() if t["closedFlag"]]
    assert 0.3 < len(closed) / len(state.tickets) < 0.7
    assert len(set(state.notes)) == len(state.notes) > 1000


async def test_overview(cw: CWClient) -> None:
    overview = await cw.admin("GET", "")

    assert overview["company_id"] == "psabot"
    assert overview["well_known_tickets"]["open"] == OPEN_TICKET_ID


def test_same_seed_gives_the_same_data() -> None:
    first, second, other = SandboxState(7), SandboxState(7), SandboxState(11)

    assert first.tickets == second.tickets
    assert first.notes == second.notes
    assert first.configurations == second.configurations
    assert first.companies == second.companies
    assert first.tickets != other.tickets


def test_seeded_data_looks_like_an_msp() -> None:
    state = SandboxState()
    tickets = list(state.tickets.values())

    assert sorted(state.tickets) == list(range(FIRST_TICKET_ID, FIRST_TICKET_ID + TICKET_COUNT))
    closed = [t for t in tickets if t["closedFlag"]]
    assert 0.3 < len(closed) / len(tickets) < 0.7
    assert all(state.statuses[t["status"]["id"]]["closedStatus"] for t in closed)
    assert all(
        t["status"]["id"] in {s["id"] for s in state.statuses_for(t["board"]["id"])}
        for t in tickets
    )
    assert {t["board"]["name"] for t in tickets} == {"Service Desk", "Escalations"}
    assert len({t["company"]["id"] for t in tickets}) >= 6
    assert len({t["summary"] for t in tickets}) > 100
    assert all(len(t["summary"]) <= 100 for t in tickets)
    assert any("owner" not in t for t in tickets)
    assert sum(1 for t in tickets if state.notes_for(t["id"])) > 20
    assert len(state.configurations) >= 5
    emails = [m.get("primaryEmail") for m in state.members.values()]
    assert "jane.doe@example.com" in emails
    assert [m["identifier"] for m in state.members.values() if m["inactiveFlag"]] == ["rbrooks"]


def test_well_known_tickets() -> None:
    state = SandboxState(seed=123)

    assert state.ticket(OPEN_TICKET_ID)["status"]["name"] == "In Progress"
    assert state.ticket(OPEN_TICKET_ID)["board"]["name"] == "Service Desk"
    assert state.ticket(CLOSED_TICKET_ID)["closedFlag"] is True
    assert state.ticket(NEW_TICKET_ID)["status"]["name"] == "New"
    assert "owner" not in state.ticket(NEW_TICKET_ID)
    assert state.ticket(ESCALATION_TICKET_ID)["board"]["name"] == "Escalations"
    assert len(state.notes_for(OPEN_TICKET_ID)) == 2
    assert state.notes_for(NEW_TICKET_ID) == []
    assert not state.first_open_ticket()["closedFlag"]
    assert state.first_open_ticket(board_id=3)["board"]["id"] == 3
    assert state.first_closed_ticket()["closedFlag"]
    assert state.member("JDOE") is state.member(142)
    assert state.board_named("service desk") is state.boards[1]


async def test_server_properties() -> None:
    server = SandboxServer()
    url = await server.start()
    try:
        assert url == server.url
        assert url == f"http://{server.host_port}"
        assert server.host_port.startswith("127.0.0.1:")
        assert server.api_url == f"{url}/v2025_1/apis/3.0"
        assert server.credentials.public_key == "sandbox-public"
        assert "sandbox-private" in server.banner()
    finally:
        await server.stop()


async def test_run_sandbox_serves_until_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(run_sandbox("127.0.0.1", 0, seed=7, latency_ms=0))
    captured: list[str] = []

    def banner_printed() -> bool:
        captured.append(capsys.readouterr().out)
        return "admin:" in "".join(captured)

    await eventually(banner_printed)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    out = "".join(captured)
    assert "ConnectWise sandbox listening on http://127.0.0.1:" in out
    assert "sandbox-public" in out and "sandbox-private" in out
