"""manifest.yml: valid against Slack's own manifest JSON Schema, and true to psabot's contract.

The schemas are local copies (tests/data/slack/README.md); nothing is downloaded.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
DOC = ROOT / "docs" / "slack.md"
SCHEMAS = Path(__file__).resolve().parent / "data" / "slack"

TOP_LEVEL = "manifest.schema.json"
CLASSIC = "manifest.schema.1.0.0.json"  # major_version 1: the classic app manifest psabot uses

BOT_SCOPES = {
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "links:read",
    "links:write",
    "channels:read",
    "groups:read",
    "channels:history",
}
BOT_EVENTS = ["app_home_opened", "link_shared", "message.channels"]
EVENTS_PATH = "/slack/events"
REDIRECT_PATH = "/slack/oauth_redirect"

Manifest = dict[str, Any]


# --- schema plumbing -----------------------------------------------------------------------


def _load_json(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _offline(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # never fetch: every schema must come from tests/data/slack


def _registry() -> Registry[Any]:
    """The top-level schema's absolute $refs, each served from its local copy."""
    resources = []
    for uri in sorted({r for r in _refs(_load_json(TOP_LEVEL)) if not r.startswith("#")}):
        local = uri.rsplit("/", 1)[1]
        assert (SCHEMAS / local).is_file(), f"no local copy of {uri}"
        resources.append((uri, DRAFT7.create_resource(_load_json(local))))
    return Registry(retrieve=_offline).with_resources(resources)


def _regex_keyword(
    validator: Any, regex: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re.search(regex, instance):
        yield ValidationError(f"{instance!r} does not match {regex!r}")


# Slack's schema writes one pattern as a non-standard `regex` keyword
# (display_information.background_color); enforce it like `pattern`.
SlackValidator = validators.extend(Draft7Validator, {"regex": _regex_keyword})


def top_level_validator() -> Draft7Validator:
    """Slack's entry point, which picks the versioned schema from `_metadata.major_version`."""
    return Draft7Validator(_load_json(TOP_LEVEL), registry=_registry())


def classic_validator() -> Any:
    """The 1.0.0 schema directly: errors point at the failing field; `regex` enforced."""
    return SlackValidator(_load_json(CLASSIC))


def schema_errors(manifest: Manifest) -> list[str]:
    found = []
    for validator in (top_level_validator(), classic_validator()):
        for error in validator.iter_errors(manifest):
            found.append(f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}")
    return found


def _error_sites(manifest: Manifest) -> list[tuple[str, str]]:
    return sorted(
        ("/".join(map(str, e.absolute_path)), str(e.validator))
        for validator in (top_level_validator(), classic_validator())
        for e in validator.iter_errors(manifest)
    )


@pytest.fixture
def manifest() -> Manifest:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# --- the schema ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [TOP_LEVEL, CLASSIC, "manifest.schema.2.0.0.json"])
def test_schema_copies_are_valid_draft7(name: str) -> None:
    schema = _load_json(name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)


def test_registry_resolves_every_reference_offline() -> None:
    registry = _registry()
    for uri in {r for r in _refs(_load_json(TOP_LEVEL)) if not r.startswith("#")}:
        assert registry.get_or_retrieve(uri).value.contents["title"] == "App Manifest"
    with pytest.raises(NoSuchResource):
        registry.get_or_retrieve("https://example.com/not-stored.json")


def test_manifest_is_a_classic_major_version_1_manifest(manifest: Manifest) -> None:
    assert manifest["_metadata"]["major_version"] == 1


def test_manifest_validates_against_slacks_schema(manifest: Manifest) -> None:
    assert schema_errors(manifest) == []  # 1.0.0's errors name the failing field
    top_level_validator().validate(manifest)


_DELETE = object()


def _set(path: str, value: Any) -> Callable[[Manifest], None]:
    *parents, last = path.split(".")

    def mutate(m: Manifest) -> None:
        node: Any = m
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


BROKEN: dict[str, Callable[[Manifest], None]] = {
    "unknown top-level key": _set("slash_commands", [{"command": "/ticket", "description": "x"}]),
    "slash command without command": _set("features.slash_commands.0.command", _DELETE),
    "slash command without leading slash": _set("features.slash_commands.0.command", "ticket"),
    "slash command without description": _set("features.slash_commands.0.description", _DELETE),
    "shortcut of an unknown type": _set("features.shortcuts.0.type", "message_action"),
    "shortcut name over 24 characters": _set(
        "features.shortcuts.0.name", "Post this message to a ticket"
    ),
    "app name over 35 characters": _set("display_information.name", "p" * 36),
    "long description under 175 characters": _set("display_information.long_description", "Short."),
    "background colour not hex": _set("display_information.background_color", "#zzzzzz"),
    "interactivity without is_enabled": _set("settings.interactivity.is_enabled", _DELETE),
    "request url without scheme": _set(
        "settings.event_subscriptions.request_url", "psabot.example.com/slack/events"
    ),
    "unknown settings key": _set("settings.socket_mode", True),
    "scopes not a list": _set("oauth_config.scopes.bot", "commands,chat:write"),
    "major version 3": _set("_metadata.major_version", 3),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_schema_rejects_a_broken_manifest(manifest: Manifest, case: str) -> None:
    broken = copy.deepcopy(manifest)
    BROKEN[case](broken)
    assert broken != manifest
    top_level_errors = list(top_level_validator().iter_errors(broken))
    classic_errors = list(classic_validator().iter_errors(broken))
    if case == "major version 3":  # 1.0.0 itself accepts any integer; the entry point does not
        assert top_level_errors
        return
    if case == "background colour not hex":  # only our `regex` extension sees it
        plain = Draft7Validator(_load_json(CLASSIC)).iter_errors(broken)
        assert not [e for e in plain if "background_color" in e.absolute_path]
        assert [e for e in classic_errors if e.validator == "regex"]
        return
    assert top_level_errors, case
    assert classic_errors, case


def test_schema_does_not_check_scope_or_event_names(manifest: Manifest) -> None:
    """Slack's schema takes any string here, so the contract test below guards the names."""
    loose = copy.deepcopy(manifest)
    loose["oauth_config"]["scopes"]["bot"].append("chat:wrte")
    loose["settings"]["event_subscriptions"]["bot_events"].append("app_home_opend")
    assert _error_sites(loose) == _error_sites(manifest)  # no new errors (none at all, normally)
    assert any("scopes" in p for p in contract_problems(loose))
    assert any("events" in p for p in contract_problems(loose))


# --- psabot's contract ---------------------------------------------------------------------


def contract_problems(m: Manifest) -> list[str]:
    problems: list[str] = []
    features, settings, oauth = m["features"], m["settings"], m["oauth_config"]

    commands = [c["command"] for c in features.get("slash_commands", [])]
    if commands != ["/ticket"]:
        problems.append(f"slash commands are {commands}, not ['/ticket']")
    message_shortcuts = [s for s in features.get("shortcuts", []) if s["type"] == "message"]
    if [s["callback_id"] for s in message_shortcuts] != ["post_to_ticket", "new_ticket"]:
        problems.append(f"message shortcuts are {message_shortcuts}")

    request_urls = {
        "slash command": features["slash_commands"][0].get("url", ""),
        "events": settings.get("event_subscriptions", {}).get("request_url", ""),
        "interactivity": settings.get("interactivity", {}).get("request_url", ""),
        "options load": settings.get("interactivity", {}).get("message_menu_options_url", ""),
    }
    for what, url in request_urls.items():
        if not (url.startswith("https://") and url.endswith(EVENTS_PATH)):
            problems.append(f"{what} url {url!r} is not https://…{EVENTS_PATH}")
    redirects = oauth.get("redirect_urls", [])
    if len(redirects) != 1 or not redirects[0].endswith(REDIRECT_PATH):
        problems.append(f"redirect urls {redirects} are not one …{REDIRECT_PATH}")
    hosts = {u.split("/")[2] for u in [*request_urls.values(), *redirects] if u.count("/") >= 2}
    if len(hosts) != 1:
        problems.append(f"urls point at several hosts: {sorted(hosts)}")

    events = settings.get("event_subscriptions", {}).get("bot_events", [])
    if events != BOT_EVENTS:
        problems.append(f"bot events are {events}, not {BOT_EVENTS}")
    domains = features.get("unfurl_domains", [])
    if "myconnectwise.net" not in domains:
        problems.append(f"unfurl domains {domains} leave out the ConnectWise cloud")
    if not features.get("app_home", {}).get("home_tab_enabled"):
        problems.append("the Home tab is off")
    if settings.get("interactivity", {}).get("is_enabled") is not True:
        problems.append("interactivity is off")

    scopes = oauth.get("scopes", {})
    if sorted(scopes.get("bot", [])) != sorted(BOT_SCOPES):
        problems.append(f"bot scopes are {scopes.get('bot')}, not {sorted(BOT_SCOPES)}")
    if set(scopes) - {"bot"}:
        problems.append(f"asks for more than bot scopes: {sorted(set(scopes) - {'bot'})}")
    if "display_name" not in features.get("bot_user", {}):
        problems.append("no bot user")

    for flag in ("socket_mode_enabled", "org_deploy_enabled", "token_rotation_enabled"):
        if settings.get(flag) is not False:
            problems.append(f"{flag} is not false")
    return problems


def test_manifest_keeps_the_contract(manifest: Manifest) -> None:
    assert contract_problems(manifest) == []


def test_contract_details(manifest: Manifest) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/ticket"
    assert command["should_escape"] is True  # mentions must arrive as <@U…|name>
    assert "note" in command["usage_hint"] and "link" in command["usage_hint"]
    shortcut, new_ticket = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", "post_to_ticket")
    assert shortcut["name"] == "Post to ticket"
    assert (new_ticket["type"], new_ticket["callback_id"]) == ("message", "new_ticket")
    assert manifest["display_information"]["name"] == "psabot"
    assert manifest["features"]["bot_user"] == {"display_name": "psabot", "always_online": True}
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is False


BROKEN_CONTRACT: dict[str, Callable[[Manifest], None]] = {
    "another command": _set("features.slash_commands.0.command", "/psa"),
    "global shortcut": _set("features.shortcuts.0.type", "global"),
    "shortcut callback renamed": _set("features.shortcuts.0.callback_id", "post_ticket"),
    "interactivity url elsewhere": _set(
        "settings.interactivity.request_url", "https://psabot.example.com/slack/actions"
    ),
    "no options url": _set("settings.interactivity.message_menu_options_url", _DELETE),
    "redirect url elsewhere": _set(
        "oauth_config.redirect_urls", ["https://psabot.example.com/slack/oauth/callback"]
    ),
    "no app_home_opened": _set("settings.event_subscriptions.bot_events", ["message.channels"]),
    "extra scope": _set("oauth_config.scopes.bot", [*sorted(BOT_SCOPES), "im:history"]),
    "missing scope": _set("oauth_config.scopes.bot", sorted(BOT_SCOPES - {"users:read.email"})),
    "user scopes": _set("oauth_config.scopes.user", ["chat:write"]),
    "socket mode on": _set("settings.socket_mode_enabled", True),
    "no link_shared": _set(
        "settings.event_subscriptions.bot_events", ["app_home_opened", "message.channels"]
    ),
    "no unfurl domains": _set("features.unfurl_domains", _DELETE),
    "no links:write": _set("oauth_config.scopes.bot", sorted(BOT_SCOPES - {"links:write"})),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CONTRACT))
def test_contract_check_rejects_a_drifted_manifest(manifest: Manifest, case: str) -> None:
    drifted = copy.deepcopy(manifest)
    BROKEN_CONTRACT[case](drifted)
    assert contract_problems(drifted), case


def test_header_comment_says_what_to_replace() -> None:
    head = []
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        head.append(line)
    comment = "\n".join(head)
    assert "psabot.example.com" in comment
    assert "socket_mode_enabled: true" in comment


# --- docs/slack.md -------------------------------------------------------------------------


def _doc_items() -> list[str]:
    """Table rows and list items of the doc (the places a scope gets its reason)."""
    item = re.compile(r"^\s*(\||[-*+] |\d+\. )")
    return [line for line in DOC.read_text(encoding="utf-8").splitlines() if item.match(line)]


def _reason(line: str, scope: str) -> str:
    text = line.replace(f"`{scope}`", " ")
    return " ".join(re.findall(r"[A-Za-z][A-Za-z.:'-]*", text))


@pytest.mark.parametrize("scope", sorted(BOT_SCOPES))
def test_doc_gives_a_reason_for_every_scope(scope: str) -> None:
    lines = [line for line in _doc_items() if f"`{scope}`" in line]
    assert lines, f"docs/slack.md has no table row or list item naming `{scope}`"
    assert any(len(_reason(line, scope).split()) >= 4 for line in lines), lines


def test_doc_scope_table_lists_exactly_the_manifest_scopes(manifest: Manifest) -> None:
    doc = DOC.read_text(encoding="utf-8")
    section = doc.split("\n## Bot scopes\n", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\|\s*`([^`]+)`\s*\|", section, re.MULTILINE)
    assert sorted(first_cells) == sorted(manifest["oauth_config"]["scopes"]["bot"])


def test_doc_covers_the_environment() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for name in (
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "SLACK_API_URL",
    ):
        assert re.search(rf"^\| `{name}` \|", doc, re.MULTILINE), name
    for route in (EVENTS_PATH, REDIRECT_PATH, "/slack/install"):
        assert route in doc


def test_oauth_install_asks_for_the_manifest_scopes(manifest: Manifest) -> None:
    from bot.slack.app import BOT_SCOPES

    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
