"""Evaluate `conditions`, `orderBy` and `fields` on sandbox records the way ConnectWise does.

`conditions` is read with `psa.connectwise.conditions.parse()` (the same grammar the provider
emits) and the AST is evaluated here. Semantics follow SQL Server, which backs the real API:
string comparisons ignore case, `contains` is a substring test, `like` takes `%`/`*` (any run),
`_` (one character) and `[...]` (a character class), and a missing (NULL) value fails every
comparison except `= null`, `!= null` and their negations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psa.connectwise.conditions import BoolOp, Compare, ConditionSyntaxError, Node, parse
from psa.connectwise.sandbox.errors import ApiError, JsonObject, find_condition_error
from psa.connectwise.sandbox.resources import FieldSpec, Resource

Predicate = Callable[[JsonObject], bool]
ValueTest = Callable[[Any], bool]


def lookup(record: JsonObject, path: Sequence[str]) -> object:
    value: object = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _parse_datetime(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def normalize(raw: object, spec: FieldSpec) -> object:
    """A record value in comparable form (None for missing or unusable values)."""
    if raw is None:
        return None
    if spec.kind == "str":
        return str(raw).casefold()
    if spec.kind == "datetime":
        return _parse_datetime(raw) if isinstance(raw, str) else None
    if spec.kind == "bool":
        return bool(raw)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _literal(value: object, spec: FieldSpec, name: str) -> object:
    """A conditions literal converted to the field's type, or a 400 when it cannot be."""
    if value is None:
        return None
    converted: object = None
    if spec.kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            converted = value
        elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            converted = int(value)
    elif spec.kind == "str":
        if isinstance(value, str | int) and not isinstance(value, bool):
            converted = str(value).casefold()
    elif spec.kind == "bool":
        if isinstance(value, bool):
            converted = value
        elif isinstance(value, str) and value.casefold() in ("true", "false"):
            converted = value.casefold() == "true"
    elif isinstance(value, datetime):
        converted = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, str):
        converted = _parse_datetime(value)
    if converted is None:
        raise find_condition_error(f"{value!r} is not a valid value for {name}.")
    return converted


def like_pattern(pattern: str) -> re.Pattern[str]:
    """T-SQL LIKE as a regular expression (case-insensitive, whole value)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        close = pattern.find("]", i + 2) if ch == "[" else -1
        if ch in "%*":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif close != -1:
            body = pattern[i + 1 : close]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            escaped = "".join("\\" + c if c in "\\]^[" else c for c in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _ordered(op: str, expected: object) -> ValueTest:
    if expected is None:
        return lambda v: False
    tests: dict[str, ValueTest] = {
        "<": lambda v: v < expected,
        "<=": lambda v: v <= expected,
        ">": lambda v: v > expected,
        ">=": lambda v: v >= expected,
    }
    return tests[op]


def _value_test(node: Compare, spec: FieldSpec) -> ValueTest:
    """A test on a present (non-NULL) normalized value; NULL handling is done by the caller."""
    op = node.op.removeprefix("not ")
    if op in ("contains", "like"):
        if spec.kind != "str":
            raise find_condition_error(f"{op} is not valid for {node.field}.")
        text = str(node.value).casefold()
        if op == "contains":
            return lambda v: text in v
        regex = like_pattern(str(node.value))
        return lambda v: regex.fullmatch(v) is not None
    if op == "in":
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        allowed = {_literal(v, spec, node.field) for v in values} - {None}
        return lambda v: v in allowed
    expected = _literal(node.value, spec, node.field)
    if op == "=":
        return lambda v: v == expected
    if op == "!=":
        return lambda v: v != expected
    return _ordered(op, expected)


def _compile(node: Node, resource: Resource) -> Predicate:
    if isinstance(node, BoolOp):
        parts = [_compile(item, resource) for item in node.items]
        if node.op == "and":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    spec = resource.field(node.field)
    if spec is None:
        raise find_condition_error(f"{node.field} is not a recognized name.")
    if node.value is None and node.op in ("=", "!="):
        want_null = node.op == "="
        return lambda record: (normalize(lookup(record, spec.path), spec) is None) == want_null
    test = _value_test(node, spec)
    negate = node.op.startswith("not ")

    def predicate(record: JsonObject) -> bool:
        value = normalize(lookup(record, spec.path), spec)
        if value is None:
            return False
        return test(value) != negate

    return predicate


def compile_conditions(text: str | None, resource: Resource) -> Predicate:
    """A predicate for a `conditions` string; raises the API's 400 when it cannot be used."""
    if text is None or not text.strip():
        return lambda record: True
    try:
        node = parse(text)
    except ConditionSyntaxError as exc:
        raise find_condition_error(str(exc)) from exc
    return _compile(node, resource)


def _sort_key(record: JsonObject, spec: FieldSpec) -> tuple[int, Any]:
    value = normalize(lookup(record, spec.path), spec)
    # SQL Server puts NULLs first in ascending order
    return (0, 0) if value is None else (1, value)


def order(records: list[JsonObject], order_by: str | None, resource: Resource) -> list[JsonObject]:
    """Sort by an `orderBy` clause (`field [asc|desc], ...`); by id when there is none."""
    result = sorted(records, key=lambda r: int(r.get("id") or 0))
    if order_by is None or not order_by.strip():
        return result
    keys: list[tuple[FieldSpec, bool]] = []
    for clause in order_by.split(","):
        words = clause.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise ApiError(400, "InvalidObject", f"orderBy --> '{clause.strip()}' is not valid.")
        spec = resource.field(words[0])
        if spec is None:
            raise ApiError(
                400, "InvalidObject", f"orderBy --> {words[0]} is not a recognized name."
            )
        keys.append((spec, len(words) == 2 and words[1].lower() == "desc"))
    for spec, descending in reversed(keys):
        result.sort(key=functools.partial(_sort_key, spec=spec), reverse=descending)
    return result


def _find_key(record: JsonObject, name: str) -> str | None:
    if name in record:
        return name
    wanted = name.casefold()
    return next((k for k in record if k.casefold() == wanted), None)


def _copy_path(source: JsonObject, target: JsonObject, path: Sequence[str]) -> None:
    key = _find_key(source, path[0])
    if key is None:
        return
    value = source[key]
    if len(path) == 1:
        target[key] = value  # shared, not copied: a projection is only ever serialized
    elif isinstance(value, dict):
        branch = target.setdefault(key, {})
        # `value` itself when an earlier field took it whole: nothing to add to it
        if isinstance(branch, dict) and branch is not value:
            _copy_path(value, branch, path[1:])


@functools.lru_cache(maxsize=64)
def _field_paths(fields: str) -> tuple[tuple[str, ...], ...]:
    """`fields=id, company/name` as paths, read once per distinct value (a listing's records
    all share one)."""
    paths = (tuple(part for part in raw.strip().split("/") if part) for raw in fields.split(","))
    return tuple(path for path in paths if path)


def project(record: JsonObject, fields: str | None) -> JsonObject:
    """A partial response for `fields=id,summary,status/name`; the whole record when empty.

    The selected values are the record's own (not copies): the caller serializes the result
    and never changes it, so copying would only cost time.
    """
    if fields is None or not fields.strip():
        return record
    result: JsonObject = {}
    for path in _field_paths(fields):
        _copy_path(record, result, path)
    return result
