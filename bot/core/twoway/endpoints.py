"""Each account's callback address: registered with ConnectWise, rotated, removed.

The address is `{PSABOT_PUBLIC_URL}/cw/callbacks/{token}` with a fresh `secrets.token_urlsafe`
token at every registration; only the token's SHA-256 is stored, so neither the database nor
a log line can give the address away, and re-registering (a new public URL, a rotation) kills
the old address at once. psabot keeps one Owner-level ticket callback per connection
(psa/connectwise/callbacks.py says why), registered when an owner connects, checked at every
start (a missing or stale registration is made again) and deleted when they disconnect.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.core.context import Services, provider_for_connection
from bot.core.errors import message_for
from psa.connectwise import callbacks as cwcb
from psa.errors import PSAError
from storage.models import CallbackEndpoint, PsaConnection

log = logging.getLogger(__name__)

ROUTE = "/cw/callbacks/"
TOKEN_BYTES = 32


class PublicUrlProblem(ValueError):
    """PSABOT_PUBLIC_URL cannot take ConnectWise's deliveries; the message says why."""


def callback_base(public_url: str) -> str:
    """The checked base URL deliveries go to: https, or http on a loopback address (tests)."""
    parts = urlsplit(public_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return public_url.strip().rstrip("/")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return public_url.strip().rstrip("/")
    raise PublicUrlProblem(
        "PSABOT_PUBLIC_URL must be an https address ConnectWise can reach for its callbacks"
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Registration:
    """How registering went: the stored row, and the error in the user's words (if any)."""

    row: CallbackEndpoint
    error: str | None


class CallbackEndpoints:
    def __init__(self, services: Services, public_url: str | None) -> None:
        self.services = services
        self.public_url = public_url

    @property
    def enabled(self) -> bool:
        return self.public_url is not None

    async def register(self, account_id: int) -> Registration | None:
        """(Re-)register the account's callback under a new token; None without a connection
        or a public URL. Failures are stored on the row (and the old address still dies)."""
        if self.public_url is None:
            return None
        async with self.services.store.unit() as uow:
            connection = await uow.connections.get(account_id)
            endpoint = await uow.callbacks.endpoint(account_id)
            account = await uow.accounts.get(account_id)
        if connection is None or account is None:
            return None
        description = cwcb.description_for(f"{account.platform} {account.external_id}")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        callback_id: int | None = None
        error: str | None = None
        try:
            base = callback_base(self.public_url)
            callback_id = await self._register(
                connection,
                f"{base}{ROUTE}{token}",
                description,
                endpoint.callback_id if endpoint else None,
            )
        except PublicUrlProblem as exc:
            base, error = self.public_url, str(exc)
        except PSAError as exc:
            base, error = callback_base(self.public_url), message_for(exc)
        if error is not None:
            log.warning("callback registration failed account=%s: %s", account_id, error)
        async with self.services.store.unit() as uow:
            row = await uow.callbacks.save_endpoint(
                account_id,
                token_hash=token_hash(token),
                base_url=base,
                level=cwcb.LEVEL,
                callback_id=callback_id,
                error=error,
            )
        return Registration(row, error)

    async def _register(
        self, connection: PsaConnection, url: str, description: str, replaces: int | None
    ) -> int | None:
        provider = await provider_for_connection(self.services, connection)
        client = cwcb.client_of(provider)
        if client is None:
            raise PSAError("this PSA has no callbacks", operation="register callback")
        return await cwcb.register(client, url, description=description, replaces=replaces)

    async def remove(self, account_id: int) -> None:
        """Delete the account's callback in ConnectWise (best effort) and its address here.
        Called before the connection is deleted, while its keys can still reach ConnectWise."""
        async with self.services.store.unit() as uow:
            connection = await uow.connections.get(account_id)
            endpoint = await uow.callbacks.endpoint(account_id)
            account = await uow.accounts.get(account_id)
            await uow.callbacks.delete_endpoint(account_id)
        if connection is None or endpoint is None or account is None:
            return
        description = cwcb.description_for(f"{account.platform} {account.external_id}")
        try:
            provider = await provider_for_connection(self.services, connection)
            client = cwcb.client_of(provider)
            if client is not None:
                await cwcb.unregister(client, endpoint.callback_id, description=description)
        except PSAError as exc:
            log.warning(
                "could not delete the ConnectWise callback account=%s error=%s",
                account_id,
                type(exc).__name__,
            )

    async def keep_registered(self) -> int:
        """At start: register every connection whose callback is missing, failed, or made for
        another public URL. Returns how many were (re-)registered."""
        if self.public_url is None:
            return 0
        try:
            base = callback_base(self.public_url)
        except PublicUrlProblem as exc:
            log.warning("%s; two-way updates stay off", exc)
            return 0
        async with self.services.store.unit() as uow:
            endpoints = {e.account_id: e for e in await uow.callbacks.endpoints()}
            accounts = await uow.callbacks.connected_accounts()
        stale = [
            a
            for a in accounts
            if a not in endpoints
            or endpoints[a].registered_at is None
            or endpoints[a].base_url != base
        ]
        done = 0
        for account_id in stale:
            seen = endpoints[account_id].token_hash if account_id in endpoints else None
            mark = "claimed-" + secrets.token_hex(16)  # never a SHA-256 of any token
            async with self.services.store.unit() as uow:
                claimed = await uow.callbacks.claim_registration(account_id, seen, mark)
            if claimed:  # another process starting at the same time does it otherwise
                await self.register(account_id)
                done += 1
        return done

    async def account_for(self, token: str) -> int | None:
        """The account a delivery address belongs to, if it is current and still connected."""
        wanted = token_hash(token)
        async with self.services.store.unit() as uow:
            endpoint = await uow.callbacks.endpoint_by_token_hash(wanted)
            if endpoint is None or not same_hash(endpoint.token_hash, wanted):
                return None
            if await uow.connections.get(endpoint.account_id) is None:
                return None
            return endpoint.account_id
