"""The one place where exceptions become what the user reads.

Handlers raise `UserError` subclasses for problems in the chat itself (not connected, not
linked, not mapped, bad arguments, not an owner) and let PSA errors propagate; `reply_for()`
turns any of them into a Reply that says what went wrong and what to do next. Unexpected
exceptions are logged with a reference the user can quote, and never show internals.
"""

from __future__ import annotations

import logging
import secrets

from bot.core.reply import Reply
from psa.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    PSAError,
    PSATimeout,
    RateLimited,
    ServerError,
    SiteNotAllowed,
    Unavailable,
    UnknownCompany,
    ValidationFailed,
)
from storage.crypto import CredentialDecryptError
from storage.errors import is_unavailable

log = logging.getLogger(__name__)


class UserError(Exception):
    """A problem the user can fix; the message says how."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotConnected(UserError):
    def __init__(self) -> None:
        super().__init__(
            "This workspace is not connected to ConnectWise yet. "
            "An owner can connect it with `{cmd} connect`."
        )


class NotLinked(UserError):
    def __init__(self) -> None:
        super().__init__(
            "This conversation is not linked to a ticket. Link it with `{cmd} link <ticket id>` "
            "or find one with `{cmd} search <words>`."
        )


class NotMapped(UserError):
    def __init__(self) -> None:
        super().__init__(
            "I don't know which ConnectWise member you are, so I can't post as you. "
            "Run `{cmd} map me` (it matches your email), or ask an owner to map you."
        )


class NotOwner(UserError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"Only owners can {what}. Workspace admins are owners, as is whoever first "
            "connected ConnectWise; `{cmd} owners` lists them."
        )


class BadArguments(UserError):
    def __init__(self, problem: str, usage: str) -> None:
        super().__init__(f"{problem}\nUsage: `{{cmd}} {usage}`")
        self.usage = usage


def _psa_message(exc: PSAError) -> str:
    ticket = f" #{exc.ticket_id}" if exc.ticket_id is not None else ""
    if isinstance(exc, SiteNotAllowed):
        return f"That ConnectWise site can't be used: {exc.message}"
    if isinstance(exc, UnknownCompany):
        return f"{exc.message}. Check the company id you log in with."
    if isinstance(exc, ConfigurationError):
        return f"The ConnectWise connection settings don't work: {exc.message}"
    if isinstance(exc, AuthError):
        return (
            "ConnectWise rejected the API keys (401). An owner should check the connection "
            "with `{cmd} settings` and re-enter the keys if they were changed."
        )
    if isinstance(exc, PermissionDenied):
        return (
            f"ConnectWise refused this for the API member (403) while trying to "
            f"{exc.operation or 'do that'}. Its security role needs that right "
            "(see docs/connectwise.md)."
        )
    if isinstance(exc, NotFound):
        return f"ConnectWise has no such record{ticket}: {exc.message}"
    if isinstance(exc, Conflict):
        return f"Nothing was changed: {exc.message}."
    if isinstance(exc, ValidationFailed):
        details = "; ".join(
            f"{e.field}: {e.message}" if e.field else e.message for e in exc.field_errors
        )
        return f"ConnectWise refused it: {exc.message}" + (f" ({details})" if details else "")
    if isinstance(exc, RateLimited):
        wait = f" for {exc.retry_after:.0f}s" if exc.retry_after else ""
        return f"ConnectWise is rate limiting us{wait}. Try again in a moment."
    if isinstance(exc, PSATimeout):
        return "ConnectWise did not answer in time. Try again in a moment."
    if isinstance(exc, ConnectionFailed):
        return f"I couldn't reach ConnectWise ({exc.message}). Try again in a moment."
    if isinstance(exc, ServerError):
        return f"ConnectWise had an internal error ({exc.message}). Try again in a moment."
    if isinstance(exc, Unavailable):
        return f"ConnectWise is unavailable ({exc.message}). Try again in a moment."
    return f"ConnectWise answered with an error: {exc.message}"


def message_for(exc: BaseException) -> str:
    """The user's message for any failure (no secrets, no stack traces)."""
    if isinstance(exc, UserError):
        return exc.message
    if isinstance(exc, PSAError):
        return _psa_message(exc)
    if isinstance(exc, CredentialDecryptError):
        return (
            "The stored ConnectWise credentials can't be decrypted with this server's keys. "
            "The operator should check PSABOT_ENCRYPTION_KEYS, or an owner can reconnect."
        )
    if is_unavailable(exc):
        log.warning("database unavailable error=%s", type(exc).__name__)
        return "psabot's database is not answering right now. Try again in a minute."
    ref = secrets.token_hex(3)
    log.exception("unexpected error ref=%s", ref, exc_info=exc)
    return f"Something went wrong on our side (ref {ref}). It has been logged; try again."


def reply_for(exc: BaseException) -> Reply:
    if isinstance(exc, UserError):
        return Reply.warning(message_for(exc))
    return Reply.error(message_for(exc))
