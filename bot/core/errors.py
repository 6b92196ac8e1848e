"""The one place where exceptions become what the user reads: a registry looked up by MRO.

Handlers raise `UserError` subclasses for problems in the chat itself (not connected, not
linked, not mapped, bad arguments, not an owner) and let PSA errors propagate. Each exception
class that the user can meet is registered here once, with:

- `context`: the facts the message needs, as JSON-able values (stored by the outbox as the
  ledger row's `error_context`, beside its `error_kind`, so a failure is worded when shown);
- `message`: the user's sentence, rendered from that context alone;
- `fields`: optionally, which form field each complaint lands on (the connect form).

`entry_for(type)` walks the type's `__mro__` and the first registered class wins, so a new
subclass gets its parent's wording until it registers its own. `message_for()` / `reply_for()`
turn any exception into what the user reads; unexpected exceptions are logged with a
reference the user can quote, and never show internals.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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

Context = Mapping[str, Any]
Message = Callable[[Context], str]
Fields = Callable[[Context], dict[str, str] | None]  # None: the form-wide message
ContextOf = Callable[[BaseException], dict[str, Any]]


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


class Unconfirmed(Exception):
    """The outbox gave up without knowing whether the note reached the ticket (`ref`)."""

    def __init__(self, cause: Described, ref: str) -> None:
        super().__init__(ref)
        self.cause = cause  # what went wrong on the last attempt, as described then
        self.ref = ref


# -- the registry --------------------------------------------------------------------------


def attributes(exc: BaseException) -> dict[str, Any]:
    """The facts an exception carries that a message may use (never credentials)."""
    found: dict[str, Any] = {}
    for name in ("message", "operation", "ticket_id", "retry_after", "ref"):
        value = getattr(exc, name, None)
        if value is not None and value != "":
            found[name] = value
    field_errors = getattr(exc, "field_errors", ())
    if field_errors:
        found["field_errors"] = [[e.field, e.message] for e in field_errors]
    return found


@dataclass(frozen=True)
class Entry:
    """How one exception class (and its unregistered subclasses) reaches the user."""

    error_type: type[BaseException]
    message: Message
    context: ContextOf = attributes
    fields: Fields | None = None
    warning: bool = False  # the user's own doing (a warning), not a failure (an error)


_REGISTRY: dict[type[BaseException], Entry] = {}


def register(
    error_type: type[BaseException],
    *,
    context: ContextOf = attributes,
    fields: Fields | None = None,
    warning: bool = False,
) -> Callable[[Message], Message]:
    """Register the user's message for `error_type` (a decorator on the message function)."""

    def add(message: Message) -> Message:
        _REGISTRY[error_type] = Entry(error_type, message, context, fields, warning)
        return message

    return add


def entry_for(error_type: type[BaseException]) -> Entry:
    """The entry of the first registered class in `error_type`'s MRO."""
    for cls in error_type.__mro__:
        entry = _REGISTRY.get(cls)
        if entry is not None:
            return entry
    return _REGISTRY[BaseException]


def _named(kind: str) -> type[BaseException] | None:
    """The registered class, or subclass of one, whose name is `kind` (as stored); the
    catch-all's subclasses are every exception there is, so they are not searched."""
    roots = [cls for cls in _REGISTRY if cls is not BaseException]
    for cls in roots:
        if cls.__name__ == kind:
            return cls
    seen: set[type[BaseException]] = set()
    stack = roots
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if cls.__name__ == kind:
            return cls
        stack.extend(cls.__subclasses__())
    return None


@dataclass(frozen=True)
class Described:
    """An exception as the outbox stores it: its kind, its context, and the message now."""

    kind: str
    context: dict[str, Any] | None  # None: only `message` is known (an older row)
    message: str


def describe(exc: BaseException) -> Described:
    entry = entry_for(type(exc))
    context = entry.context(exc)
    return Described(type(exc).__name__, context, entry.message(context))


def message_for(exc: BaseException) -> str:
    """The user's message for any failure (no secrets, no stack traces)."""
    return describe(exc).message


def reply_for(exc: BaseException) -> Reply:
    entry = entry_for(type(exc))
    text = entry.message(entry.context(exc))
    return Reply.warning(text) if entry.warning else Reply.error(text)


def field_errors_for(exc: BaseException) -> dict[str, str]:
    """Which form field each complaint lands on ("" for the form as a whole)."""
    own = entry_for(type(exc))
    context = own.context(exc)
    for cls in type(exc).__mro__:
        entry = _REGISTRY.get(cls)
        if entry is not None and entry.fields is not None:
            placed = entry.fields(context)
            if placed is not None:
                return placed
            break
    return {"": own.message(context)}


def render_stored(kind: str | None, context: Context | None, fallback: str | None) -> str | None:
    """A stored failure worded now, from its kind and context; `fallback` (the text stored at
    the time) for rows written before contexts were kept, or kinds no longer registered."""
    if kind is None or context is None:
        return fallback
    cls = _named(kind)
    if cls is None:
        return fallback
    entry = entry_for(cls)
    try:
        return entry.message(context)
    except (KeyError, TypeError, ValueError):  # a context from an older version
        return fallback


# -- what the user reads, per exception class --------------------------------------------------


def _text(context: Context) -> str:
    return str(context.get("message", ""))


@register(UserError, warning=True)
def _user_error(context: Context) -> str:
    return _text(context)


@register(PSAError)
def _psa_error(context: Context) -> str:
    return f"ConnectWise answered with an error: {_text(context)}"


@register(SiteNotAllowed, fields=lambda c: {"site": _text(c)})
def _site_not_allowed(context: Context) -> str:
    return f"That ConnectWise site can't be used: {_text(context)}"


@register(UnknownCompany, fields=lambda c: {"company_id": f"{_text(c)}. Check the company id."})
def _unknown_company(context: Context) -> str:
    return f"{_text(context)}. Check the company id you log in with."


@register(ConfigurationError)
def _configuration(context: Context) -> str:
    return f"The ConnectWise connection settings don't work: {_text(context)}"


def _key_fields(context: Context) -> dict[str, str]:
    msg = "ConnectWise rejected these keys (401). Check the public/private key pair."
    return {"public_key": msg, "private_key": msg}


@register(AuthError, fields=_key_fields)
def _auth(context: Context) -> str:
    return (
        "ConnectWise rejected the API keys (401). An owner should check the connection "
        "with `{cmd} settings` and re-enter the keys if they were changed."
    )


def _role_fields(context: Context) -> dict[str, str]:
    return {
        "": "The keys work, but the API member's security role may not read service "
        "tickets (403). Grant it the rights listed in docs/connectwise.md."
    }


@register(PermissionDenied, fields=_role_fields)
def _permission(context: Context) -> str:
    return (
        f"ConnectWise refused this for the API member (403) while trying to "
        f"{context.get('operation') or 'do that'}. Its security role needs that right "
        "(see docs/connectwise.md)."
    )


@register(NotFound)
def _not_found(context: Context) -> str:
    ticket_id = context.get("ticket_id")
    ticket = f" #{ticket_id}" if ticket_id is not None else ""
    return f"ConnectWise has no such record{ticket}: {_text(context)}"


@register(Conflict)
def _conflict(context: Context) -> str:
    return f"Nothing was changed: {_text(context)}."


@register(ValidationFailed)
def _validation(context: Context) -> str:
    details = "; ".join(
        f"{field}: {message}" if field else str(message)
        for field, message in context.get("field_errors", ())
    )
    return f"ConnectWise refused it: {_text(context)}" + (f" ({details})" if details else "")


@register(RateLimited)
def _rate_limited(context: Context) -> str:
    retry_after = context.get("retry_after")
    wait = f" for {retry_after:.0f}s" if retry_after else ""
    return f"ConnectWise is rate limiting us{wait}. Try again in a moment."


def _unreachable_site(context: Context) -> dict[str, str] | None:
    """A failure to reach the site while looking the company up lands on the site field."""
    if context.get("operation") == "company lookup":
        return {"site": f"Could not reach this site: {_text(context)}"}
    return None


@register(PSATimeout, fields=_unreachable_site)
def _timeout(context: Context) -> str:
    return "ConnectWise did not answer in time. Try again in a moment."


@register(ConnectionFailed, fields=_unreachable_site)
def _connection_failed(context: Context) -> str:
    return f"I couldn't reach ConnectWise ({_text(context)}). Try again in a moment."


@register(ServerError)
def _server_error(context: Context) -> str:
    return f"ConnectWise had an internal error ({_text(context)}). Try again in a moment."


@register(Unavailable)
def _unavailable(context: Context) -> str:
    return f"ConnectWise is unavailable ({_text(context)}). Try again in a moment."


@register(CredentialDecryptError, context=lambda exc: {})
def _undecryptable(context: Context) -> str:
    return (
        "The stored ConnectWise credentials can't be decrypted with this server's keys. "
        "The operator should check PSABOT_ENCRYPTION_KEYS, or an owner can reconnect."
    )


def _unconfirmed_context(exc: BaseException) -> dict[str, Any]:
    assert isinstance(exc, Unconfirmed)
    cause = exc.cause
    return {
        "ref": exc.ref,
        "cause_kind": cause.kind,
        "cause": cause.context,
        "message": cause.message,
    }


@register(Unconfirmed, context=_unconfirmed_context)
def _unconfirmed(context: Context) -> str:
    cause = render_stored(context.get("cause_kind"), context.get("cause"), _text(context))
    return (
        f"{cause} ConnectWise could not confirm whether the note arrived; check "
        f"the ticket for “ref {context['ref']}” before posting it again."
    )


def _unexpected_context(exc: BaseException) -> dict[str, Any]:
    if is_unavailable(exc):
        log.warning("database unavailable error=%s", type(exc).__name__)
        return {"database": True}
    ref = secrets.token_hex(3)
    log.exception("unexpected error ref=%s", ref, exc_info=exc)
    return {"ref": ref}


def _unexpected(context: Context) -> str:
    if context.get("database"):
        return "psabot's database is not answering right now. Try again in a minute."
    return (
        f"Something went wrong on our side (ref {context['ref']}). It has been logged; try again."
    )


# Anything else: a database outage (`is_unavailable` tells it from the instance) or a bug.
register(BaseException, context=_unexpected_context)(_unexpected)
