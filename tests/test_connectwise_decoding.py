"""The fast listing path reads exactly what the plain one did: bodies and tickets alike.

`parse_body` decodes with orjson where it can and falls back to `json`; `parse_tickets` shares
references across a listing's tickets. Each is checked against the straightforward version
it replaced, on real samples, on hand-picked awkward inputs and on generated ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psa.connectwise.error_map import parse_body
from psa.connectwise.parse import parse_ref, parse_ticket, parse_tickets

SAMPLES = Path(__file__).parent / "data" / "connectwise"


def plain_parse_body(raw: bytes) -> Any:
    """The body reader as it was before orjson: lenient UTF-8, then `json`, else the text."""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1, 1.0 and True are told apart)."""
    return repr(a) == repr(b)


AWKWARD_BODIES = [
    b"",
    b"   ",
    b"Cannot route. Codebase/company is invalid",
    b'{"a": 1, "a": 2}',
    b"123456789012345678901234567890",  # past 64 bits: json keeps the int
    b'[{"id": 18446744073709551616}]',
    b'{"id": -9223372036854775809}',
    b'{"id": 9223372036854775807, "other": 1234567890123456789}',
    b'{"phone": "12345678901234567890"}',  # a long digit run in a string
    b"1e400",
    b"NaN",
    b"[Infinity, -Infinity]",
    b'"\\ud800"',  # a lone surrogate: json keeps it
    b'"\xed\xa0\x80"',  # a surrogate encoded in UTF-8: invalid, read leniently
    b'{"name": "caf\xe9"}',  # Latin-1 where UTF-8 belongs
    b"\xef\xbb\xbf[1]",  # a byte order mark
    b"[1,]",
    b' \n[1, 2.5, -0.0, 1E2, true, null, "\\u00e9\\n"]\r\n',
    b'{"deep": ' + b"[" * 2000 + b"]" * 2000 + b"}",
]


@pytest.mark.parametrize("raw", AWKWARD_BODIES)
def test_awkward_bodies_read_as_before(raw: bytes) -> None:
    try:
        expected = plain_parse_body(raw)
    except RecursionError:
        with pytest.raises(RecursionError):
            parse_body(raw)
        return
    assert same(parse_body(raw), expected)


def test_samples_read_as_before() -> None:
    paths = sorted(SAMPLES.glob("*.json"))
    assert paths
    for path in paths:
        raw = path.read_bytes()
        assert same(parse_body(raw), plain_parse_body(raw)), path.name


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_generated_json_reads_as_before(value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", errors="surrogatepass")
    assert same(parse_body(raw), plain_parse_body(raw))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_generated_bytes_read_as_before(raw: bytes) -> None:
    assert same(parse_body(raw), plain_parse_body(raw))


# -- tickets of a listing -------------------------------------------------------------------

loose_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.floats(allow_nan=False, min_value=-3, max_value=3)
    | st.sampled_from(["", " ", "1", " 2 ", "-3", "Service Desk", " Service Desk ", "x"])
)
references = st.fixed_dictionaries(
    {},
    optional={
        "id": loose_scalars,
        "name": loose_scalars | st.lists(loose_scalars, max_size=1),
        "identifier": loose_scalars | st.dictionaries(st.just("k"), loose_scalars),
        "firstName": loose_scalars,
        "lastName": loose_scalars,
    },
)
tickets = st.fixed_dictionaries(
    {"id": st.integers(min_value=1, max_value=10**6)},
    optional={
        key: references | loose_scalars
        for key in ("company", "board", "status", "priority", "owner", "contact")
    }
    | {"summary": loose_scalars, "closedFlag": loose_scalars, "_info": st.just({})},
)


@settings(max_examples=300, deadline=None)
@given(st.lists(tickets | loose_scalars, max_size=12))
def test_shared_references_change_nothing(rows: list[Any]) -> None:
    assert parse_tickets(rows) == [parse_ticket(r) for r in rows if isinstance(r, dict)]


def test_references_that_differ_stay_apart() -> None:
    rows = [
        {"id": 1, "board": {"id": 1, "name": "Desk"}},
        {"id": 2, "board": {"id": True, "name": "Desk"}},  # a bool is not an id
        {"id": 3, "board": {"id": 1, "name": "Desk", "identifier": "D"}},
        {"id": 4, "board": {"id": 1, "name": " ", "firstName": "Ann", "lastName": "Lee"}},
        {"id": 5, "board": {"id": 1, "name": " ", "firstName": "Bob"}},
        {"id": 6, "board": {"id": 1, "name": "Desk "}},
    ]
    boards = [t.board for t in parse_tickets(rows)]
    assert boards == [parse_ref(r["board"]) for r in rows]
    assert [(b.id, b.name, b.identifier) for b in boards if b] == [
        (1, "Desk", ""),
        (0, "Desk", ""),
        (1, "Desk", "D"),
        (1, "Ann Lee", ""),
        (1, "Bob", ""),
        (1, "Desk", ""),
    ]


def test_ticket_list_sample_parses_alike() -> None:
    rows = json.loads((SAMPLES / "ticket_list.django-connectwise.json").read_text())
    assert parse_tickets(rows) == [parse_ticket(r) for r in rows]
