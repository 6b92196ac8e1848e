"""Listings that ask for several pages at once read the same records as page-by-page ones.

The plan (pages 2 to last) comes from page 1's `next` and `last` links; every page is taken
only if the page before it linked to it, and a listing whose links change midway goes on
link by link. Checked against the sandbox and against a server whose links drift.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from test_connectwise_provider import make
from yarl import URL

from psa.connectwise import client as cw_client
from psa.connectwise.client import ConnectWiseClient
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.pagination import later_pages
from psa.connectwise.sandbox import SandboxServer
from psa.errors import TooMuchData
from psa.types import ConnectionSettings

BASE = URL("https://cw.example.test/v2025_1/apis/3.0/service/tickets?pageSize=10&page=1")


def links(**rels: str) -> dict[str, str]:
    return {"Link": ", ".join(f'<{url}>; rel="{rel}"' for rel, url in rels.items())}


def test_a_plan_needs_next_as_page_2_and_last_the_same_url() -> None:
    api = "https://cw.example.test/v2025_1/apis/3.0/service/tickets"
    query = "conditions=summary%20contains%20%22a,b%22&pageSize=10"
    planned = later_pages(links(next=f"{api}?{query}&page=2", last=f"{api}?{query}&page=4"), BASE)
    assert planned is not None
    assert [str(u) for u in planned] == [f"{api}?{query}&page={n}" for n in (2, 3, 4)]

    # the server's own parameter name and position are kept
    planned = later_pages(links(next=f"{api}?Page=2&{query}", last=f"{api}?Page=3&{query}"), BASE)
    assert planned is not None and [str(u) for u in planned][-1] == f"{api}?Page=3&{query}"


@pytest.mark.parametrize(
    "header",
    [
        {},
        links(next="https://cw.example.test/x?page=2"),  # no last: forward-only, or endless
        links(last="https://cw.example.test/x?page=3"),
        links(next="https://cw.example.test/x?page=3", last="https://cw.example.test/x?page=5"),
        links(next="https://cw.example.test/x?page=2&a=1", last="https://cw.example.test/x?page=3"),
        links(next="https://cw.example.test/x?page=2", last="https://cw.example.test/y?page=3"),
        links(next="https://cw.example.test/x?page=2", last="https://cw.example.test/x?page=1"),
        links(next="https://cw.example.test/x?page=2", last="https://cw.example.test/x?page=x"),
        links(next="https://other.test/x?page=2", last="https://other.test/x?page=3"),
        links(next="https://cw.example.test/x?pageId=2", last="https://cw.example.test/x?pageId=3"),
        links(
            next="https://cw.example.test/x?page=2&page=2",
            last="https://cw.example.test/x?page=3&page=3",
        ),
    ],
)
def test_no_plan_unless_the_links_say_exactly_which_pages(header: dict[str, str]) -> None:
    assert later_pages(header, BASE) is None


@pytest.mark.parametrize("fields", [None, "id,summary"])
async def test_at_once_and_one_at_a_time_read_the_same(
    cw_sandbox: SandboxServer, fields: str | None
) -> None:
    provider = make(cw_sandbox)
    params = {"orderBy": "id desc", **({"fields": fields} if fields else {})}
    try:
        one = await provider.client.get_all(
            "service/tickets", params, page_size=15, pages_in_flight=1
        )
        sequential = len(cw_sandbox.requests.matching("GET", "/service/tickets"))
        cw_sandbox.requests.clear()
        many = await provider.client.get_all(
            "service/tickets", params, page_size=15, pages_in_flight=4
        )
        at_once = cw_sandbox.requests.matching("GET", "/service/tickets")
    finally:
        await provider.aclose()
    assert many == one
    assert [t["id"] for t in many] == sorted(cw_sandbox.state.tickets, reverse=True)
    assert len(at_once) == sequential == -(-len(cw_sandbox.state.tickets) // 15)
    assert all("orderBy=id" in call.query for call in at_once)


async def test_too_many_pages_is_refused_before_reading_them(cw_sandbox: SandboxServer) -> None:
    provider = make(cw_sandbox)
    try:
        with pytest.raises(TooMuchData, match=f"more than {cw_client.MAX_PAGES} pages"):
            await provider.client.get_all("service/tickets", {"fields": "id"}, page_size=5)
    finally:
        await provider.aclose()
    assert len(cw_sandbox.requests.matching("GET", "/service/tickets")) == 1


async def test_the_byte_cap_holds_across_pages_read_at_once(cw_sandbox: SandboxServer) -> None:
    provider = make(cw_sandbox)
    provider.client.max_listing_bytes = 20_000
    try:
        with pytest.raises(TooMuchData, match="larger than"):
            await provider.client.get_all("service/tickets", page_size=10, pages_in_flight=4)
    finally:
        await provider.aclose()
    # one page is about 5 kB: past the cap after ~4 pages, and at most 4 more were in flight
    assert len(cw_sandbox.requests.matching("GET", "/service/tickets")) <= 1 + 4 + 4 + 1


class DriftingServer:
    """Pages of one record each; page 2 links on to a page the plan did not name."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.query_string)
        base = f"{request.scheme}://{request.host}{request.path}"
        page = int(request.query.get("page", "1"))
        if "moved" in request.query:  # the listing as it is now: one more page, then the end
            return web.json_response([{"id": 30 + page}])
        header = links(next=f"{base}?pageSize=1&page={page + 1}", last=f"{base}?pageSize=1&page=5")
        if page == 2:
            header = links(next=f"{base}?pageSize=1&page=3&moved=1")
        return web.json_response([{"id": page}], headers=header)


async def company_info(_: web.Request) -> web.Response:
    return web.json_response({"Codebase": "v2025_1/", "CompanyName": "x"})


@pytest.fixture
async def drifting() -> AsyncIterator[tuple[DriftingServer, str]]:
    server = DriftingServer()
    app = web.Application()
    app.router.add_get("/v2025_1/apis/3.0/service/tickets", server.handle)
    app.router.add_get("/login/companyinfo/{company}", company_info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_links_that_change_midway_are_followed_as_they_are(
    drifting: tuple[DriftingServer, str],
) -> None:
    server, host_port = drifting
    settings = ConnectionSettings(
        provider="connectwise",
        site=f"http://{host_port}",
        company_id="psabot",
        public_key="pub",
        private_key="private-key",
        client_id="client",
    )
    client = ConnectWiseClient(settings, HostPolicy([host_port]), pages_in_flight=4)
    try:
        rows = await client.get_all("service/tickets", page_size=1)
    finally:
        await client.aclose()
    # pages 1 and 2 as planned; page 2 linked elsewhere, so pages 3-5 of the plan are dropped
    assert [r["id"] for r in rows] == [1, 2, 33]
    assert "pageSize=1&page=3&moved=1" in server.seen
