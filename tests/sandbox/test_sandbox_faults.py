"""Sandbox: latency, 429/500/timeout/drop faults, scripts, seeded rates, the admin endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from psa.connectwise.sandbox import OPEN_TICKET_ID, FaultOptions, SandboxServer

from .helpers import ERRORS_FILE, CWClient, eventually

NOTE = {"text": "Replaced the toner", "internalAnalysisFlag": True}


def _sample(name: str) -> Any:
    return json.loads(ERRORS_FILE.read_text(encoding="utf-8"))[name]


async def _statuses(cw: CWClient, count: int, path: str = "/system/info") -> list[int]:
    return [(await cw.get(path)).status for _ in range(count)]


async def test_latency_is_added_to_api_requests_only(cw: CWClient) -> None:
    cw.server.faults.configure(latency_ms=250)

    started = time.perf_counter()
    await cw.get("/system/info")
    api_seconds = time.perf_counter() - started
    started = time.perf_counter()
    await cw.get("", url=f"{cw.server.url}/login/companyinfo/psabot", auth=None)
    login_seconds = time.perf_counter() - started

    assert api_seconds >= 0.24
    assert login_seconds < 0.2


async def test_latency_from_the_constructor(openapi: Any) -> None:
    async with SandboxServer(latency_ms=150) as server, aiohttp.ClientSession() as session:
        client = CWClient(session, server, openapi)
        started = time.perf_counter()
        await client.get("/system/info")
        assert time.perf_counter() - started >= 0.14


async def test_429_with_retry_after_and_the_documented_body(cw: CWClient) -> None:
    cw.server.faults.configure(rate_429=1.0)

    reply = await cw.get("/service/tickets")

    sample = _sample("429_rate_limited.cw-developer-guide")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == sample["headers"]["Retry-After"] == "30"
    assert reply.body == sample["body"]


async def test_retry_after_is_configurable(cw: CWClient) -> None:
    cw.server.faults.configure(rate_429=1.0, retry_after=2)

    reply = await cw.get("/service/tickets")

    assert reply.headers["Retry-After"] == "2"
    assert "2 seconds" in reply.body["message"]


async def test_scripted_500_then_success(cw: CWClient) -> None:
    cw.server.faults.script(["500"], method="GET", path_contains="/service/tickets")

    failed = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}")
    retried = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}")

    assert failed.status == 500
    assert failed.body == _sample("500_timeout_a.pyconnectwise-tests")["body"]
    assert retried.status == 200


async def test_scripted_faults_are_consumed_in_order_by_matching_requests(cw: CWClient) -> None:
    cw.server.faults.script(
        ["500", "429", "ok", "500"], method="GET", path_contains="/service/tickets"
    )

    other = await cw.get("/system/info")
    statuses = await _statuses(cw, 5, "/service/tickets")

    assert other.status == 200
    assert statuses == [500, 429, 200, 500, 200]
    assert cw.server.faults.scripts == []


async def test_scripts_do_not_match_other_methods(cw: CWClient) -> None:
    cw.server.faults.script(["429"], method="POST", path_contains="/notes")

    listed = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}/notes")
    posted = await cw.post(f"/service/tickets/{OPEN_TICKET_ID}/notes", NOTE)

    assert listed.status == 200
    assert posted.status == 429
    assert len(cw.server.state.notes_for(OPEN_TICKET_ID)) == 2


async def test_timeout_holds_the_request_then_closes(cw: CWClient) -> None:
    cw.server.faults.configure(hang_seconds=0.3)
    cw.server.faults.script(["timeout"], method="POST")

    started = time.perf_counter()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await cw.post(f"/service/tickets/{OPEN_TICKET_ID}/notes", NOTE)
    held = time.perf_counter() - started

    assert held >= 0.28
    [record] = cw.server.requests.matching("POST", "/notes")
    assert (record.fault, record.status) == ("timeout", None)
    assert len(cw.server.state.notes_for(OPEN_TICKET_ID)) == 2


async def test_aiohttp_retries_a_get_once_after_a_timeout_fault(cw: CWClient) -> None:
    # aiohttp's client resends an idempotent request once when the server closes the
    # connection without answering; the log shows both attempts
    cw.server.faults.configure(hang_seconds=0.2)
    cw.server.faults.script(["timeout"], method="GET")

    reply = await cw.get("/service/tickets")

    assert reply.status == 200
    attempts = cw.server.requests.matching("GET", "/service/tickets")
    assert [(r.fault, r.status) for r in attempts] == [("timeout", None), (None, 200)]


async def test_client_timeout_during_a_hang(cw: CWClient) -> None:
    cw.server.faults.configure(hang_seconds=30)
    cw.server.faults.script(["timeout"])

    with pytest.raises(TimeoutError):
        await cw.get("/service/tickets", client_timeout=0.2)


async def test_stop_releases_hanging_requests_quickly(openapi: Any) -> None:
    server = SandboxServer(hang_seconds=60, rate_timeout=1.0)
    await server.start()
    async with aiohttp.ClientSession() as session:
        client = CWClient(session, server, openapi)
        pending = asyncio.create_task(client.get("/system/info"))
        await eventually(lambda: bool(server.requests.matching("GET")))
        started = time.perf_counter()
        await server.stop()
        assert time.perf_counter() - started < 3
        with pytest.raises(aiohttp.ClientConnectionError):
            await pending


async def test_drop_after_write_applies_the_write_but_sends_nothing(cw: CWClient) -> None:
    cw.server.faults.script(["drop_after_write"], method="POST", path_contains="/notes")

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await cw.post(
            f"/service/tickets/{OPEN_TICKET_ID}/notes",
            {**NOTE, "text": "psabot:idem-123 Replaced the toner"},
        )
    notes = await cw.get(
        f"/service/tickets/{OPEN_TICKET_ID}/notes",
        params={"conditions": 'text contains "psabot:idem-123"'},
    )

    assert len(notes.body) == 1
    [record] = cw.server.requests.matching("POST", "/notes")
    assert (record.fault, record.status) == ("drop_after_write", None)


async def test_drop_after_write_on_patch(cw: CWClient) -> None:
    cw.server.faults.script(["drop_after_write"], method="PATCH")

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await cw.patch(
            f"/service/tickets/{OPEN_TICKET_ID}",
            [{"op": "replace", "path": "status", "value": {"id": 7}}],
        )

    assert cw.server.state.ticket(OPEN_TICKET_ID)["closedFlag"] is True


async def test_drop_before_handling_changes_nothing(cw: CWClient) -> None:
    cw.server.faults.script(["drop"], method="POST")

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await cw.post(f"/service/tickets/{OPEN_TICKET_ID}/notes", NOTE)

    assert len(cw.server.state.notes_for(OPEN_TICKET_ID)) == 2


async def test_random_faults_are_reproducible_from_the_seed(cw: CWClient, openapi: Any) -> None:
    cw.server.faults.configure(rate_500=0.3, rate_429=0.2)
    first = await _statuses(cw, 30)
    cw.server.faults.clear()
    cw.server.faults.configure(rate_500=0.3, rate_429=0.2)
    again = await _statuses(cw, 30)
    async with (
        SandboxServer(seed=7, rate_500=0.3, rate_429=0.2) as twin,
        aiohttp.ClientSession() as session,
    ):
        twin_client = CWClient(session, twin, openapi)
        twin_statuses = await _statuses(twin_client, 30)

    assert first == again == twin_statuses
    assert {200, 429, 500} == set(first)


async def test_random_drop_after_write_spares_reads(cw: CWClient) -> None:
    cw.server.faults.configure(rate_drop_after_write=1.0)

    assert await _statuses(cw, 3, f"/service/tickets/{OPEN_TICKET_ID}/notes") == [200] * 3
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await cw.post(f"/service/tickets/{OPEN_TICKET_ID}/notes", NOTE)


async def test_companyinfo_is_spared_unless_asked(cw: CWClient) -> None:
    cw.server.faults.configure(rate_500=1.0)
    login_url = f"{cw.server.url}/login/companyinfo/psabot"

    spared = await cw.get("", url=login_url, auth=None)
    cw.server.faults.configure(faults_on_companyinfo=True)
    hit = await cw.get("", url=login_url, auth=None)

    assert spared.status == 200
    assert hit.status == 500


async def test_admin_endpoints_are_never_faulted(cw: CWClient) -> None:
    cw.server.faults.configure(rate_500=1.0, latency_ms=500)

    started = time.perf_counter()
    snapshot = await cw.admin("GET", "/faults")

    assert time.perf_counter() - started < 0.4
    assert snapshot["rate_500"] == 1.0


async def test_faults_over_http(cw: CWClient) -> None:
    configured = await cw.admin(
        "POST",
        "/faults",
        {
            "latency_ms": 5,
            "retry_after": 3,
            "script": {"method": "GET", "path_contains": "/service/boards", "faults": ["429", 500]},
        },
    )
    statuses = await _statuses(cw, 3, "/service/boards")
    listed = await cw.admin("GET", "/faults")
    cleared = await cw.admin("DELETE", "/faults")

    assert configured["script"] == [
        {"method": "GET", "path_contains": "/service/boards", "faults": ["429", "500"]}
    ]
    assert configured["retry_after"] == 3
    assert statuses == [429, 500, 200]
    assert listed["script"] == [] and listed["latency_ms"] == 5
    assert cleared == {**FaultOptions().to_json(), "script": []}


@pytest.mark.parametrize(
    "body",
    [
        {"rate_500": 2},
        {"rate_500": 0.7, "rate_429": 0.7},
        {"latency_ms": -1},
        {"unknown_option": 1},
        {"script": {"faults": ["explode"]}},
        {"script": {"faults": "500"}},
        {"script": "500"},
    ],
)
async def test_bad_fault_settings_get_400(cw: CWClient, body: dict[str, Any]) -> None:
    async with cw.session.post(f"{cw.server.url}/_sandbox/faults", json=body) as response:
        assert response.status == 400
        assert "error" in await response.json()

    assert cw.server.faults.snapshot() == {**FaultOptions().to_json(), "script": []}
