"""Sandbox: every response body validates against the OpenAPI 2025.1 subset."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID

from .helpers import CWClient, OpenApiSubset


def test_converted_schemas_accept_real_shapes_and_reject_wrong_ones(
    openapi: OpenApiSubset,
) -> None:
    note_schema = openapi.response_schema("GET", "/service/tickets/1/notes/2", 200)
    validator = openapi.validator(note_schema)

    validator.validate({"id": 1, "ticketId": None, "text": "x", "member": {"id": 2}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"id": 1, "detailDescriptionFlag": "yes"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"id": 1, "txet": "typo"})  # strict: unknown fields are bugs
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"id": 1, "member": {"id": "142"}})  # refs are followed
    priority = openapi.validator(openapi.response_schema("GET", "/service/priorities/1", 200))
    with pytest.raises(jsonschema.ValidationError):
        priority.validate({"id": 1, "name": "P1"})  # color is required
    with pytest.raises(jsonschema.ValidationError):
        priority.validate({"id": 1, "name": "P1", "color": "red"})  # enum, case-sensitive


def test_paths_resolve_to_the_most_specific_template(openapi: OpenApiSubset) -> None:
    assert openapi.template("/service/tickets/count") == "/service/tickets/count"
    assert openapi.template("/service/tickets/48213") == "/service/tickets/{id}"
    assert openapi.template("/service/tickets/48213/notes/count") == (
        "/service/tickets/{parentId}/notes/count"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/system/info",
        "/service/tickets",
        "/service/tickets/count",
        f"/service/tickets/{OPEN_TICKET_ID}",
        f"/service/tickets/{CLOSED_TICKET_ID}",
        f"/service/tickets/{OPEN_TICKET_ID}/notes",
        f"/service/tickets/{OPEN_TICKET_ID}/notes/count",
        f"/service/tickets/{OPEN_TICKET_ID}/configurations",
        "/service/boards",
        "/service/boards/1",
        "/service/boards/1/statuses",
        "/service/boards/3/statuses/22",
        "/service/priorities",
        "/service/priorities/8",
        "/company/companies",
        "/company/companies/256",
        "/system/members",
        "/system/members/147",
        "/system/members/PsabotAPI",
    ],
)
async def test_every_endpoint_answers_in_spec(cw: CWClient, path: str) -> None:
    reply = await cw.get(path, params={"pageSize": 1000})  # the client validates the body

    assert reply.status == 200
    assert reply.body


async def test_every_seeded_record_is_in_spec(cw: CWClient) -> None:
    tickets = await cw.get("/service/tickets", params={"pageSize": 1000})
    with_notes = sorted({n["ticketId"] for n in cw.server.state.notes.values()})
    for ticket_id in with_notes:
        notes = await cw.get(f"/service/tickets/{ticket_id}/notes", params={"pageSize": 1000})
        assert notes.body
    for ticket_id in cw.server.state.configurations:
        await cw.get(f"/service/tickets/{ticket_id}/configurations")

    assert len(tickets.body) == len(cw.server.state.tickets)


async def test_write_responses_are_in_spec(cw: CWClient) -> None:
    patched = await cw.patch(
        f"/service/tickets/{OPEN_TICKET_ID}",
        [{"op": "replace", "path": "status", "value": {"id": 6}}],
    )
    posted = await cw.post(
        f"/service/tickets/{OPEN_TICKET_ID}/notes",
        {"text": "Done", "resolutionFlag": True, "member": {"id": 142}},
    )

    assert (patched.status, posted.status) == (200, 201)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/service/tickets/1", None),
        ("GET", "/service/tickets?conditions=nope%3D1", None),
        (
            "PATCH",
            f"/service/tickets/{OPEN_TICKET_ID}",
            [{"op": "replace", "path": "status", "value": {"id": 24}}],
        ),
        ("POST", f"/service/tickets/{OPEN_TICKET_ID}/notes", {}),
    ],
)
async def test_error_bodies_are_error_response_messages(
    cw: CWClient, method: str, path: str, body: Any
) -> None:
    reply = await cw.request(method, "", url=cw.server.api_url + path, json_body=body)

    assert 400 <= reply.status < 500
    assert set(reply.body) == {"code", "message", "errors"}
