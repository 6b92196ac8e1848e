"""Sandbox: ticket reads with conditions, orderBy, fields, counts and paging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from psa.connectwise import conditions as c
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID, TICKET_COUNT

from .helpers import CWClient


async def _ids(cw: CWClient, condition: str, **params: Any) -> list[int]:
    reply = await cw.get(
        "/service/tickets", params={"conditions": condition, "pageSize": 1000, **params}
    )
    assert reply.status == 200, reply.text
    return [t["id"] for t in reply.body]


async def test_get_ticket_has_connectwise_shape(cw: CWClient) -> None:
    reply = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}")

    ticket = reply.body
    assert reply.status == 200
    assert ticket["summary"] == "Front desk printer jams on every print job"
    assert ticket["board"]["name"] == "Service Desk"
    assert ticket["status"] == {
        "id": 3,
        "name": "In Progress",
        "sort": 2,
        "_info": {"status_href": f"{cw.server.api_url}/service/boards/1/statuses/3"},
    }
    assert ticket["company"]["identifier"] == "ContosoDental"
    assert ticket["owner"]["identifier"] == "jdoe"
    assert ticket["closedFlag"] is False
    assert "closedDate" not in ticket  # empty fields are omitted, as the real API does
    assert ticket["_info"]["notes_href"] == f"{cw.server.api_url}/service/tickets/48213/notes"
    datetime.strptime(ticket["_info"]["lastUpdated"], "%Y-%m-%dT%H:%M:%SZ")


async def test_missing_ticket_gets_connectwise_404(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets/999")

    assert reply.status == 404
    assert reply.body == {"code": "NotFound", "message": "Ticket Id 999 not found", "errors": None}


async def test_list_defaults_to_first_25_by_id(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets")

    assert [t["id"] for t in reply.body] == list(range(48200, 48225))


async def test_count_counts_matches(cw: CWClient) -> None:
    every = await cw.get("/service/tickets/count")
    open_ = await cw.get("/service/tickets/count", params={"conditions": "closedFlag = False"})

    assert every.body == {"count": TICKET_COUNT}
    assert open_.body["count"] == len(cw.server.state.open_tickets())
    assert 0 < open_.body["count"] < TICKET_COUNT


async def test_conditions_from_the_builder(cw: CWClient) -> None:
    state = cw.server.state
    condition = c.all_of(
        [
            c.eq("closedFlag", False),
            c.eq("board/id", 1),
            c.contains_words(["summary"], "printer jams"),
        ]
    )

    ids = await _ids(cw, str(condition))

    assert OPEN_TICKET_ID in ids
    for ticket_id in ids:
        ticket = state.ticket(ticket_id)
        assert not ticket["closedFlag"] and ticket["board"]["id"] == 1
        assert "printer" in ticket["summary"].lower() and "jams" in ticket["summary"].lower()


async def test_contains_is_case_insensitive_substring(cw: CWClient) -> None:
    expected = [t["id"] for t in cw.server.state.tickets.values() if "vpn" in t["summary"].lower()]

    assert await _ids(cw, 'summary contains "vPn"') == sorted(expected)
    assert expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("company/identifier", "contosodental"),
        ("company/name", "Contoso Dental Group"),
        ("company/id", 250),
    ],
)
async def test_company_fields(cw: CWClient, field: str, value: str | int) -> None:
    ids = await _ids(cw, str(c.eq(field, value)))

    assert ids == sorted(
        t["id"] for t in cw.server.state.tickets.values() if t["company"]["id"] == 250
    )


async def test_status_board_and_owner_fields(cw: CWClient) -> None:
    state = cw.server.state
    condition = c.all_of([c.in_("status/id", [1, 2]), c.eq("board/name", "Service Desk")])

    ids = await _ids(cw, str(condition))
    mine = await _ids(cw, str(c.eq("owner/identifier", "JDOE")))
    by_status_name = await _ids(cw, 'status/name = "in progress" and board/id = 1')

    assert ids == sorted(t["id"] for t in state.tickets.values() if t["status"]["id"] in (1, 2))
    assert mine == sorted(
        t["id"] for t in state.tickets.values() if t.get("owner", {}).get("identifier") == "jdoe"
    )
    assert OPEN_TICKET_ID in by_status_name


async def test_null_not_and_or(cw: CWClient) -> None:
    state = cw.server.state
    unassigned = await _ids(cw, "owner/identifier = null")
    assigned = await _ids(cw, "owner/identifier != null")
    not_in = await _ids(cw, "status/id not in (1,2,3,4,5,6,7) and board/id = 1")
    either = await _ids(cw, f"(id = {OPEN_TICKET_ID} or id = {CLOSED_TICKET_ID})")

    assert sorted(unassigned + assigned) == sorted(state.tickets)
    assert unassigned == sorted(t["id"] for t in state.tickets.values() if "owner" not in t)
    assert not_in == []
    assert either == [CLOSED_TICKET_ID, OPEN_TICKET_ID]


async def test_like_with_wildcards(cw: CWClient) -> None:
    ids = await _ids(cw, "summary like '%printer%jams%'")

    assert OPEN_TICKET_ID in ids
    assert await _ids(cw, "summary like 'front desk printer%'") == [OPEN_TICKET_ID]
    assert await _ids(cw, "summary like 'Front desk printer'") == []


async def test_last_updated_with_datetime_literal(cw: CWClient) -> None:
    state = cw.server.state
    since = datetime(2025, 10, 1, tzinfo=UTC)

    ids = await _ids(cw, str(c.gt("lastUpdated", since)))
    django_style = await _ids(cw, "lastUpdated>[2025-10-01T00:00:00.000000]")

    expected = sorted(
        t["id"]
        for t in state.tickets.values()
        if t["_info"]["lastUpdated"] > "2025-10-01T00:00:00Z"
    )
    assert ids == expected == django_style
    assert 0 < len(ids) < TICKET_COUNT


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("foo = 1", "ApiFindCondition --> foo is not a recognized name."),
        ("summary = ", None),
        ('summary = "unterminated', None),
        ("id = 'abc'", None),
        ('closedFlag = "maybe"', None),
        ('id contains "48"', None),
        ("status/nope = 1", "ApiFindCondition --> status/nope is not a recognized name."),
    ],
)
async def test_invalid_conditions_get_400(
    cw: CWClient, condition: str, message: str | None
) -> None:
    reply = await cw.get("/service/tickets", params={"conditions": condition})

    assert reply.status == 400
    assert reply.body["code"] == "InvalidObject"
    assert reply.body["message"].startswith("ApiFindCondition --> ")
    if message is not None:
        assert reply.body == {"code": "InvalidObject", "message": message, "errors": None}


async def test_order_by(cw: CWClient) -> None:
    desc = await cw.get("/service/tickets", params={"orderBy": "id desc", "pageSize": 3})
    asc = await cw.get("/service/tickets", params={"orderBy": "id asc", "pageSize": 3})
    recent = await cw.get(
        "/service/tickets", params={"orderBy": "_info/lastUpdated desc", "pageSize": 1000}
    )

    assert [t["id"] for t in desc.body] == [48399, 48398, 48397]
    assert [t["id"] for t in asc.body] == [48200, 48201, 48202]
    stamps = [t["_info"]["lastUpdated"] for t in recent.body]
    assert stamps == sorted(stamps, reverse=True)


async def test_order_by_unknown_field_gets_400(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets", params={"orderBy": "colour desc"})

    assert reply.status == 400


async def test_fields_gives_partial_responses(cw: CWClient) -> None:
    reply = await cw.get(
        "/service/tickets",
        params={"fields": "id,summary,status/name", "conditions": f"id = {OPEN_TICKET_ID}"},
    )
    one = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}", params={"fields": "id,owner/name"})

    assert reply.body == [
        {
            "id": OPEN_TICKET_ID,
            "summary": "Front desk printer jams on every print job",
            "status": {"name": "In Progress"},
        }
    ]
    assert one.body == {"id": OPEN_TICKET_ID, "owner": {"name": "Jane Doe"}}


async def test_query_parameter_names_ignore_case(cw: CWClient) -> None:
    reply = await cw.get(
        "/service/tickets", params={"CONDITIONS": f"id={OPEN_TICKET_ID}", "PageSize": 5}
    )

    assert [t["id"] for t in reply.body] == [OPEN_TICKET_ID]


async def test_child_conditions_are_refused_not_ignored(cw: CWClient) -> None:
    reply = await cw.get("/service/tickets", params={"childConditions": 'x = "y"'})

    assert reply.status == 400
