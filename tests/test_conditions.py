"""User text can never change the structure of a ConnectWise conditions string."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psa.connectwise import conditions as cw

PIECES = st.sampled_from(
    list("\"'\\[]()%_*,=<>!&|+ \t\n")
    + ["and", "or", "AND", " or ", "not", "in", "contains", "like", "null", "True", ") or (id"]
    + list("aZ09éß漢字🙂ü")
    + ["\u202e", "\x00", "\u2028"]
)
NASTY = st.lists(PIECES, max_size=25).map("".join) | st.text(max_size=60)


def _leaves(node: cw.Node) -> list[cw.Compare]:
    if isinstance(node, cw.Compare):
        return [node]
    return [leaf for item in node.items for leaf in _leaves(item)]


@settings(max_examples=400, deadline=None)
@given(words=NASTY, company=NASTY)
def test_search_text_never_changes_query_structure(words: str, company: str) -> None:
    fixed = [cw.eq("closedFlag", False), cw.eq("board/id", 7)]
    text_clause = cw.contains_words(["summary"], words)
    company_clause = cw.contains_words(["company/name", "company/identifier"], company)
    query = cw.all_of([text_clause, company_clause, *fixed])
    tree = cw.parse(str(query))

    # The fixed clauses are still there, exactly once each, unchanged.
    leaves = _leaves(tree)
    assert [(c.field, c.op, c.value) for c in leaves if c.op == "="] == [
        ("closedFlag", "=", False),
        ("board/id", "=", 7),
    ]
    # Everything that came from user text is a `contains` on an expected field, with a
    # value that is one of the safe words of that text.
    text_words = {w for f in cw.safe_fragments(words) for w in f.split()}
    company_words = {w for f in cw.safe_fragments(company) for w in f.split()}
    for leaf in leaves:
        if leaf.op == "=":
            continue
        assert leaf.op == "contains"
        assert isinstance(leaf.value, str) and leaf.value
        assert not any(ch in cw.UNSAFE_CHARACTERS for ch in leaf.value)
        if leaf.field == "summary":
            assert leaf.value in text_words
        else:
            assert leaf.field in ("company/name", "company/identifier")
            assert leaf.value in company_words
    # The top level is an AND of the clauses; user text cannot add an OR at that level.
    assert isinstance(tree, cw.BoolOp) and tree.op == "and"


@settings(max_examples=200, deadline=None)
@given(words=NASTY)
def test_round_trip_shape_matches_plain_words(words: str) -> None:
    """The query built from nasty text has the shape of one built from plain placeholder words."""
    built = cw.contains_words(["summary"], words)
    count = len([w for f in cw.safe_fragments(words) for w in f.split()][: cw.MAX_FRAGMENTS])
    plain = cw.contains_words(["summary"], " ".join(f"w{i}" for i in range(count)))
    if built is None:
        assert plain is None
    else:
        assert plain is not None
        assert cw.shape(cw.parse(str(built))) == cw.shape(cw.parse(str(plain)))


def test_quotes_split_the_text_instead_of_escaping() -> None:
    clause = cw.contains_words(["company/name"], 'O\'Brien "Plumbing"')
    assert str(clause) == (
        '(company/name contains "O" and company/name contains "Brien" '
        'and company/name contains "Plumbing")'
    )


def test_exact_values_with_quotes_are_refused() -> None:
    with pytest.raises(cw.UnsafeConditionValue):
        cw.eq("primaryEmail", 'x" or id > 0 or "')
    assert str(cw.eq("primaryEmail", "jane@example.com")) == 'primaryEmail = "jane@example.com"'


def test_literals() -> None:
    from datetime import UTC, datetime

    assert str(cw.eq("closedFlag", True)) == "closedFlag = True"
    assert str(cw.eq("parentTicketId", None)) == "parentTicketId = null"
    assert str(cw.gt("lastUpdated", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))) == (
        "lastUpdated > [2026-01-02T03:04:05Z]"
    )
    assert str(cw.in_("status/id", [1, 2])) == "status/id in (1,2)"
    with pytest.raises(ValueError, match="field"):
        cw.eq("summary) or (id", 1)


def test_parser_rejects_what_it_does_not_know() -> None:
    for bad in ['summary contains "a', "summary ~ 1", "(id = 1", 'id = 1 "x"', "id contains 5"]:
        with pytest.raises(cw.ConditionSyntaxError):
            cw.parse(bad)
