"""The parsers read every real ConnectWise sample, tolerating missing and extra fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from psa.connectwise.error_map import error_from_response
from psa.connectwise.parse import (
    parse_board,
    parse_company,
    parse_member,
    parse_note,
    parse_status,
    parse_ticket,
)
from psa.errors import AuthError, ConfigurationError, RateLimited, ServerError, ValidationFailed
from psa.types import NoteType

SAMPLES = Path(__file__).parent / "data" / "connectwise"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def test_every_sample_parses() -> None:
    parsers = {
        "ticket": parse_ticket,
        "ticket_list": parse_ticket,
        "ticket_notes": parse_note,
        "board_statuses": parse_status,
        "boards": parse_board,
        "company": parse_company,
        "member": parse_member,
    }
    seen = set()
    for path in SAMPLES.glob("*.json"):
        kind = path.name.split(".")[0]
        if kind not in parsers:
            continue
        body = json.loads(path.read_text())
        for record in body if isinstance(body, list) else [body]:
            assert parsers[kind](record).id
        seen.add(kind)
    assert seen == set(parsers)


def test_ticket_sample() -> None:
    ticket = parse_ticket(sample("ticket.django-connectwise.json"))
    assert ticket.id == 69
    assert ticket.summary == "Schedule and Execute Conversion"
    assert ticket.board is not None and ticket.board.name == "Service A"
    assert ticket.status is not None and ticket.status.name == "New"
    assert ticket.company is not None and ticket.company.identifier == "YourCompany"


def test_ticket_list_sample() -> None:
    tickets = [parse_ticket(t) for t in sample("ticket_list.django-connectwise.json")]
    assert tickets and all(t.id for t in tickets)


def test_notes_sample_with_expanded_member() -> None:
    notes = [parse_note(n) for n in sample("ticket_notes.django-connectwise.json")]
    assert notes[0].ticket_id == 69
    assert notes[0].note_type is NoteType.DESCRIPTION
    assert notes[0].member is not None and notes[0].member.identifier == "User1"


def test_reference_samples() -> None:
    statuses = [parse_status(s) for s in sample("board_statuses.django-connectwise.json")]
    assert [(s.name, s.closed, s.board_id) for s in statuses] == [
        ("New", False, 1),
        ("In Progress", True, 1),
    ]
    assert parse_board(sample("boards.django-connectwise.json")[0]).name == "Service A"
    company = parse_company(sample("company.django-connectwise.json"))
    assert company.identifier and company.name
    member = parse_member(sample("member.django-connectwise.json"))
    assert member.identifier == "User1"
    assert member.emails == ("test@test.com",)
    assert not member.api_member and not member.inactive


def test_missing_and_unknown_fields_are_tolerated() -> None:
    assert parse_ticket({"id": 5}).summary == ""
    assert parse_ticket({"id": 5, "brandNew": {"x": 1}, "status": None}).status is None
    assert parse_member({"id": 1, "identifier": "x", "primaryEmail": None}).emails == ()
    assert parse_note({"id": 1, "text": None}, 9).ticket_id == 9


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("400_invalid_object_duplicate_callback.pyconnectwise-tests", ValidationFailed),
        ("400_invalid_object_company_patch.live-report-quoted-in-code", ValidationFailed),
        ("500_timeout_a.pyconnectwise-tests", ServerError),
        ("429_rate_limited.cw-developer-guide", RateLimited),
    ],
)
def test_error_samples_map_to_typed_errors(key: str, kind: type[Exception]) -> None:
    entry = sample("errors.json")[key]
    error = error_from_response(
        entry["status"], entry["body"], entry.get("headers", {}), operation="test"
    )
    assert isinstance(error, kind)
    if isinstance(error, ValidationFailed):
        assert error.field_errors and error.field_errors[0].field
    if isinstance(error, RateLimited):
        assert error.retry_after == 30


def test_error_bodies_without_status_codes() -> None:
    entries = sample("errors.json")
    auth = entries["user_not_authenticated.christaylorcodes-ConnectWiseManageAPI"]["body"]
    assert isinstance(error_from_response(500, auth, {}, operation="x"), AuthError)
    ssl = entries["ssl_required_plain_http_or_missing_api_prefix.cw-developer-guide"]["body"]
    assert isinstance(error_from_response(403, ssl, {}, operation="x"), ConfigurationError)
