"""Sandbox: page/pageSize, Link headers that keep the query, forward-only pagination."""

from __future__ import annotations

from yarl import URL

from psa.connectwise import conditions as c
from psa.connectwise.sandbox import TICKET_COUNT

from .helpers import CWClient


async def test_following_next_collects_every_ticket(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets", params={"pageSize": 50})
    seen = [t["id"] for t in reply.body]
    pages = 1
    while "next" in reply.links:
        reply = await cw.get("", url=URL(reply.links["next"], encoded=True))
        seen += [t["id"] for t in reply.body]
        pages += 1

    assert pages == 4
    assert seen == sorted(cw.server.state.tickets)
    assert len(seen) == TICKET_COUNT
    assert set(reply.links) == {"first", "prev", "last"}


async def test_links_keep_conditions_and_order(cw: CWClient) -> None:
    condition = str(c.all_of([c.eq("closedFlag", True), c.contains("summary", "a")]))
    params = {"conditions": condition, "orderBy": "id desc", "pageSize": 10}
    expected = sorted(
        (
            t["id"]
            for t in cw.server.state.tickets.values()
            if t["closedFlag"] and "a" in t["summary"].lower()
        ),
        reverse=True,
    )

    reply = await cw.get("/service/tickets", params=params)
    seen = [t["id"] for t in reply.body]
    while "next" in reply.links:
        next_url = URL(reply.links["next"], encoded=True)
        assert next_url.query["conditions"] == condition
        assert next_url.query["orderBy"] == "id desc"
        reply = await cw.get("", url=next_url)
        seen += [t["id"] for t in reply.body]

    assert seen == expected
    assert len(expected) > 10


async def test_link_header_entries(cw: CWClient) -> None:
    first = await cw.get("/service/tickets", params={"pageSize": 50})
    middle = await cw.get("/service/tickets", params={"pageSize": 50, "page": 2})
    last = await cw.get("/service/tickets", params={"pageSize": 50, "page": 4})

    assert set(first.links) == {"first", "next", "last"}
    assert set(middle.links) == {"first", "prev", "next", "last"}
    assert set(last.links) == {"first", "prev", "last"}
    assert URL(middle.links["prev"]).query["page"] == "1"
    assert URL(middle.links["next"]).query["page"] == "3"
    assert URL(middle.links["last"]).query["page"] == "4"
    base = URL(middle.links["next"])
    assert (base.scheme, base.host, base.port) == ("http", "127.0.0.1", URL(cw.server.url).port)
    assert base.path == URL(cw.server.api_url).path + "/service/tickets"
    # pyconnectwise reads the page number with the regex page=(\d+)>; rel=
    assert middle.headers["Link"].count('page=3>; rel="next"') == 1


async def test_no_link_header_when_everything_fits(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets", params={"pageSize": 1000})

    assert len(reply.body) == TICKET_COUNT
    assert "Link" not in reply.headers


async def test_page_past_the_end_is_empty(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets", params={"pageSize": 100, "page": 9})

    assert reply.body == []
    assert set(reply.links) == {"first", "prev", "last"}


async def test_page_size_over_1000_gets_400(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets", params={"pageSize": 1001})

    assert reply.status == 400
    assert reply.body["code"] == "InvalidObject"
    assert "1000" in reply.body["message"]


async def test_bad_page_numbers_get_400(cw: CWClient) -> None:
    for params in ({"page": 0}, {"page": "two"}, {"pageSize": -5}):
        reply = await cw.get("/service/tickets", params=params)
        assert reply.status == 400, params


async def test_forward_only_pagination(cw: CWClient) -> None:
    headers_url = cw.server.api_url + "/service/tickets"
    seen: list[int] = []
    url: URL = URL(headers_url).with_query({"pageSize": "60", "conditions": "closedFlag=False"})
    while True:
        async with cw.session.get(
            url, headers={**cw.headers(), "pagination-type": "forward-only"}
        ) as response:
            body = await response.json()
            link = response.headers.get("Link")
        seen += [t["id"] for t in body]
        if not link:
            break
        url = URL(link.split(">")[0].lstrip("<"), encoded=True)

    assert seen == [t["id"] for t in cw.server.state.open_tickets()]
