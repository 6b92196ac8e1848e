"""What a Slack request must look like before bolt or a listener reads it: pure shape checks.

Slack sends three kinds of bodies: slash commands (form fields), interactive payloads (a form
field `payload` holding JSON, keyed by its `type`) and Events API envelopes (JSON). Each kind
has a shape in `SHAPES` / `COMMAND` / `ENVELOPES` naming the fields psabot and bolt read and the
type each must have; anything else in a payload is ignored. A mismatch raises
`MalformedPayload`, whose `reason` names the field and the type expected, never a value, so it
is safe to log and to answer with.

HTTP requests are checked by the gate (bot/slack/gate.py) before bolt parses them. Socket Mode
payloads arrive over an authenticated websocket and bypass HTTP; the app checks them in a bolt
middleware that runs before authorization, and a listener may call the same functions:

    try:
        inbound.validate(body)        # or validate_interactive / validate_command / ...
    except inbound.MalformedPayload as exc:
        ...                            # ack, log exc.reason once, do no work
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_FIELDS = 100  # a slash command has about 14 form fields


class MalformedPayload(ValueError):
    """A Slack body that is not shaped like anything Slack sends; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ListOf:
    item: Spec
    min_items: int = 0


@dataclass(frozen=True)
class Shape:
    """A JSON object: required fields, optional fields (absent or null is fine), rest ignored."""

    required: Mapping[str, Spec] = field(default_factory=dict)
    optional: Mapping[str, Spec] = field(default_factory=dict)


Spec: TypeAlias = "type | tuple[Spec, ...] | Shape | ListOf"

NULL = type(None)
ID = Shape(optional={"id": str})
# bolt looks for the team, user and channel ids inside an Events API `event` too (and in its
# `item`, `message`, `previous_message`), with `"id" in value` where a value is not a string.
EVENT = Shape(
    optional={
        "type": str,
        "team": (str, ID),
        "user": (str, Shape(optional={"id": str, "team_id": str})),
        "channel": (str, ID),
        "item": Shape(optional={"channel": (str, ID)}),
        "message": Shape(optional={"user": (str, ID)}),
        "previous_message": Shape(optional={"user": (str, ID)}),
    }
)
# Fields bolt reads from every body while building its context; each may be an id string.
CONTEXT: Mapping[str, Spec] = {
    "type": str,
    "enterprise": (str, Shape(optional={"id": str})),
    "team": (str, ID),
    "user": (str, Shape(optional={"id": str, "team_id": str})),
    "channel": (str, ID),
    "authorizations": ListOf(Shape(optional={"team_id": str, "enterprise_id": str})),
    "event": EVENT,
    "message": Shape(optional={"text": str, "user": str, "ts": str, "thread_ts": str}),
    "previous_message": Shape(),
    "item": Shape(),
    "assistant_thread": Shape(),
    "function_data": Shape(),
    "response_url": str,
    "response_urls": ListOf(Shape(optional={"response_url": str})),
    "thread_ts": str,
    "trigger_id": str,
    "container": Shape(optional={"type": str, "channel_id": str, "thread_ts": str, "view_id": str}),
    "view": Shape(optional={"type": str, "callback_id": str, "app_installed_team_id": str}),
}
USER = Shape(required={"id": str}, optional={"team_id": str})
TEAM = (NULL, Shape(required={"id": str}))  # null for org-wide installs
ELEMENT = Shape(optional={"type": str, "value": str, "selected_option": Shape()})
VIEW = Shape(
    required={"id": str, "type": str, "callback_id": str},
    optional={
        "private_metadata": str,
        "hash": str,
        "team_id": str,
        "title": Shape(optional={"text": str}),
        "state": Shape(optional={"values": dict}),  # checked per block below
    },
)
ACTION = Shape(
    required={"action_id": str, "type": str},
    optional={"block_id": str, "value": str, "action_ts": str},
)

# Interactive payloads by `type`: what must be there on top of CONTEXT.
SHAPES: Mapping[str, Shape] = {
    "block_actions": Shape(
        required={"user": USER, "actions": ListOf(ACTION, min_items=1)},
        optional={"team": TEAM, "view": VIEW},
    ),
    "block_suggestion": Shape(
        required={"user": USER, "action_id": str, "value": str},
        optional={"team": TEAM, "block_id": str, "view": VIEW},
    ),
    "view_submission": Shape(required={"user": USER, "view": VIEW}, optional={"team": TEAM}),
    "view_closed": Shape(required={"user": USER, "view": VIEW}, optional={"team": TEAM}),
    "message_action": Shape(
        required={
            "user": USER,
            "callback_id": str,
            "trigger_id": str,
            "channel": Shape(required={"id": str}),
            "message": Shape(required={"ts": str}),
        },
        optional={"team": TEAM, "message_ts": str, "response_url": str},
    ),
    "shortcut": Shape(
        required={"user": USER, "callback_id": str, "trigger_id": str}, optional={"team": TEAM}
    ),
}
# Slash command form fields (all strings once parsed): the ones that must be there.
COMMAND = ("command", "team_id", "user_id")
# Events API envelopes by `type`.
ENVELOPES: Mapping[str, Shape] = {
    "url_verification": Shape(required={"challenge": str}),
    "event_callback": Shape(
        required={"team_id": str, "event": Shape(required={"type": str})},
        optional={"event_id": str, "api_app_id": str},
    ),
    "app_rate_limited": Shape(optional={"team_id": str}),
}


def _type_name(spec: Spec) -> str:
    if isinstance(spec, Shape):
        return "an object"
    if isinstance(spec, ListOf):
        return "a list"
    if isinstance(spec, tuple):
        return " or ".join(_type_name(s) for s in spec if s is not NULL) or "null"
    return {str: "a string", bool: "a boolean", int: "a number"}.get(spec, "an object")


def _matches(value: Any, spec: Spec, path: str) -> bool:
    """True if `value` fits `spec`; raises for a fitting container with a bad field inside."""
    if isinstance(spec, tuple):
        return any(_matches(value, option, path) for option in spec)
    if isinstance(spec, Shape):
        if not isinstance(value, dict):
            return False
        check(value, spec, path)
        return True
    if isinstance(spec, ListOf):
        if not isinstance(value, list) or len(value) < spec.min_items:
            return False
        for i, item in enumerate(value):
            _field(item, spec.item, f"{path}[{i}]")
        return True
    if spec is bool:
        return isinstance(value, bool)
    return isinstance(value, spec) and not (spec is int and isinstance(value, bool))


def _field(value: Any, spec: Spec, path: str) -> None:
    if not _matches(value, spec, path):
        raise MalformedPayload(f"{path} must be {_type_name(spec)}")


def check(body: Mapping[str, Any], shape: Shape, path: str = "payload") -> None:
    """Raise MalformedPayload unless `body` has `shape` (extra fields are ignored)."""
    for name, spec in shape.required.items():
        if body.get(name) is None:
            raise MalformedPayload(f"{path}.{name} is missing")
        _field(body[name], spec, f"{path}.{name}")
    for name, spec in shape.optional.items():
        if body.get(name) is not None:
            _field(body[name], spec, f"{path}.{name}")


def _check_state(view: Mapping[str, Any]) -> None:
    values = (view.get("state") or {}).get("values") or {}
    for actions in values.values():
        if not isinstance(actions, dict):
            raise MalformedPayload("payload.view.state.values.<block> must be an object")
        for element in actions.values():
            _field(element, ELEMENT, "payload.view.state.values.<block>.<action>")


def validate_context(body: Mapping[str, Any], path: str = "payload") -> None:
    """The fields every body may carry and bolt reads before any listener runs."""
    check(body, Shape(optional=CONTEXT), path)


def validate_interactive(payload: object) -> dict[str, Any]:
    """An interactive payload (the JSON of the `payload` form field), by its `type`."""
    if not isinstance(payload, dict):
        raise MalformedPayload("payload must be a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise MalformedPayload("payload.type must be a string")
    shape = SHAPES.get(kind)
    if shape is None:
        raise MalformedPayload("payload.type is not one psabot handles")
    validate_context(payload)
    check(payload, shape)
    if isinstance(payload.get("view"), dict):
        _check_state(payload["view"])
    return payload


def validate_command(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A slash command's form fields."""
    for name in COMMAND:
        if not isinstance(fields.get(name), str) or not fields[name]:
            raise MalformedPayload(f"command.{name} is missing")
    for name, value in fields.items():
        if not isinstance(value, str):
            raise MalformedPayload(f"command.{name} must be a string")
    return dict(fields)


def validate_event(envelope: object) -> dict[str, Any]:
    """An Events API envelope (JSON body)."""
    if not isinstance(envelope, dict):
        raise MalformedPayload("event body must be a JSON object")
    kind = envelope.get("type")
    if not isinstance(kind, str):
        raise MalformedPayload("event body type must be a string")
    shape = ENVELOPES.get(kind)
    if shape is None:
        raise MalformedPayload("event body type is not one psabot handles")
    validate_context(envelope, "event body")
    check(envelope, shape, "event body")
    return envelope


def validate(body: object) -> dict[str, Any]:
    """Any parsed Slack body (what bolt hands a middleware or listener as `body`)."""
    if not isinstance(body, dict):
        raise MalformedPayload("body must be an object")
    if "command" in body and "type" not in body:
        return validate_command(body)
    if body.get("type") in ENVELOPES:
        return validate_event(body)
    return validate_interactive(body)


def _loads(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        raise MalformedPayload(f"{what} is not valid JSON") from None


def parse(text: str, content_type: str | None) -> dict[str, Any]:
    """An HTTP body (already UTF-8 text) → the validated body, as bolt would parse it."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == JSON:
        return validate_event(_loads(text, "the body"))
    if kind != FORM:
        raise MalformedPayload("the content type must be form-encoded or JSON")
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS
        )
    except ValueError:
        raise MalformedPayload("the form body is not valid") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise MalformedPayload("a form field appears twice")
    if "payload" in fields:
        return validate_interactive(_loads(fields["payload"], "payload"))
    return validate_command(fields)
