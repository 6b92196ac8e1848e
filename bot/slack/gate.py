"""The door of /slack/events: size cap, Slack's signature, then the payload's shape.

Every check happens here, before bolt sees the request, so bolt's own signature check (which
logs a rejected body, keys and all) stays off for HTTP. A request that fails answers 4xx with
one sentence and is logged as one line per reason per window (`REJECT_LOG_WINDOW`), with the
number of rejections left out since the last line; no body, header value or traceback is
ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.logs import RateLimitedLog
from bot.slack import inbound

log = logging.getLogger(__name__)

# Bytes. Slack's largest request is a message shortcut on a 40,000-character message: its text
# twice (text and rich_text blocks), JSON-escaped, then form-encoded: ~80 KB in ASCII, 700 KB in
# CJK, 1.25 MB in emoji. Memory per request stays bounded by this.
MAX_BODY = 1536 * 1024
MAX_SKEW = 5 * 60  # seconds, as Slack documents
REJECT_LOG_WINDOW = 10.0  # seconds
READ_CHUNK = 64 * 1024


@dataclass
class Rejected(Exception):
    status: int
    reason: str  # a fixed word: one log line per reason per window
    message: str  # the one sentence answered to the caller

    def response(self) -> web.Response:
        return web.json_response({"ok": False, "error": self.message}, status=self.status)


@dataclass
class Admitted:
    raw: str  # the body as bolt parses it
    body: dict[str, Any]  # the validated body
    ssl_check: bool = False  # Slack's certificate probe: answer 200, do nothing


BAD_SIGNATURE = Rejected(401, "bad_signature", "The request signature is not valid.")


def _too_large(limit: int) -> Rejected:
    return Rejected(413, "too_large", f"A Slack request must be at most {limit / 2**20:g} MB.")


class SlackGate:
    def __init__(
        self,
        signing_secret: str,
        *,
        max_body: int = MAX_BODY,
        clock: Callable[[], float] = time.time,
        window: float = REJECT_LOG_WINDOW,
    ) -> None:
        self._secret = signing_secret.encode()
        self.max_body = max_body
        self.clock = clock
        self.rejections = RateLimitedLog(log, window=window)

    async def admit(self, request: web.Request) -> Admitted:
        """The verified, validated request, or Rejected."""
        raw = await self._read(request)
        if request.content_type == inbound.FORM and _is_ssl_check(raw):
            return Admitted(raw="", body={}, ssl_check=True)
        self._verify(request, raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "not_utf8", "The request body must be UTF-8.") from None
        try:
            body = inbound.parse(text, request.headers.get("Content-Type"))
        except inbound.MalformedPayload as exc:
            raise Rejected(
                400, "malformed", f"This is not a Slack request psabot understands: {exc.reason}."
            ) from None
        return Admitted(raw=text, body=body)

    def reject(self, request: web.Request, rejected: Rejected) -> web.Response:
        self.rejections.log(
            rejected.reason,
            "slack request rejected reason=%s status=%s remote=%s",
            rejected.reason,
            rejected.status,
            request.remote,
        )
        return rejected.response()

    async def _read(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.max_body:
            raise _too_large(self.max_body)
        chunks: list[bytes] = []
        size = 0
        while True:  # a chunked body has no length: count as it comes
            chunk = await request.content.read(READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body:
                raise _too_large(self.max_body)
            chunks.append(chunk)

    def _verify(self, request: web.Request, raw: bytes) -> None:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise Rejected(401, "bad_timestamp", "X-Slack-Request-Timestamp must be Unix seconds.")
        if abs(self.clock() - int(timestamp)) > MAX_SKEW:
            raise Rejected(
                401, "stale_timestamp", "The request is too old (or the clocks disagree)."
            )
        if not signature.startswith("v0=") or len(signature) > 80 or not signature.isascii():
            raise BAD_SIGNATURE
        # Over the raw bytes: Slack signs bytes, and a body that is not UTF-8 must not crash.
        base = b"v0:" + timestamp.encode() + b":" + raw
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise BAD_SIGNATURE


def _is_ssl_check(raw: bytes) -> bool:
    if b"ssl_check=" not in raw[:200]:
        return False
    try:
        fields = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True, max_num_fields=10))
    except ValueError:  # too many fields: not the probe
        return False
    return fields.get("ssl_check") == "1" and "command" not in fields and "payload" not in fields
