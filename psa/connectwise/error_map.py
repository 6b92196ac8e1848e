"""Turn ConnectWise HTTP error answers into the typed errors of psa/errors.py."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

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
)

_RETRY_IN_RE = re.compile(r"try again in (\d+(?:\.\d+)?) second", re.IGNORECASE)


def parse_body(raw: bytes) -> Any:
    """JSON if the body is JSON, else the text (ConnectWise sometimes answers in plain text)."""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def retry_after_seconds(headers: Mapping[str, str], body: Any) -> float | None:
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass  # an HTTP date; rare from ConnectWise, fall back to the message
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    if m := _RETRY_IN_RE.search(message or ""):
        return float(m.group(1))
    return None


def _message(body: Any, fallback: str) -> tuple[str, str]:
    if isinstance(body, dict):
        code = str(body.get("code") or body.get("error") or "")
        message = str(body.get("message") or fallback)
        return code, message
    if isinstance(body, str) and body:
        return "", body[:300]
    return "", fallback


def _field_errors(body: Any) -> tuple[FieldError, ...]:
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return ()
    found: list[FieldError] = []
    for item in body["errors"]:
        if isinstance(item, dict):
            found.append(
                FieldError(
                    field=str(item.get("field") or ""),
                    message=str(item.get("message") or ""),
                    code=str(item.get("code") or ""),
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
) -> PSAError:
    code, message = _message(body, f"ConnectWise answered HTTP {status}")
    kwargs: dict[str, Any] = {"operation": operation, "ticket_id": ticket_id}
    if code == "Security" or "SSL is required" in message:
        return ConfigurationError(message, status=status, code=code, **kwargs)
    if status == 401 or message in ("UserNotAuthenticated", "Unauthorized"):
        return AuthError(message, status=status, code=code, **kwargs)
    if status == 403:
        return PermissionDenied(message, status=status, code=code, **kwargs)
    if status == 404:
        return NotFound(message, status=status, code=code, **kwargs)
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(headers, body), **kwargs)
    if status in (400, 422):
        return ValidationFailed(
            message, field_errors=_field_errors(body), status=status, code=code, **kwargs
        )
    if status == 409:
        return Unavailable(
            f"ConnectWise says the record is in use: {message}", status=status, code=code, **kwargs
        )
    if status >= 500:
        error = ServerError(message, status=status, code=code, **kwargs)
        # A conversion error is about the request, not the server's health: retrying won't help.
        error.retryable = not message.startswith("Error converting value")
        return error
    return PSAError(message, status=status, code=code, **kwargs)


def looks_like_moved_codebase(status: int, body: Any) -> bool:
    """A 404 that is not a record-level answer: the codebase in the URL may be stale."""
    if status != 404:
        return False
    if isinstance(body, dict):
        return "Cannot route" in str(body.get("message", ""))
    return True  # plain-text or empty 404: routing failed, not a missing record
