"""Turn ConnectWise HTTP error answers into the typed errors of psa/errors.py.

Error bodies are read to pick the error class (status, `code`, a few well-known messages) but
never quoted into an error's message: a proxy or a misconfigured server may echo the request,
Authorization header included. The only body text kept is the field-level validation list of
a JSON `errors[]` answer (what the user must fix), cut short and with the request's own
credentials blanked out.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from psa.errors import (
    AuthError,
    ConfigurationError,
    FieldError,
    NotFound,
    PermissionDenied,
    PSAError,
    RateLimited,
    ServerError,
    Unavailable,
    ValidationFailed,
    clamp_retry_after,
)

_RETRY_IN_RE = re.compile(r"try again in (\d{1,9}(?:\.\d{1,6})?) second", re.IGNORECASE)
# Codes ConnectWise documents or is seen to send; anything else is not repeated anywhere.
KNOWN_CODES = frozenset(
    {
        "InvalidObject",
        "NotFound",
        "Unauthorized",
        "Forbidden",
        "ConnectWiseApi",
        "ConnectWiseAPI",
        "Security",
        "MethodNotAllowed",
        "InvalidRequest",
        "ObjectExists",
        "OutOfRange",
        "Required",
        "NullNotAllowed",
        "InvalidField",
        "Conflict",
    }
)
_FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_/.\[\]-]{0,63}$")
MAX_FIELD_MESSAGE = 160  # characters of one field-level message that reach the user
MAX_FIELD_ERRORS = 10

Redact = Callable[[str], str]


def no_redaction(text: str) -> str:
    return text


def redactor(secrets: Iterable[str]) -> Redact:
    """Blank out every occurrence of each secret (longest first, so no fragment survives)."""
    found = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in found:
            text = text.replace(secret, "[redacted]")
        return text

    return redact


# Every digit as "0", everything else as " ": a run of 19 zeros then marks a number that may not
# fit in 64 bits, which orjson would read as a float where `json` keeps an exact int.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def parse_body(raw: bytes) -> Any:
    """JSON if the body is JSON, else the text (ConnectWise sometimes answers in plain text).

    orjson decodes a listing page about three times faster than `json`, straight from the
    bytes; whatever it refuses (invalid UTF-8, lone surrogates, NaN, 1e400) or might read
    differently (numbers of 19 digits or more) goes the way it always went, through `json`
    after a lenient UTF-8 decode, so the result is the same value either way.
    """
    if _LONG_DIGIT_RUN not in raw.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def parse_retry_after(value: str, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After value (number or HTTP date), clamped; None if unreadable."""
    text = value.strip()
    if not text or len(text) > 256:
        return None
    try:
        return clamp_retry_after(float(text))  # "inf", "1e12", "-5" all land in range
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return clamp_retry_after(when.timestamp() - (time.time() if now is None else now))


def retry_after_seconds(headers: Mapping[str, str], body: Any) -> float | None:
    """The wait a 429 asks for: the header, else "try again in N seconds" in the body."""
    value = headers.get("Retry-After")
    if value:
        seconds = parse_retry_after(value)
        if seconds is not None:
            return seconds
    message = body.get("message", "") if isinstance(body, dict) else ""
    if m := _RETRY_IN_RE.search(str(message or "")):
        return clamp_retry_after(float(m.group(1)))
    return None


def _code(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    code = str(body.get("code") or body.get("error") or "")
    return code if code in KNOWN_CODES else ""


def _body_message(body: Any) -> str:
    """ConnectWise's own message, for classifying only (never put into an error)."""
    if isinstance(body, dict):
        return str(body.get("message") or "")
    return ""


def _field_errors(body: Any, redact: Redact) -> tuple[FieldError, ...]:
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return ()
    found: list[FieldError] = []
    for item in body["errors"][:MAX_FIELD_ERRORS]:
        if not isinstance(item, dict):
            continue
        field = str(item.get("field") or "")
        code = str(item.get("code") or "")
        message = redact(" ".join(str(item.get("message") or "").split()))
        if len(message) > MAX_FIELD_MESSAGE:
            message = message[: MAX_FIELD_MESSAGE - 1] + "…"
        found.append(
            FieldError(
                field=field if _FIELD_NAME_RE.match(field) else "",
                message=message or "was refused",
                code=code if code in KNOWN_CODES else "",
            )
        )
    return tuple(found)


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    operation: str,
    ticket_id: int | None = None,
    redact: Redact = no_redaction,
) -> PSAError:
    """The typed error for a non-2xx answer, by status and code; no body text in the message."""
    code = _code(body)
    said = _body_message(body)
    kwargs: dict[str, Any] = {"operation": operation, "ticket_id": ticket_id}
    if code == "Security" or "SSL is required" in said:
        return ConfigurationError("the server requires https", status=status, code=code, **kwargs)
    if status == 401 or said in ("UserNotAuthenticated", "Unauthorized"):
        return AuthError(
            f"ConnectWise rejected the credentials (HTTP {status})",
            status=status,
            code=code,
            **kwargs,
        )
    if status == 403:
        return PermissionDenied(
            "The API member's security role does not allow this (HTTP 403)",
            status=status,
            code=code,
            **kwargs,
        )
    if status == 404:
        return NotFound(
            "the record does not exist or the API member cannot see it",
            status=status,
            code=code,
            **kwargs,
        )
    if status == 429:
        return RateLimited(
            "ConnectWise asked us to slow down (HTTP 429)",
            retry_after=retry_after_seconds(headers, body),
            **kwargs,
        )
    if status in (400, 422):
        return ValidationFailed(
            f"invalid input (HTTP {status})",
            field_errors=_field_errors(body, redact),
            status=status,
            code=code,
            **kwargs,
        )
    if status == 409:
        return Unavailable("the record is in use (HTTP 409)", status=status, code=code, **kwargs)
    if status >= 500:
        error = ServerError(f"HTTP {status}", status=status, code=code, **kwargs)
        # A conversion error is about the request, not the server's health: retrying won't help.
        error.retryable = not said.startswith("Error converting value")
        return error
    return PSAError(f"HTTP {status}", status=status, code=code, **kwargs)


def looks_like_moved_codebase(status: int, body: Any) -> bool:
    """A 404 that is not a record-level answer: the codebase in the URL may be stale."""
    if status != 404:
        return False
    if isinstance(body, dict):
        return "Cannot route" in str(body.get("message", ""))
    return True  # plain-text or empty 404: routing failed, not a missing record
