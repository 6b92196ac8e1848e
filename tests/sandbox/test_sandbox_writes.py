"""Sandbox: ticket PATCH (status, summary, priority) and ticket notes (GET/POST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from psa.connectwise.sandbox import (
    CLOSED_TICKET_ID,
    NEW_TICKET_ID,
    OPEN_TICKET_ID,
    SandboxServer,
)

from .helpers import CWClient, OpenApiSubset

ISO = "%Y-%m-%dT%H:%M:%SZ"


def _status(status_id: int) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "status", "value": {"id": status_id}}]


def _field_errors(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in body["errors"]}


def _recent(stamp: str) -> bool:
    moment = datetime.strptime(stamp, ISO).replace(tzinfo=UTC)
    return abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


async def test_patch_status_on_the_same_board(cw: CWClient) -> None:
    reply = await cw.patch(f"/service/tickets/{NEW_TICKET_ID}", _status(2))

    assert reply.status == 200
    assert reply.body["status"]["id"] == 2
    assert reply.body["status"]["name"] == "Assigned"
    assert reply.body["closedFlag"] is False
    assert reply.body["_info"]["updatedBy"] == "PsabotAPI"
    assert _recent(reply.body["_info"]["lastUpdated"])
    assert cw.server.state.ticket(NEW_TICKET_ID)["status"]["name"] == "Assigned"


async def test_status_from_another_board_is_refused(cw: CWClient) -> None:
    reply = await cw.patch(f"/service/tickets/{OPEN_TICKET_ID}", _status(24))

    assert reply.status == 400
    assert reply.body["code"] == "InvalidObject"
    assert reply.body["message"] == "ticket object is invalid"
    [error] = reply.body["errors"]
    assert error["code"] == "InvalidObject"
    assert error["resource"] == "ticket"
    assert error["field"] == "status"
    assert cw.server.state.ticket(OPEN_TICKET_ID)["status"]["id"] == 3


@pytest.mark.parametrize("value", [{"id": 999}, {"id": 8}, {"name": "Nope"}, "Closed", {}])
async def test_unknown_inactive_or_malformed_status_is_refused(cw: CWClient, value: object) -> None:
    reply = await cw.patch(
        f"/service/tickets/{OPEN_TICKET_ID}", [{"op": "replace", "path": "status", "value": value}]
    )

    assert reply.status == 400
    assert list(_field_errors(reply.body)) == ["status"]


async def test_closing_and_reopening_sets_and_clears_closed_fields(cw: CWClient) -> None:
    closed = await cw.patch(f"/service/tickets/{OPEN_TICKET_ID}", _status(6))
    reopened = await cw.patch(f"/service/tickets/{OPEN_TICKET_ID}", _status(3))

    assert closed.body["closedFlag"] is True
    assert _recent(closed.body["closedDate"])
    assert closed.body["closedBy"] == "PsabotAPI"
    assert reopened.body["closedFlag"] is False
    assert "closedDate" not in reopened.body
    assert "closedBy" not in reopened.body


async def test_status_id_as_a_string_is_accepted(cw: CWClient) -> None:
    reply = await cw.patch(
        f"/service/tickets/{OPEN_TICKET_ID}",
        [{"op": "replace", "path": "status", "value": {"id": "4"}}],
    )

    assert reply.body["status"]["name"] == "Waiting on Customer"


async def test_status_by_name_is_looked_up_on_the_ticket_board(cw: CWClient) -> None:
    reply = await cw.patch(
        f"/service/tickets/{OPEN_TICKET_ID}",
        [{"op": "replace", "path": "status", "value": {"name": "closed"}}],
    )

    assert reply.body["status"]["id"] == 7


async def test_patched_ticket_moves_to_the_top_of_recent_updates(cw: CWClient) -> None:
    await cw.patch(f"/service/tickets/{CLOSED_TICKET_ID}", _status(3))

    recent = await cw.get(
        "/service/tickets", params={"orderBy": "_info/lastUpdated desc", "pageSize": 1}
    )

    assert recent.body[0]["id"] == CLOSED_TICKET_ID


async def test_patch_summary_and_priority_together(cw: CWClient) -> None:
    reply = await cw.patch(
        f"/service/tickets/{OPEN_TICKET_ID}",
        [
            {"op": "replace", "path": "summary", "value": "Front desk printer replaced"},
            {"op": "replace", "path": "priority", "value": {"id": 8}},
        ],
    )

    assert reply.body["summary"] == "Front desk printer replaced"
    assert reply.body["priority"]["name"] == "Priority 1 - Emergency Response"


async def test_bad_patch_changes_nothing(cw: CWClient) -> None:
    before = cw.server.state.ticket(OPEN_TICKET_ID)["summary"]

    reply = await cw.patch(
        f"/service/tickets/{OPEN_TICKET_ID}",
        [
            {"op": "replace", "path": "summary", "value": "Changed"},
            {"op": "replace", "path": "priority", "value": {"id": 12345}},
        ],
    )

    assert reply.status == 400
    assert list(_field_errors(reply.body)) == ["priority"]
    assert cw.server.state.ticket(OPEN_TICKET_ID)["summary"] == before


@pytest.mark.parametrize(
    "body",
    [
        {"op": "replace", "path": "status", "value": {"id": 2}},
        [],
        ["status"],
        [{"op": "remove", "path": "summary"}],
        [{"op": "replace", "path": "summary"}],
        [{"op": "replace", "path": "summary", "value": ""}],
        [{"op": "replace", "path": "summary", "value": "x" * 101}],
        [{"op": "replace", "path": "budgetHours", "value": 3}],
    ],
)
async def test_bad_patch_bodies_get_400(cw: CWClient, body: object) -> None:
    reply = await cw.patch(f"/service/tickets/{OPEN_TICKET_ID}", body)

    assert reply.status == 400
    assert reply.body["code"] == "InvalidObject"
    assert reply.body["errors"]


async def test_patch_body_that_is_not_json_gets_400(cw: CWClient) -> None:
    reply = await cw.request("PATCH", f"/service/tickets/{OPEN_TICKET_ID}", data="{not json")

    assert reply.status == 400


async def test_patch_missing_ticket_gets_404(cw: CWClient) -> None:
    reply = await cw.patch("/service/tickets/1", _status(2))

    assert reply.status == 404


# --- notes -------------------------------------------------------------------------------


async def test_notes_of_a_ticket(cw: CWClient) -> None:
    reply = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}/notes")

    assert [n["ticketId"] for n in reply.body] == [OPEN_TICKET_ID, OPEN_TICKET_ID]
    assert reply.body[0]["detailDescriptionFlag"] is True
    assert reply.body[1]["internalAnalysisFlag"] is True
    assert reply.body[0]["member"]["identifier"] == "jdoe"


async def test_post_note_returns_201_with_server_fields(cw: CWClient) -> None:
    before = [n["id"] for n in cw.server.state.notes_for(OPEN_TICKET_ID)]

    reply = await cw.post(
        f"/service/tickets/{OPEN_TICKET_ID}/notes",
        {
            "text": "Replaced the toner, printing OK\n— posted from Slack by Jane",
            "internalAnalysisFlag": True,
            "detailDescriptionFlag": False,
            "resolutionFlag": False,
            "processNotifications": False,
        },
    )

    note = reply.body
    assert reply.status == 201
    assert note["id"] > max(before)
    assert note["ticketId"] == OPEN_TICKET_ID
    assert note["text"] == "Replaced the toner, printing OK\n— posted from Slack by Jane"
    assert note["internalAnalysisFlag"] is True and note["detailDescriptionFlag"] is False
    assert note["createdBy"] == "PsabotAPI"
    assert note["member"]["identifier"] == "PsabotAPI"
    assert _recent(note["dateCreated"])
    stored = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}/notes/{note['id']}")
    assert stored.body == note


async def test_post_note_as_a_member(cw: CWClient) -> None:
    by_id = await cw.post(
        f"/service/tickets/{OPEN_TICKET_ID}/notes",
        {"text": "On site now", "detailDescriptionFlag": True, "member": {"id": 143}},
    )
    by_identifier = await cw.post(
        f"/service/tickets/{OPEN_TICKET_ID}/notes",
        {"text": "Fixed", "resolutionFlag": True, "member": {"identifier": "pnguyen"}},
    )

    assert by_id.body["member"]["identifier"] == "msmith"
    assert by_id.body["createdBy"] == "msmith"
    assert by_identifier.body["member"]["id"] == 144
    assert by_identifier.body["resolutionFlag"] is True


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"internalAnalysisFlag": True}, ["text"]),
        ({"text": "   ", "internalAnalysisFlag": True}, ["text"]),
        ({"text": "hello"}, ["detailDescriptionFlag"]),
        (
            {"text": "hello", "internalAnalysisFlag": False, "resolutionFlag": False},
            ["detailDescriptionFlag"],
        ),
        (
            {"text": "hello", "internalAnalysisFlag": True, "member": {"identifier": "rbrooks"}},
            ["member"],
        ),
        ({"text": "hello", "internalAnalysisFlag": True, "member": {"id": 9999}}, ["member"]),
        ({"text": "hello", "internalAnalysisFlag": True, "member": {"name": "Jane"}}, ["member"]),
        ({"text": "hello", "internalAnalysisFlag": "yes"}, ["internalAnalysisFlag"]),
        ({}, ["text", "detailDescriptionFlag"]),
    ],
)
async def test_invalid_notes_get_400_with_field_errors(
    cw: CWClient, body: dict[str, Any], fields: list[str]
) -> None:
    reply = await cw.post(f"/service/tickets/{OPEN_TICKET_ID}/notes", body)

    assert reply.status == 400
    assert reply.body["code"] == "InvalidObject"
    assert reply.body["message"] == "serviceNote object is invalid"
    assert list(_field_errors(reply.body)) == fields
    assert all(e["resource"] == "serviceNote" for e in reply.body["errors"])
    assert len(cw.server.state.notes_for(OPEN_TICKET_ID)) == 2


@pytest.mark.parametrize("data", ["not json", "[1, 2]"])
async def test_note_body_must_be_a_json_object(cw: CWClient, data: str) -> None:
    reply = await cw.request("POST", f"/service/tickets/{OPEN_TICKET_ID}/notes", data=data)

    assert reply.status == 400


async def test_notes_of_missing_ticket_get_404(cw: CWClient) -> None:
    listed = await cw.get("/service/tickets/999/notes")
    posted = await cw.post("/service/tickets/999/notes", {"text": "x", "resolutionFlag": True})
    other = await cw.get(
        f"/service/tickets/{CLOSED_TICKET_ID}/notes/"
        f"{cw.server.state.notes_for(OPEN_TICKET_ID)[0]['id']}"
    )

    assert [listed.status, posted.status, other.status] == [404, 404, 404]
    assert listed.body["message"] == "Ticket Id 999 not found"


async def test_note_conditions_order_and_paging(cw: CWClient) -> None:
    for n in range(5):
        await cw.post(
            f"/service/tickets/{NEW_TICKET_ID}/notes",
            {"text": f"psabot-marker-{n} checked VPN", "internalAnalysisFlag": True},
        )
    note_ids = [n["id"] for n in cw.server.state.notes_for(NEW_TICKET_ID)]

    marked = await cw.get(
        f"/service/tickets/{NEW_TICKET_ID}/notes",
        params={"conditions": 'text contains "PSABOT-MARKER-3"'},
    )
    newest = await cw.get(
        f"/service/tickets/{NEW_TICKET_ID}/notes", params={"orderBy": "id desc", "pageSize": 2}
    )
    by_id = await cw.get(
        f"/service/tickets/{NEW_TICKET_ID}/notes", params={"conditions": f"id = {note_ids[1]}"}
    )
    count = await cw.get(
        f"/service/tickets/{NEW_TICKET_ID}/notes/count",
        params={"conditions": 'text contains "checked"'},
    )

    assert [n["text"] for n in marked.body] == ["psabot-marker-3 checked VPN"]
    assert [n["id"] for n in newest.body] == note_ids[:-3:-1]
    assert newest.links["next"].endswith("page=2")
    assert [n["id"] for n in by_id.body] == [note_ids[1]]
    assert count.body == {"count": 5}


async def test_injected_clock_stamps_writes(openapi: OpenApiSubset) -> None:
    moment = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    async with SandboxServer(clock=lambda: moment) as server, aiohttp.ClientSession() as session:
        client = CWClient(session, server, openapi)
        note = await client.post(
            f"/service/tickets/{OPEN_TICKET_ID}/notes",
            {"text": "stamped", "internalAnalysisFlag": True},
        )
        ticket = await client.get(f"/service/tickets/{OPEN_TICKET_ID}")

    assert note.body["dateCreated"] == "2026-01-05T09:30:00Z"
    assert ticket.body["_info"]["lastUpdated"] == "2026-01-05T09:30:00Z"
