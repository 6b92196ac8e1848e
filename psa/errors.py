"""Typed errors raised by PSA providers.

The tree::

    PSAError                      anything that went wrong talking to the PSA
    ├── ConfigurationError        the connection settings themselves are unusable
    │   ├── SiteNotAllowed        the site host is not on the allow-list (SSRF guard)
    │   │   └── InvalidSite       the site is not a valid host name or URL at all
    │   └── UnknownCompany        the site does not know this company id
    ├── AuthError                 401: company id / keys / client id rejected
    ├── PermissionDenied          403: the API member's security role lacks a right
    ├── NotFound                  404: the record does not exist (or is not visible)
    ├── ValidationFailed          400: the PSA refused the input; carries field errors
    ├── Conflict                  the record changed in the PSA meanwhile; nothing was done
    ├── RateLimited               429: slow down; carries retry_after (seconds, clamped)
    ├── TooMuchData               the answer exceeds psabot's page or size caps; narrow it
    └── Unavailable               the PSA could not be reached or did not answer properly
        ├── ServerError           5xx
        ├── PSATimeout            no answer in time (the write may or may not have happened)
        └── ConnectionFailed      DNS, refused, reset, dropped mid-response

Every error carries the operation it belongs to and, where known, the ticket id, so the one
place that turns errors into user messages (bot/core/errors.py) can say what failed.
Messages never contain credentials, nor text quoted from the PSA's error bodies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The longest wait a Retry-After can ask for. Callers turn it into a `timedelta` or a sleep, so
# it must be finite and small; a longer wish from the PSA is treated as "wait this long".
MAX_RETRY_AFTER = 600.0


def clamp_retry_after(value: float | None) -> float | None:
    """None stays None (no hint); anything else becomes a finite float in [0, MAX_RETRY_AFTER]."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class FieldError:
    """One field-level complaint from the PSA (ConnectWise `errors[]`)."""

    field: str
    message: str
    code: str = ""


class PSAError(Exception):
    """Base of every PSA failure."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        ticket_id: int | None = None,
        status: int | None = None,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.ticket_id = ticket_id
        self.status = status
        self.code = code

    def __str__(self) -> str:
        where = f" during {self.operation}" if self.operation else ""
        ticket = f" (ticket #{self.ticket_id})" if self.ticket_id is not None else ""
        return f"{self.message}{where}{ticket}"


class ConfigurationError(PSAError):
    """The connection settings cannot work (bad site URL, missing field)."""


class SiteNotAllowed(ConfigurationError):
    """The site host is neither a ConnectWise cloud host nor allow-listed."""


class InvalidSite(SiteNotAllowed):
    """The site is not a usable host name or URL (bad characters, bad IDNA, bad port)."""


class UnknownCompany(ConfigurationError):
    """The site answered, but has no company with this id."""


class AuthError(PSAError):
    """The PSA rejected the credentials (HTTP 401)."""


class PermissionDenied(PSAError):
    """The API member may not do this (HTTP 403)."""


class NotFound(PSAError):
    """The record does not exist or is not visible to the API member (HTTP 404)."""


class ValidationFailed(PSAError):
    """The PSA refused the input (HTTP 400); `field_errors` says which fields."""

    def __init__(
        self,
        message: str,
        *,
        field_errors: tuple[FieldError, ...] = (),
        operation: str = "",
        ticket_id: int | None = None,
        status: int | None = 400,
        code: str = "",
    ) -> None:
        super().__init__(
            message, operation=operation, ticket_id=ticket_id, status=status, code=code
        )
        self.field_errors = field_errors


class Conflict(PSAError):
    """The record changed in the PSA since the request was made; psabot left it alone."""


class RateLimited(PSAError):
    """The PSA asked us to slow down (HTTP 429).

    `retry_after` is None when the PSA gave no hint, else seconds as a finite float in
    [0, MAX_RETRY_AFTER], whatever was passed in.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        operation: str = "",
        ticket_id: int | None = None,
    ) -> None:
        super().__init__(message, operation=operation, ticket_id=ticket_id, status=429)
        self.retry_after = clamp_retry_after(retry_after)


class TooMuchData(PSAError):
    """The answer is larger than psabot reads (pages per listing, bytes per response)."""


class Unavailable(PSAError):
    """The PSA could not be reached or answered with a server fault."""

    retryable = True


class ServerError(Unavailable):
    """The PSA answered 5xx."""


class PSATimeout(Unavailable):
    """No answer in time; a write may or may not have been applied."""


class ConnectionFailed(Unavailable):
    """DNS failure, refused or dropped connection; a write may or may not have been applied."""


class NotSent(ConnectionFailed):
    """The request never left psabot (no connection could be made, or psabot's own queue to
    this ConnectWise stayed full): a write certainly was not applied."""
