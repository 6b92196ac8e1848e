"""The pure shape checks the gate and the Socket Mode middleware (and listeners) share."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fake_slack import PAYLOADS, load

from bot.slack import inbound

RECORDED = ["block_actions.json", "block_suggestion.json", "global_shortcut.json",
            "message_action.json", "view_submission.json"]  # fmt: skip


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_slack_payload_is_accepted(name: str) -> None:
    payload = load(name)
    assert inbound.validate_interactive(payload) is payload
    assert inbound.validate(payload) is payload  # as a Socket Mode listener would call it


def test_recorded_command_and_event_are_accepted() -> None:
    form = (PAYLOADS / "slash_command.form.txt").read_text().strip()
    assert inbound.parse(form, "application/x-www-form-urlencoded")["command"] == "/hello-world"
    assert inbound.validate(dict(parse_qsl(form)))["user_id"] == "W111"
    event = json.loads((PAYLOADS / "link_shared.event.json").read_text())
    assert inbound.parse(json.dumps(event), "application/json; charset=utf-8") == event


SECRET_VALUE = "pk-never-in-a-reason"


def broken(name: str, change: Any) -> dict[str, Any]:
    payload = load(name)
    change(payload)
    return payload


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (broken("block_actions.json", lambda p: p.update(actions=SECRET_VALUE)),
         "payload.actions must be a list"),
        (broken("block_actions.json", lambda p: p.update(actions=[])),
         "payload.actions must be a list"),
        (broken("block_actions.json", lambda p: p["actions"][0].update(action_id=7)),
         "payload.actions[0].action_id must be a string"),
        (broken("view_submission.json", lambda p: p["view"].pop("type")),
         "payload.view.type is missing"),
        (broken("view_submission.json", lambda p: p["view"]["state"]["values"].update(b="x")),
         "payload.view.state.values.<block> must be an object"),
        (broken("view_submission.json", lambda p: p.update(team=[SECRET_VALUE])),
         "payload.team must be a string or an object"),
        (broken("message_action.json", lambda p: p.pop("channel")),
         "payload.channel is missing"),
        (broken("block_suggestion.json", lambda p: p.update(value={"x": SECRET_VALUE})),
         "payload.value must be a string"),
        (broken("block_actions.json", lambda p: p.update(authorizations=SECRET_VALUE)),
         "payload.authorizations must be a list"),
        (broken("block_actions.json", lambda p: p.update(type="dialog_submission")),
         "payload.type is not one psabot handles"),
        ([], "payload must be a JSON object"),
        (None, "payload must be a JSON object"),
    ],
)  # fmt: skip
def test_misshapen_payload_names_the_field_never_the_value(payload: Any, reason: str) -> None:
    with pytest.raises(inbound.MalformedPayload) as raised:
        inbound.validate_interactive(payload)
    assert raised.value.reason == reason
    assert SECRET_VALUE not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "content_type", "reason"),
    [
        ("payload=%7Bbroken", "application/x-www-form-urlencoded", "payload is not valid JSON"),
        ("payload=" + "%5B" * 20_000, "application/x-www-form-urlencoded",
         "payload is not valid JSON"),
        ("command=/ticket&command=/x&team_id=T&user_id=U", "application/x-www-form-urlencoded",
         "a form field appears twice"),
        ("novalue", "application/x-www-form-urlencoded", "the form body is not valid"),
        ("&".join(f"f{i}=1" for i in range(200)), "application/x-www-form-urlencoded",
         "the form body is not valid"),
        ('{"type": "event_callback", "team_id": "T", "event": "x"}', "application/json",
         "event body.event must be an object"),
        ('{"type": "url_verification"}', "application/json",
         "event body.challenge is missing"),
        ("{}", "text/plain", "the content type must be form-encoded or JSON"),
    ],
)  # fmt: skip
def test_http_bodies_that_are_not_slack_requests(text: str, content_type: str, reason: str) -> None:
    with pytest.raises(inbound.MalformedPayload) as raised:
        inbound.parse(text, content_type)
    assert raised.value.reason == reason


def test_a_command_whose_text_says_payload_stays_a_command() -> None:
    body = inbound.parse(
        "command=%2Fticket&team_id=T1&user_id=U1&text=note+the+payload",
        "application/x-www-form-urlencoded",
    )
    assert body["text"] == "note the payload"
