# ruff: noqa: F811  (pytest fixtures arrive as parameters named like the imported fixtures)
"""Hostile deliveries to `POST /cw/callbacks/{token}`: whatever the body, a 4xx, never a 500,
never a queued delivery, and the address's token in no log line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from test_twoway_e2e import (  # noqa: F401  (the fixtures, shared)
    Bots,
    body_for,
    bots,
    connect_slack,
    deliver,
    entry_of,
    queued,
    sandbox,
    settled,
    slack_fake,
    teams_fake,
)

from bot import callbacks_route, logs
from psa.connectwise.callbacks import SIGNATURE_HEADER, signature
from psa.connectwise.sandbox import OPEN_TICKET_ID


def with_id(key_url: str, record_id: object) -> bytes:
    body = json.loads(body_for(key_url))
    body["ID"] = record_id
    return json.dumps(body, ensure_ascii=False).encode()


async def test_hostile_bodies_are_4xx_and_never_queued(bots: Bots) -> None:
    await connect_slack(bots)
    url, key, key_url = entry_of(bots)
    start = await queued(bots)
    hostile = {
        "nested arrays": b"[" * 60_000,
        "nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        "superscript id": with_id(key_url, "\u00b2"),
        "arabic-indic id": with_id(key_url, "\u0661\u0662"),
        "huge id": with_id(key_url, 10**4000 - 1),
        "64-bit id": with_id(key_url, 2**63),
        "negative id": with_id(key_url, -OPEN_TICKET_ID),
        "id as float": with_id(key_url, float(OPEN_TICKET_ID)),
        "not utf-8": b'{"ID": "\xff\xfe"}',
        "a list": b"[1, 2, 3]",
        "empty": b"",
    }
    for name, raw in hostile.items():
        status, text = await deliver(url, raw, signature(raw, key))
        assert 400 <= status < 500, (name, status, text)
    assert await queued(bots) == start
    assert bots.runtime.metrics.value("psabot_callbacks_total", status="500") == 0


async def test_duplicate_keys_do_not_smuggle_another_ticket(bots: Bots) -> None:
    """A signed body names its ticket once; with the ID key twice, the last one counts (as in
    every JSON reader), the ticket is re-read, and an unlinked one is answered and dropped."""
    await connect_slack(bots)
    url, key, key_url = entry_of(bots)
    start = await queued(bots)
    raw = body_for(key_url, message="dup").replace(
        b'"ID": %d' % OPEN_TICKET_ID, b'"ID": %d, "ID": 999999' % OPEN_TICKET_ID
    )
    assert b'"ID": 999999' in raw
    assert (await deliver(url, raw, signature(raw, key)))[0] == 204
    assert await queued(bots) == start  # ticket 999999 is linked nowhere


async def test_an_endless_chunked_body_is_cut_at_the_cap(bots: Bots) -> None:
    await connect_slack(bots)
    url = entry_of(bots)[0]
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 10 * 1024 * 1024:  # far past the cap: the server must stop first
            sent += 1024
            yield b" " * 1024

    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=endless(), headers={SIGNATURE_HEADER: "x"}) as resp,
    ):
        assert resp.status == 413
    assert sent < 10 * 1024 * 1024


async def test_a_trickled_body_gets_408_in_bounded_time(
    bots: Bots, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        callbacks_route,
        "BODY_WITHIN",
        0.3,
    )
    await connect_slack(bots)
    url, _, _ = entry_of(bots)
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\n{SIGNATURE_HEADER}: x\r\n"
            "Content-Length: 1000\r\n\r\n{".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5.0)
    finally:
        writer.close()
    assert status_line.split()[1] == b"408", status_line


async def test_the_callback_token_is_in_no_log_line(
    bots: Bots, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await connect_slack(bots)
    url, key, key_url = entry_of(bots)
    token = url.rsplit("/", 1)[1]
    raw = body_for(key_url, message="logged?")
    for sig in (None, "forged", signature(raw, key), signature(raw, key)):
        await deliver(url, raw, sig)
    await deliver(url, b"[" * 60_000, "x")
    await settled(bots)
    raw_lines = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert raw_lines and not [line for line in raw_lines if token in line]  # never logged
    caplog.clear()
    # whatever a library or a proxy log writes of the path, the filter redacts the token
    logging.getLogger("aiohttp.access").info('127.0.0.1 "POST %s HTTP/1.1" 204', urlsplit(url).path)
    escaped = json.dumps({"url": url}).replace("/", "\\/")
    logging.getLogger("psa").warning("ConnectWise said: %s", escaped)
    handler = logging.Handler()
    handler.addFilter(logs.RedactingFilter(logs.SecretRegistry()))
    lines = []
    for rec in caplog.records:
        handler.filter(rec)
        lines.append(rec.getMessage() + (rec.exc_text or ""))
    assert len(lines) == 2 and not [line for line in lines if token in line], lines
    assert "/cw/callbacks/" + logs.REDACTED in lines[0]
    assert "\\/cw\\/callbacks\\/" + logs.REDACTED in lines[1]
