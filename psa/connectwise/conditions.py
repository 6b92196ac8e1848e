"""Build ConnectWise `conditions` strings safely, and parse the subset psabot emits.

ConnectWise documents no way to escape a quote inside a quoted condition string, and its
`contains`/`like` operators are backed by SQL LIKE, where `%`, `_` and `[` are wildcards. So
user text never goes into a string literal as-is:

* free search text is cut at every character outside the safe set (quotes, backslash, LIKE
  wildcards, brackets, `*`, control characters) and each remaining fragment becomes its own
  `field contains "fragment"` clause, all joined with `and`. "O'Brien" searches for "O" and
  "Brien"; the structure of the query never depends on the text.
* exact-match values (an email, an identifier) that contain an unsafe character are refused
  with `UnsafeConditionValue` instead of being silently altered.

`parse()` reads the same subset back into a small AST. The sandbox evaluates that AST, and
tests use it to prove that user text cannot change the structure of a query.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

UNSAFE_CHARACTERS = frozenset("\"'\\%_[]*")
MAX_FRAGMENTS = 8
MAX_FRAGMENT_LENGTH = 100

Scalar = str | int | bool | None | datetime


class UnsafeConditionValue(ValueError):
    """An exact-match value holds a character that cannot be put in a conditions string."""


class ConditionSyntaxError(ValueError):
    """The conditions string is outside the supported grammar."""


def _is_unsafe(ch: str) -> bool:
    return ch in UNSAFE_CHARACTERS or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def safe_fragments(text: str) -> list[str]:
    """The searchable pieces of user text: cut at unsafe characters, whitespace folded."""
    pieces: list[str] = []
    current: list[str] = []
    for ch in text:
        if _is_unsafe(ch):
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
    pieces.append("".join(current))
    fragments = [" ".join(p.split())[:MAX_FRAGMENT_LENGTH].strip() for p in pieces]
    return [f for f in fragments if f][:MAX_FRAGMENTS]


def quote(value: str) -> str:
    """A string literal for an exact-match value; refuses values that would need escaping."""
    if any(_is_unsafe(ch) for ch in value):
        raise UnsafeConditionValue(
            "the value contains quotes, backslashes, wildcards or control characters"
        )
    return f'"{value}"'


def literal(value: Scalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value
        return f"[{stamp.strftime('%Y-%m-%dT%H:%M:%SZ')}]"
    return quote(value)


_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class Condition:
    """A rendered clause; combine with `all_of` / `any_of`."""

    text: str

    def __str__(self) -> str:
        return self.text


def _field(name: str) -> str:
    if not _FIELD_RE.match(name):
        raise ValueError(f"not a condition field name: {name!r}")
    return name


def eq(field: str, value: Scalar) -> Condition:
    return Condition(f"{_field(field)} = {literal(value)}")


def ne(field: str, value: Scalar) -> Condition:
    return Condition(f"{_field(field)} != {literal(value)}")


def gt(field: str, value: Scalar) -> Condition:
    return Condition(f"{_field(field)} > {literal(value)}")


def lt(field: str, value: Scalar) -> Condition:
    return Condition(f"{_field(field)} < {literal(value)}")


def in_(field: str, values: Iterable[int]) -> Condition:
    items = [int(v) for v in values]
    if not items:
        raise ValueError("in_() needs at least one value")
    return Condition(f"{_field(field)} in ({','.join(str(v) for v in items)})")


def contains(field: str, fragment: str) -> Condition:
    """`field contains "fragment"`: the fragment must already be safe (see `safe_fragments`)."""
    return Condition(f"{_field(field)} contains {quote(fragment)}")


def contains_words(fields: Sequence[str], text: str) -> Condition | None:
    """Every safe word of `text` must appear in one of `fields`; None when nothing is left."""
    clauses: list[Condition] = []
    words = [w for fragment in safe_fragments(text) for w in fragment.split()]
    for fragment in words[:MAX_FRAGMENTS]:
        alternatives = [contains(f, fragment) for f in fields]
        clauses.append(any_of(alternatives) if len(alternatives) > 1 else alternatives[0])
    return all_of(clauses) if clauses else None


def all_of(conditions: Iterable[Condition | None]) -> Condition:
    parts = [c for c in conditions if c is not None]
    if not parts:
        raise ValueError("all_of() needs at least one condition")
    if len(parts) == 1:
        return parts[0]
    return Condition("(" + " and ".join(p.text for p in parts) + ")")


def any_of(conditions: Iterable[Condition | None]) -> Condition:
    parts = [c for c in conditions if c is not None]
    if not parts:
        raise ValueError("any_of() needs at least one condition")
    if len(parts) == 1:
        return parts[0]
    return Condition("(" + " or ".join(p.text for p in parts) + ")")


# --- parsing the emitted subset -------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # = != < <= > >= contains like in; prefixed "not " for negations
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Compare | BoolOp

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"[^"]*"|'[^']*')
  | (?P<datetime>\[[^\]]*\])
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"and", "or", "not", "contains", "like", "in", "true", "false", "null"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN_RE.match(source, pos)
        if m is None:
            raise ConditionSyntaxError(f"unexpected character at {pos}: {source[pos]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "ws":
            continue
        text = m.group()
        if kind == "word" and text.lower() in _KEYWORDS:
            kind = text.lower()
        tokens.append(_Tok(kind, text))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, *kinds: str) -> _Tok:
        tok = self.peek()
        if tok is None or (kinds and tok.kind not in kinds and tok.text not in kinds):
            found = "end of input" if tok is None else repr(tok.text)
            raise ConditionSyntaxError(f"expected {' or '.join(kinds)}, found {found}")
        self.pos += 1
        return tok

    def expr(self) -> Node:
        items = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "or":
            self.pos += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.atom()]
        while (tok := self.peek()) is not None and tok.kind == "and":
            self.pos += 1
            items.append(self.atom())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def atom(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.pos += 1
            node = self.expr()
            self.take(")")
            return node
        field = self.take("word").text
        negate = False
        if (nxt := self.peek()) is not None and nxt.kind == "not":
            self.pos += 1
            negate = True
        op_tok = self.take("op", "contains", "like", "in")
        op = op_tok.text.lower()
        if op_tok.kind == "op" and negate:
            raise ConditionSyntaxError("'not' goes before contains, like or in")
        value: Scalar | tuple[Scalar, ...]
        if op == "in":
            self.take("(")
            values = [self.value()]
            while (sep := self.peek()) is not None and sep.text == ",":
                self.pos += 1
                values.append(self.value())
            self.take(")")
            value = tuple(values)
        else:
            value = self.value()
            if op in ("contains", "like") and not isinstance(value, str):
                raise ConditionSyntaxError(f"{op} needs a quoted string")
        return Compare(field, f"not {op}" if negate else op, value)

    def value(self) -> Scalar:
        tok = self.take("string", "number", "datetime", "true", "false", "null")
        if tok.kind == "string":
            return tok.text[1:-1]
        if tok.kind == "number":
            return int(float(tok.text))
        if tok.kind == "datetime":
            raw = tok.text[1:-1].strip().rstrip("Z")
            try:
                return datetime.fromisoformat(raw).replace(tzinfo=UTC)
            except ValueError as exc:
                raise ConditionSyntaxError(f"bad date {tok.text}") from exc
        if tok.kind == "null":
            return None
        return tok.kind == "true"


def parse(source: str) -> Node:
    """Parse a conditions string of the supported subset; `ConditionSyntaxError` otherwise."""
    parser = _Parser(_tokenize(source))
    node = parser.expr()
    if (extra := parser.peek()) is not None:
        raise ConditionSyntaxError(f"unexpected {extra.text!r}")
    return node


def shape(node: Node) -> object:
    """The structure of a parsed query with every string value blanked (for comparisons)."""
    if isinstance(node, BoolOp):
        return (node.op, tuple(shape(i) for i in node.items))
    value = node.value
    blank: object = "<str>" if isinstance(value, str) else value
    return (node.field, node.op, blank)
