"""Logging hygiene: secrets redacted from every record, Slack library bodies never logged.

`secrets` is the process-wide registry of values that must never appear in a log line. The
Slack service registers its settings (signing secret, tokens, client secret, Fernet keys);
anything learnt at run time (a workspace's bot token, a ConnectWise key pair) is added with
`secrets.add(value)` or `secrets.add_basic_auth(user, password)`. `install()` puts the
`RedactingFilter` on the root logger's handlers: it rewrites each record's message, arguments
and traceback text with every registered value replaced, and drops slack_sdk / slack_bolt
DEBUG records, which carry request and response bodies (form submissions, OAuth tokens).
The token of a ConnectWise callback address (`/cw/callbacks/<token>`) is redacted by shape,
because only its hash is stored: no process but the one that registered it knows the value,
yet an access log or an error of any process may carry the path.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote, urlsplit

from pydantic import BaseModel, SecretStr

from psa.types import ConnectionSettings

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words and numbers
SLACK_LOGGERS = ("slack_sdk", "slack_bolt")
# a token is `secrets.token_urlsafe`; JSON may escape its slashes (`\/cw\/callbacks\/…`)
_CALLBACK_TOKEN = re.compile(r"((?:\\?/)cw(?:\\?/)callbacks(?:\\?/))[A-Za-z0-9_-]+")


class SecretRegistry:
    """Values that must never be logged, with the encodings they travel in."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str | SecretStr | None) -> None:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not value or len(value.strip()) < MIN_SECRET_LENGTH:
            return
        # A secret also shows up form-encoded (a Slack modal body) or JSON-escaped.
        variants = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
        with self._lock:
            if variants <= self._values:
                return
            self._values |= variants
            ordered = sorted(self._values, key=len, reverse=True)  # longest first: no leftovers
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def add_all(self, values: Iterable[str | SecretStr | None]) -> None:
        for value in values:
            self.add(value)

    def add_basic_auth(self, username: str, password: str) -> None:
        """A password and the `Authorization: Basic …` value built from it."""
        self.add(password)
        self.add(base64.b64encode(f"{username}:{password}".encode()).decode("ascii"))

    def redact(self, text: str) -> str:
        if not text:
            return text
        if "callbacks" in text:
            text = _CALLBACK_TOKEN.sub(r"\g<1>" + REDACTED, text)
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def clear(self) -> None:
        """Forget every value (tests)."""
        with self._lock:
            self._values.clear()
            self._pattern = None


secrets = SecretRegistry()


def add_settings(settings: BaseModel) -> None:
    """Register every secret setting: each SecretStr field, each key of a key list, and the
    password of any URL setting (PSABOT_DATABASE_URL)."""
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, str) and "://" in value:
            with contextlib.suppress(ValueError):  # not a URL after all
                secrets.add(unquote(urlsplit(value).password or ""))
        if isinstance(value, SecretStr):
            raw = value.get_secret_value()
            secrets.add(raw)
            for part in re.split(r"[\s,]+", raw):  # PSABOT_ENCRYPTION_KEYS lists several keys
                secrets.add(part)


def add_connection(settings: ConnectionSettings) -> None:
    """Register a PSA connection's keys and the Basic-auth value built from them."""
    secrets.add(settings.public_key)
    secrets.add_basic_auth(f"{settings.company_id}+{settings.public_key}", settings.private_key)


class RedactingFilter(logging.Filter):
    """Drops Slack library DEBUG records; redacts registered secrets from all others."""

    def __init__(self, registry: SecretRegistry = secrets) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and record.name.startswith(SLACK_LOGGERS):
            return False  # slack_sdk logs request params and response bodies at DEBUG
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record, without its arguments
            message = str(record.msg)
        record.msg = self.registry.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.registry.redact(record.exc_text)
            record.exc_info = None  # formatters would render the original again
        if record.stack_info:
            record.stack_info = self.registry.redact(record.stack_info)
        return True


_filter = RedactingFilter()


def install(logger: logging.Logger | None = None) -> RedactingFilter:
    """Put the redacting filter on every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
    return _filter


@dataclass
class _Window:
    until: float = 0.0
    suppressed: int = 0


@dataclass
class RateLimitedLog:
    """At most one line per reason per window, saying how many were left out since the last.

    Reasons must come from a fixed set (never from the request), so the table stays small.
    """

    logger: logging.Logger
    window: float = 10.0
    level: int = logging.WARNING
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)

    def log(self, reason: str, message: str, *args: object) -> bool:
        """Log `message % args` unless `reason` was logged within the window; True if logged."""
        now = self.clock()
        slot = self._windows.setdefault(reason, _Window())
        if now < slot.until:
            slot.suppressed += 1
            return False
        suppressed, slot.suppressed, slot.until = slot.suppressed, 0, now + self.window
        self.logger.log(self.level, message + " suppressed=%d", *args, suppressed)
        return True
