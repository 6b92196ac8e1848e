"""Sandbox query engine without HTTP: the conditions evaluator, LIKE, orderBy and fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psa.connectwise import conditions as c
from psa.connectwise.sandbox import SandboxState
from psa.connectwise.sandbox.errors import ApiError
from psa.connectwise.sandbox.query import compile_conditions, like_pattern, order, project
from psa.connectwise.sandbox.resources import NOTES, TICKETS

STATE = SandboxState()
TICKETS_LIST = list(STATE.tickets.values())


def _matching(condition: str) -> list[int]:
    predicate = compile_conditions(condition, TICKETS)
    return [t["id"] for t in TICKETS_LIST if predicate(t)]


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("%printer%", "Front desk PRINTER jams", True),
        ("front%", "Front desk", True),
        ("front", "Front desk", False),
        ("f_ont desk", "Front desk", True),
        ("*desk", "Front desk", True),
        ("[fg]ront%", "Front", True),
        ("[^f]ront%", "Front", False),
        ("50[%]", "50%", True),
        ("a.b", "axb", False),
        ("[[]x]", "[x]", True),
    ],
)
def test_like_pattern(pattern: str, text: str, matches: bool) -> None:
    assert (like_pattern(pattern).fullmatch(text) is not None) is matches


def test_null_semantics_follow_sql() -> None:
    unassigned = set(_matching("owner/identifier = null"))

    assert unassigned == {t["id"] for t in TICKETS_LIST if "owner" not in t}
    # a NULL never satisfies != or not contains, as in SQL Server
    assert unassigned.isdisjoint(_matching('owner/identifier != "jdoe"'))
    assert unassigned.isdisjoint(_matching('owner/identifier not contains "x"'))
    assert unassigned.isdisjoint(_matching("owner/identifier not in (1)"))


def test_and_binds_tighter_than_or() -> None:
    result = _matching("id = 48200 or id = 48201 and closedFlag = true")
    closed_48201 = STATE.ticket(48201)["closedFlag"]

    assert result == ([48200, 48201] if closed_48201 else [48200])


def test_field_names_ignore_case() -> None:
    assert _matching("ID = 48213") == _matching("id = 48213") == [48213]


@pytest.mark.parametrize(
    "condition",
    ["nope = 1", "id = true", 'closedFlag > "x"', "lastUpdated > 5", 'board/id like "1%"'],
)
def test_unusable_conditions_raise_400(condition: str) -> None:
    with pytest.raises(ApiError) as caught:
        compile_conditions(condition, TICKETS)

    assert caught.value.status == 400
    assert caught.value.body()["message"].startswith("ApiFindCondition --> ")


def test_notes_resource_fields() -> None:
    note = STATE.notes_for(48213)[0]
    predicate = compile_conditions('text contains "LASERJET" and member/identifier = "jdoe"', NOTES)

    assert predicate(note)


def test_order_by_several_keys_with_nulls_first() -> None:
    ordered = order(TICKETS_LIST, "owner/identifier asc, id desc", TICKETS)

    owners = [t.get("owner", {}).get("identifier") for t in ordered]
    assert owners[0] is None
    named = [o for o in owners if o is not None]
    assert named == sorted(named, key=str.casefold)
    first_jdoe = [t["id"] for t in ordered if t.get("owner", {}).get("identifier") == "jdoe"]
    assert first_jdoe == sorted(first_jdoe, reverse=True)


def test_project_nested_and_unknown_fields() -> None:
    ticket = STATE.ticket(48213)

    assert project(ticket, "id, company/identifier,nothing,status/nope") == {
        "id": 48213,
        "company": {"identifier": "ContosoDental"},
        "status": {},
    }
    assert project(ticket, "") is ticket


WORDS = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(WORDS)
def test_builder_search_text_always_evaluates_like_a_plain_filter(text: str) -> None:
    condition = c.contains_words(["summary", "company/name"], text)
    if condition is None:
        return
    words = [w for f in c.safe_fragments(text) for w in f.split()][: c.MAX_FRAGMENTS]

    def expected(ticket: dict[str, Any]) -> bool:
        haystacks = (ticket["summary"].casefold(), ticket["company"]["name"].casefold())
        return all(any(w.casefold() in h for h in haystacks) for w in words)

    assert _matching(str(condition)) == [t["id"] for t in TICKETS_LIST if expected(t)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=48000, max_value=48500), min_size=1, max_size=20))
def test_in_lists_from_the_builder(ids: list[int]) -> None:
    assert _matching(str(c.in_("id", ids))) == sorted(set(ids) & set(STATE.tickets))
