"""Sandbox: records are sent byte for byte as a deep copy with absolute links would be sent.

The sandbox selects `fields=` without copying and makes `_href` links absolute in the JSON
text; the functions below are the plain way it used to do both (deep copies, a walk over
every value), kept here as the specification the fast way must match.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from psa.connectwise.provider import TICKET_FIELDS
from psa.connectwise.sandbox import SandboxState
from psa.connectwise.sandbox.query import project
from psa.connectwise.sandbox.render import absolute_links, json_response

from .helpers import CWClient

ROOT = "http://127.0.0.1:8123/v2025_1/apis/3.0/"
FIELDS = [
    None,
    "",
    TICKET_FIELDS,
    "id,summary",
    "company,company/name",
    "company/name,company",
    "Company/Name, company/_info, _info/lastUpdated, nothing, board/nope",
    "id,,/,status/",
]


def plain_absolutize(value: Any, root: str) -> Any:
    if isinstance(value, dict):
        return {
            key: (
                root + item
                if key.endswith("_href") and isinstance(item, str) and "://" not in item
                else plain_absolutize(item, root)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [plain_absolutize(item, root) for item in value]
    return value


def _find_key(record: dict[str, Any], name: str) -> str | None:
    if name in record:
        return name
    return next((k for k in record if k.casefold() == name.casefold()), None)


def _plain_copy_path(source: dict[str, Any], target: dict[str, Any], path: list[str]) -> None:
    key = _find_key(source, path[0])
    if key is None:
        return
    if len(path) == 1:
        target[key] = copy.deepcopy(source[key])
    elif isinstance(source[key], dict):
        branch = target.setdefault(key, {})
        if isinstance(branch, dict):
            _plain_copy_path(source[key], branch, path[1:])


def plain_project(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if fields is None or not fields.strip():
        return record
    result: dict[str, Any] = {}
    for raw in fields.split(","):
        path = [part for part in raw.strip().split("/") if part]
        if path:
            _plain_copy_path(record, result, path)
    return result


def plain_text(body: Any, root: str) -> str:
    return json.dumps(plain_absolutize(body, root), ensure_ascii=False)


def sent_text(body: Any, root: str) -> str:
    return json_response(body, links_under=root).text or ""


def test_every_seeded_record_is_sent_as_before() -> None:
    state = SandboxState(seed=7, ticket_count=400)
    kinds: list[list[dict[str, Any]]] = [
        list(state.tickets.values()),
        list(state.notes.values()),
        list(state.companies.values()),
        list(state.members.values()),
        list(state.boards.values()),
        list(state.statuses.values()),
        list(state.priorities.values()),
        [c for group in state.configurations.values() for c in group],
    ]
    before = json.dumps([state.tickets, state.notes, state.companies], sort_keys=True)
    for records in kinds:
        assert records
        for fields in FIELDS:
            chosen = [project(r, fields) for r in records]
            assert chosen == [plain_project(r, fields) for r in records]
            expected = plain_text([plain_project(r, fields) for r in records], ROOT)
            assert sent_text(chosen, ROOT) == expected, fields
            assert sent_text(chosen[0], ROOT) == plain_text(plain_project(records[0], fields), ROOT)
    # selecting without copying never changed a stored record
    assert json.dumps([state.tickets, state.notes, state.companies], sort_keys=True) == before


AWKWARD_TEXT = st.sampled_from(
    [
        "_href",
        "a_href",
        "href",
        "x_HREF",
        '_href": "',
        'q_href": "x',
        "https://example.test/a",
        "a://b",
        'say "hi" at https://x',
        "c:\\://",
        ":/",
        "service/tickets/1",
        'quote"_href',
        "back\\slash_href",
        "line\nbreak",
        "tab\t_href",
        "café_href",
        "\u2028",
        "",
    ]
)
keys = AWKWARD_TEXT | st.text(max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | AWKWARD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
roots = st.sampled_from([ROOT, "https://host:1/c/apis/3.0/", 'odd"\\root\u00e9/']) | st.text(
    max_size=10
)


@settings(max_examples=400, deadline=None)
@given(values, roots)
def test_links_made_absolute_in_the_text_as_in_a_copy(value: Any, root: str) -> None:
    assert absolute_links(json.dumps(value, ensure_ascii=False), root) == plain_text(value, root)


async def test_a_listing_page_is_the_records_with_absolute_links(cw: CWClient) -> None:
    params = {"pageSize": 30, "page": 2, "fields": TICKET_FIELDS}
    reply = await cw.get("/service/tickets", params=params)
    root = f"{cw.server.url}/{cw.server.codebase}apis/3.0/"
    tickets = [cw.server.state.tickets[i] for i in sorted(cw.server.state.tickets)[30:60]]
    assert reply.text == plain_text([plain_project(t, TICKET_FIELDS) for t in tickets], root)
    assert '_href": "http' in reply.text
