"""ConnectWise callbacks (API-NOTES §7): registration, the payload, and its signature.

ConnectWise POSTs a JSON body to the registered URL and signs it: the `x-content-signature`
header is Base64(HMAC-SHA256(key = SHA-256(signing_key), message = raw body)), where the
signing key is served as `{"signing_key": "..."}` at the payload's `Metadata.key_url`. That URL
comes from the (untrusted) body, so it is fetched only when its origin is the connection's own
ConnectWise host (the site, or its `api-` host), through the SSRF-guarded resolver, without
following redirects, with a small size cap and a short timeout; keys are cached by URL.

psabot registers one `ticket` callback at the `Owner` level per connection (objectId 1): one
record to keep, whatever gets linked or unlinked; deliveries for tickets nobody linked are
answered and dropped after the signature check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from cachetools import TTLCache
from yarl import URL

from psa.connectwise.client import ConnectWiseClient
from psa.connectwise.hosts import HostPolicy
from psa.errors import PSAError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-content-signature"
LEVEL = "owner"
OWNER_OBJECT_ID = 1
DESCRIPTION_PREFIX = "psabot ticket updates"
MAX_KEY_BYTES = 4096  # a signing key answer is a few dozen bytes
KEY_TIMEOUT = 3.0  # seconds; the whole delivery must be answered within ConnectWise's 5 s
KEY_CACHE_TTL = 3600.0
KEY_CACHE_SIZE = 256
MAX_CALLBACK_RECORDS = 200  # callbacks listed when looking for psabot's own


class CallbackRefused(Exception):
    """A delivery that must not be acted on; `status` is the HTTP answer, `reason` for logs."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class CallbackPayload:
    message_id: str
    company_id: str
    type: str
    action: str
    record_id: int
    key_url: str


def signature(raw: bytes, signing_key: str) -> str:
    """The `x-content-signature` ConnectWise sends for `raw` under `signing_key`."""
    key = hashlib.sha256(signing_key.encode("utf-8")).digest()
    return base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest()).decode("ascii")


def signature_matches(raw: bytes, header: str, signing_key: str) -> bool:
    return hmac.compare_digest(signature(raw, signing_key).encode(), header.strip().encode())


MAX_RECORD_ID = 2**31 - 1  # ConnectWise ids are 32-bit; a larger one would overflow a query


def _int(value: Any) -> int | None:
    """A positive record id, from a JSON number or ASCII digits (`"²"` and `"١٢"` are not)."""
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_RECORD_ID else None


def parse_payload(raw: bytes) -> CallbackPayload:
    """The fields psabot uses; `CallbackRefused(400)` when the body is not a callback."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: `[[[[…`
        raise CallbackRefused(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise CallbackRefused(400, "the body is not a JSON object")
    metadata = body.get("Metadata")
    key_url = metadata.get("key_url") if isinstance(metadata, dict) else None
    record_id = _int(body.get("ID"))
    kind = body.get("Type")
    if (
        not isinstance(key_url, str)
        or not key_url
        or record_id is None
        or not isinstance(kind, str)
    ):
        raise CallbackRefused(400, "the body lacks ID, Type or Metadata.key_url")
    action = body.get("Action")
    message_id = body.get("MessageId")
    company = body.get("CompanyId")
    return CallbackPayload(
        message_id=str(message_id) if isinstance(message_id, (str, int)) else "",
        company_id=company if isinstance(company, str) else "",
        type=kind.strip().lower(),
        action=action.strip().lower() if isinstance(action, str) else "",
        record_id=record_id,
        key_url=key_url,
    )


def message_key(payload: CallbackPayload, raw: bytes) -> str:
    """What makes a delivery the same delivery: ConnectWise's MessageId, else the body."""
    if payload.message_id:
        return "m:" + payload.message_id[:190]
    return "b:" + hashlib.sha256(raw).hexdigest()


async def trusted_origins(client: ConnectWiseClient) -> set[str]:
    """The origins a key may come from: the connection's site and its API host."""
    origins = {client.site.origin}
    base = await client.base_url()
    origins.add(str(base.origin()))
    api = client.site.api_host_for(client.codebase or "")
    origins.add(api.origin)
    return origins


class KeyFetcher:
    """Signing keys by URL: only from a trusted origin, bounded, cached (one per process)."""

    def __init__(
        self, hosts: HostPolicy, *, ttl: float = KEY_CACHE_TTL, maxsize: int = KEY_CACHE_SIZE
    ) -> None:
        self.hosts = hosts
        self.cache: TTLCache[str, str] = TTLCache(maxsize=maxsize, ttl=ttl)
        self.fetches = 0  # how many times a key was actually fetched (tests, metrics)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=self.hosts.resolver(), limit=8),
                timeout=aiohttp.ClientTimeout(total=KEY_TIMEOUT),
            )
        return self._session

    @staticmethod
    def check_origin(key_url: str, origins: set[str]) -> URL:
        """The key URL, if it points at one of `origins`; `CallbackRefused(403)` otherwise."""
        try:
            url = URL(key_url)
            origin = str(url.origin()) if url.absolute and url.scheme in ("http", "https") else ""
        except ValueError:
            origin = ""
        if not origin or origin not in origins:
            raise CallbackRefused(403, "the key URL is not on the connection's ConnectWise host")
        return url

    async def key(self, key_url: str, origins: set[str]) -> str:
        url = self.check_origin(key_url, origins)
        cached = self.cache.get(str(url))
        if cached is not None:
            return cached
        signing_key = await self._fetch(url)
        self.cache[str(url)] = signing_key
        return signing_key

    async def _fetch(self, url: URL) -> str:
        self.fetches += 1
        try:
            async with self._open().get(
                url, allow_redirects=False, headers={"Accept": "application/json"}
            ) as resp:
                if resp.status != 200:
                    raise CallbackRefused(503, f"the key URL answered HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > MAX_KEY_BYTES:
                    raise CallbackRefused(503, "the key answer is too large")
                raw = await resp.content.read(MAX_KEY_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CallbackRefused(
                503, f"the key URL could not be read: {type(exc).__name__}"
            ) from None
        if len(raw) > MAX_KEY_BYTES:
            raise CallbackRefused(503, "the key answer is too large")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            body = None
        key = body.get("signing_key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key:
            raise CallbackRefused(503, "the key URL gave no signing key")
        return key

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


# -- registration (/system/callbacks) --------------------------------------------------------


def _records(body: Any) -> list[dict[str, Any]]:
    return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []


def description_for(workspace: str) -> str:
    """The description that names a chat workspace's callback (several may share a company)."""
    return f"{DESCRIPTION_PREFIX} for {workspace}"[:100]


async def register(
    client: ConnectWiseClient, url: str, *, description: str, replaces: int | None
) -> int:
    """Make the workspace's Owner-level ticket callback point at `url`; its ConnectWise id.

    An earlier record of this workspace's (`replaces`, or one with its description) is deleted
    first, so a connection never has two callbacks (and ConnectWise's duplicate check,
    400 ObjectExists, never trips on a record of our own).
    """
    await unregister(client, replaces, description=description)
    resp = await client.request(
        "POST",
        "system/callbacks",
        json={
            "url": url,
            "objectId": OWNER_OBJECT_ID,
            "type": "ticket",
            "level": LEVEL,
            "description": description,
            "inactiveFlag": False,
        },
        idempotent=False,
        operation="register callback",
    )
    callback_id = _int(resp.body.get("id")) if isinstance(resp.body, dict) else None
    if callback_id is None:
        raise PSAError("ConnectWise registered the callback but sent no id", operation="register")
    return callback_id


async def unregister(
    client: ConnectWiseClient, callback_id: int | None, *, description: str
) -> None:
    """Delete a workspace's callback records (the given id, and any with its description)."""
    rows = await client.get_all(
        "system/callbacks",
        {"orderBy": "id asc"},
        limit=MAX_CALLBACK_RECORDS,
        operation="list callbacks",
    )
    ids = {
        _int(r.get("id"))
        for r in _records(rows)
        if r.get("description") == description or _int(r.get("id")) == callback_id
    }
    for found in sorted(i for i in ids if i is not None):
        await client.request(
            "DELETE", f"system/callbacks/{found}", idempotent=True, operation="remove callback"
        )


def client_of(provider: object) -> ConnectWiseClient | None:
    """The ConnectWise client behind a provider (None for a provider of another PSA)."""
    client = getattr(provider, "client", None)
    return client if isinstance(client, ConnectWiseClient) else None
