"""Sandbox faults for hardening tests: late commit, endless next, oversized, echo page, odd 429."""

from __future__ import annotations

import time

import aiohttp
import pytest

from psa.connectwise.sandbox import OPEN_TICKET_ID, FaultOptions

from .helpers import FULL_AUTH, CWClient, eventually

NOTE = {"text": "Committed late", "internalAnalysisFlag": True}
NOTES = f"/service/tickets/{OPEN_TICKET_ID}/notes"


def _late_notes(cw: CWClient) -> list[str]:
    return [
        n["text"] for n in cw.server.state.notes_for(OPEN_TICKET_ID) if n["text"] == NOTE["text"]
    ]


async def test_late_commit_lands_after_the_client_gave_up(cw: CWClient) -> None:
    cw.server.faults.configure(write_apply_delay=0.6)
    cw.server.faults.script(["late_commit"], method="POST", path_contains="/notes")

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await cw.post(NOTES, NOTE, client_timeout=0.2)
    assert _late_notes(cw) == []  # not yet: the client saw a timeout, nothing is on the ticket

    await eventually(lambda: _late_notes(cw) == [NOTE["text"]], seconds=5)
    assert time.monotonic() - started >= 0.55
    [record] = cw.server.requests.matching("POST", "/notes")
    assert record.fault == "late_commit"


async def test_late_commit_answers_a_client_that_waits(cw: CWClient) -> None:
    cw.server.faults.configure(write_apply_delay=0.3)
    cw.server.faults.script(["late_commit"], method="POST")

    started = time.monotonic()
    reply = await cw.post(NOTES, NOTE, client_timeout=5)

    assert reply.status == 201 and reply.body["text"] == NOTE["text"]
    assert time.monotonic() - started >= 0.28
    assert _late_notes(cw) == [NOTE["text"]]


async def test_late_commit_rate_is_drawn_for_writes_only(cw: CWClient) -> None:
    cw.server.faults.configure(rate_late_commit=1.0, write_apply_delay=0.1)

    assert (await cw.get("/service/tickets")).status == 200
    assert (await cw.post(NOTES, NOTE)).status == 201
    assert [r.fault for r in cw.server.requests] == [None, "late_commit"]


async def test_endless_next_links_on_for_ever_with_non_empty_pages(cw: CWClient) -> None:
    cw.server.faults.configure(endless_next=True, listing_path_contains="/service/boards")

    url: str | None = None
    for page in range(1, 40):
        reply = await (cw.get("", url=url) if url else cw.get("/service/boards"))
        assert reply.status == 200 and reply.body, page
        url = reply.links["next"]
        assert f"page={page + 1}" in url
    plain = await cw.get("/service/tickets", params={"pageSize": 1000})
    assert "Link" not in plain.headers  # other listings are left alone


async def test_oversized_listing_streams_the_size_asked(cw: CWClient) -> None:
    cw.server.faults.configure(oversized_mb=1.5)
    cw.server.faults.script(["oversized"], method="GET", path_contains="/service/tickets")

    reply = await cw.get("/service/tickets", validate=False)

    assert reply.status == 200 and "Content-Length" not in reply.headers
    assert 1.5 * 1024 * 1024 <= len(reply.text) < 1.6 * 1024 * 1024
    assert isinstance(reply.body, list) and reply.body[1]["closedFlag"] is False


async def test_oversized_listing_stops_when_the_client_hangs_up(cw: CWClient) -> None:
    cw.server.faults.configure(oversized_mb=500)
    cw.server.faults.script(["oversized"], method="GET")

    started = time.monotonic()
    async with cw.session.get(
        cw.server.api_url + "/service/tickets", headers=cw.headers()
    ) as response:
        first = await response.content.read(1024)
    assert first.startswith(b"[")
    await eventually(lambda: cw.server.requests.records[-1].status == 200, seconds=5)
    assert time.monotonic() - started < 5
    assert (await cw.get("/system/info")).status == 200  # the sandbox is fine afterwards


async def test_echo_headers_page_shows_the_authorization_header(cw: CWClient) -> None:
    cw.server.faults.script(["echo_headers"])

    reply = await cw.get("/system/info")

    assert reply.status == 502 and reply.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in reply.text
    assert FULL_AUTH in reply.text


@pytest.mark.parametrize(
    "value", ["inf", "1e12", "1000000000000", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]
)
async def test_429_with_any_retry_after(cw: CWClient, value: str) -> None:
    cw.server.faults.configure(retry_after=value)
    cw.server.faults.script(["429"])

    reply = await cw.get("/system/info", validate=False)

    assert reply.status == 429 and reply.headers["Retry-After"] == value


async def test_new_faults_through_the_admin_endpoint(cw: CWClient) -> None:
    snapshot = await cw.admin(
        "POST",
        "/faults",
        {
            "write_apply_delay": 2.5,
            "endless_next": True,
            "listing_path_contains": "/boards",
            "oversized_mb": 3,
            "retry_after": "soon",
            "script": {"method": "POST", "faults": ["late_commit", "echo_headers", "oversized"]},
        },
    )
    assert snapshot["write_apply_delay"] == 2.5 and snapshot["retry_after"] == "soon"
    assert snapshot["script"][0]["faults"] == ["late_commit", "echo_headers", "oversized"]
    async with cw.session.post(
        f"{cw.server.url}/_sandbox/faults", json={"retry_after": "a\r\nX-Evil: 1"}
    ) as bad:
        assert bad.status == 400


@pytest.mark.parametrize(
    "options",
    [
        {"write_apply_delay": -1},
        {"oversized_mb": -1},
        {"retry_after": -5},
        {"retry_after": True},
        {"rate_late_commit": 2},
    ],
)
def test_bad_new_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|cannot"):
        FaultOptions(**options)  # type: ignore[arg-type]


async def test_stop_abandons_late_writes(openapi: object) -> None:
    from psa.connectwise.sandbox import SandboxServer

    server = SandboxServer(write_apply_delay=30)
    await server.start()
    server.faults.script(["late_commit"], method="POST")
    async with aiohttp.ClientSession() as session:
        client = CWClient(session, server, openapi)  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            await client.post(NOTES, NOTE, client_timeout=0.2)
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 3
    assert not server.context.late_writes
