"""`POST /cw/callbacks/{token}`: ConnectWise's deliveries (bot/core/twoway/receive.py decides).

The body is read with a hard cap (413 past it, before anything else is looked at) and within
a time limit (408 past it: a sender that trickles its body never holds a handler open), and
handed over raw, because the signature is over the exact bytes. Neither the body nor the token is
logged; aiohttp's access log is off in `psabot serve`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.core.twoway.receive import MAX_BODY_BYTES
from bot.runtime import Runtime
from bot.settings import Settings
from psa.connectwise.callbacks import SIGNATURE_HEADER

PATH = "/cw/callbacks/{token}"
TOO_LARGE = "The callback body is too large."
TOO_SLOW = "The callback body took too long to arrive."
BODY_WITHIN = 1.0  # seconds for the whole body: with the check's 4 s, inside ConnectWise's 5 s


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (the rest is never read)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def mount(app: web.Application, key: web.AppKey[Runtime], settings: Settings) -> None:
    async def receive(request: web.Request) -> web.Response:
        try:
            raw = await asyncio.wait_for(_read_capped(request, MAX_BODY_BYTES), BODY_WITHIN)
        except TimeoutError:
            return web.Response(status=408, text=TOO_SLOW, headers={"Connection": "close"})
        if raw is None:
            return web.Response(status=413, text=TOO_LARGE)
        answer = await request.app[key].twoway.receiver.accept(
            request.match_info["token"], raw, request.headers.get(SIGNATURE_HEADER)
        )
        if answer.status == 204:
            return web.Response(status=204)
        return web.Response(status=answer.status, text=answer.text)

    app.router.add_post(PATH, receive)
