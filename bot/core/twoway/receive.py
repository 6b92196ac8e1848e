"""One ConnectWise delivery: checked, queued, answered, all within ConnectWise's 5 s.

The order matters. An address that is unknown, rotated away or disconnected gets the same
404 (no oracle for which one). A body without a signature is 401 before anything else is
read; a body that is not a callback is 400; a key URL off the connection's own ConnectWise
host is 403 and never fetched; a signature that does not match is 401; a message received
before is 403 (a replay). Only then is it queued, durably, for the worker, which re-reads the
ticket instead of believing the body. Deliveries for a ticket nobody linked are answered and
dropped. Nothing of the body or the token is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.context import Services, provider_for_account
from bot.core.errors import NotConnected
from bot.core.twoway.endpoints import CallbackEndpoints
from psa.connectwise import callbacks as cwcb
from psa.errors import PSAError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a ticket payload with its Entity is a few KiB
MAX_TOKEN_LENGTH = 100
ANSWER_WITHIN = 4.0  # seconds: the whole check, so ConnectWise (5 s) always gets an answer


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    queued: bool = False


UNKNOWN = Answer(404, "No callback is registered at this address.")
COUNTER = "psabot_callbacks_total"


class CallbackReceiver:
    def __init__(
        self,
        services: Services,
        endpoints: CallbackEndpoints,
        keys: cwcb.KeyFetcher,
        wake: Callable[[], None],
    ) -> None:
        self.services = services
        self.endpoints = endpoints
        self.keys = keys
        self.wake = wake  # the worker: a delivery is waiting
        services.metrics.counter(COUNTER, "ConnectWise callback deliveries, by answer", ("status",))

    async def accept(self, token: str, raw: bytes, signature: str | None) -> Answer:
        answer = UNKNOWN
        if token and len(token) <= MAX_TOKEN_LENGTH:
            try:
                answer = await asyncio.wait_for(self._accept(token, raw, signature), ANSWER_WITHIN)
            except TimeoutError:
                log.warning("callback check took too long; ConnectWise is told to try again")
                answer = Answer(503, "Try again later.")
        self.services.metrics.inc(COUNTER, status=str(answer.status))
        return answer

    async def _accept(self, token: str, raw: bytes, signature: str | None) -> Answer:
        account_id = await self.endpoints.account_for(token)
        if account_id is None:
            return UNKNOWN
        if not signature:
            return self._refused(account_id, 401, "unsigned")
        try:
            payload = cwcb.parse_payload(raw)
            await self._verify(account_id, payload, raw, signature)
        except cwcb.CallbackRefused as exc:
            return self._refused(account_id, exc.status, exc.reason)
        if payload.type != "ticket":
            return Answer(204, "")
        now = self.services.clock()
        async with self.services.store.unit() as uow:
            if not await uow.links.is_linked(account_id, payload.record_id):
                return Answer(204, "")
            fresh = await uow.callbacks.enqueue(
                account_id,
                cwcb.message_key(payload, raw),
                payload.record_id,
                payload.action,
                now,
            )
        if not fresh:
            return self._refused(account_id, 403, "replayed")
        self.wake()
        return Answer(204, "", queued=True)

    async def _verify(
        self, account_id: int, payload: cwcb.CallbackPayload, raw: bytes, signature: str
    ) -> None:
        async with self.services.store.unit() as uow:
            connection = await uow.connections.get(account_id)
        if connection is None:
            raise cwcb.CallbackRefused(404, "disconnected meanwhile")
        if payload.company_id and payload.company_id.casefold() != connection.company_id.casefold():
            raise cwcb.CallbackRefused(403, "another company's callback")
        try:
            provider = await provider_for_account(self.services, account_id)
            client = cwcb.client_of(provider)
            if client is None:
                raise cwcb.CallbackRefused(403, "this PSA has no callbacks")
            origins = await cwcb.trusted_origins(client)
        except (PSAError, NotConnected) as exc:
            raise cwcb.CallbackRefused(
                503, f"ConnectWise unreachable: {type(exc).__name__}"
            ) from None
        key = await self.keys.key(payload.key_url, origins)
        if not cwcb.signature_matches(raw, signature, key):
            raise cwcb.CallbackRefused(401, "bad signature")

    def _refused(self, account_id: int, status: int, reason: str) -> Answer:
        log.warning("callback refused account=%s status=%d reason=%s", account_id, status, reason)
        text = {
            400: "This is not a ConnectWise callback body.",
            401: "The callback signature is missing or wrong.",
            403: "This callback is refused.",
            404: UNKNOWN.text,
        }.get(status, "Try again later.")
        return Answer(404 if status == 404 else status, text)
