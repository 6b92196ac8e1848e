"""Two-way parts on their own: the signature, the payload, the key fetch's guards, the update
wording, the sandbox's callback records, the storage queue and watch (SQLite and PostgreSQL),
and the reconcile's bounds against the sandbox."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from conftest import connect_account

from bot.core.markup import bold
from bot.core.twoway import TwoWayTuning
from bot.core.twoway.endpoints import CallbackEndpoints
from bot.core.updates import NoteAdded, StatusChange, update_text
from bot.runtime import Runtime
from psa.connectwise.callbacks import (
    CallbackRefused,
    KeyFetcher,
    message_key,
    parse_payload,
    signature,
    signature_matches,
)
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.sandbox import SandboxServer
from psa.types import NoteType
from storage.base import utcnow
from storage.repositories.callbacks import Seen
from storage.store import Store

DATA = Path(__file__).parent / "data" / "connectwise"


# -- signature and payload -------------------------------------------------------------------


def test_signature_is_base64_hmac_sha256_keyed_by_the_sha256_of_the_signing_key() -> None:
    raw = b'{"ID": 1}'
    key = hashlib.sha256(b"the-signing-key").digest()
    expected = base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest()).decode()
    assert signature(raw, "the-signing-key") == expected
    assert signature_matches(raw, expected, "the-signing-key")
    assert not signature_matches(raw, expected, "another-key")
    assert not signature_matches(raw + b" ", expected, "the-signing-key")
    # a plain HMAC keyed by the key itself is not what ConnectWise sends
    plain = base64.b64encode(hmac.new(b"the-signing-key", raw, hashlib.sha256).digest()).decode()
    assert not signature_matches(raw, plain, "the-signing-key")


def test_the_public_payload_sample_parses_and_bad_bodies_are_400() -> None:
    raw = (DATA / "callback_payload.nango-test.json").read_bytes()
    payload = parse_payload(raw)
    assert (payload.type, payload.record_id) == ("ticket", 123)
    assert payload.key_url.startswith("https://api-na.myconnectwise.net/")
    assert message_key(payload, raw) == "b:" + hashlib.sha256(raw).hexdigest()
    for bad in (b"", b"[]", b"{", b'{"ID": 1, "Type": "ticket"}', b'{"ID": "x", "Type": "t"}'):
        with pytest.raises(CallbackRefused) as refused:
            parse_payload(bad)
        assert refused.value.status == 400
    upper = json.dumps(
        {"ID": "7", "Type": "Ticket", "MessageId": "abc", "Metadata": {"key_url": "u"}}
    )
    parsed = parse_payload(upper.encode())
    assert (parsed.type, parsed.record_id, message_key(parsed, b"")) == ("ticket", 7, "m:abc")


# -- the key fetch ---------------------------------------------------------------------------


@pytest.fixture
async def key_server() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if request.path == "/redirect":
            raise web.HTTPFound("/key")
        if request.path == "/big":
            return web.json_response({"signing_key": "k" * 10_000})
        if request.path == "/empty":
            return web.json_response({"nothing": True})
        return web.json_response({"signing_key": "good-key"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", hits
    finally:
        await runner.cleanup()


async def test_keys_come_only_from_trusted_origins_without_redirects_bounded_and_cached(
    key_server: tuple[str, list[str]],
) -> None:
    origin, hits = key_server
    fetcher = KeyFetcher(HostPolicy([origin.removeprefix("http://")]))
    try:
        trusted = {origin}
        assert await fetcher.key(f"{origin}/key?id=1", trusted) == "good-key"
        assert await fetcher.key(f"{origin}/key?id=1", trusted) == "good-key"
        assert hits == ["/key"]  # cached
        for path in ("/redirect", "/big", "/empty"):
            with pytest.raises(CallbackRefused) as refused:
                await fetcher.key(f"{origin}{path}", trusted)
            assert refused.value.status == 503
        assert hits.count("/key") == 1  # the redirect was not followed
        with pytest.raises(CallbackRefused) as refused:
            await fetcher.key(f"{origin}/key?id=2", {"https://api-na.myconnectwise.net"})
        assert refused.value.status == 403
        assert hits.count("/key") == 1
    finally:
        await fetcher.aclose()


# -- the words -------------------------------------------------------------------------------


def test_update_text_escapes_connectwise_text_and_bounds_notes() -> None:
    status = StatusChange(before="New", after="**Bold** `x`", closed=False, reopened=False)
    notes = [
        NoteAdded(i, "Marcus", NoteType.DESCRIPTION, f"note {i} " + "y" * 400) for i in range(7)
    ]
    text = update_text(48213, "Printer", "https://cw.example/t", status, notes)
    assert text is not None
    assert "**Bold**" not in text and "`x`" not in text  # ConnectWise text never becomes markup
    assert f"from {bold('New')} to" in text
    assert text.count("added a discussion note") == 5
    assert "… and 2 more notes in ConnectWise." in text
    assert all(len(line) < 400 for line in text.splitlines())
    closed = StatusChange(before="New", after="Closed", closed=True, reopened=False)
    assert "Closed in ConnectWise" in (update_text(1, "", "", closed, []) or "")
    assert update_text(1, "", "", None, []) is None


# -- the sandbox's records -------------------------------------------------------------------


async def test_sandbox_callbacks_crud_and_the_duplicate_check(cw_sandbox: SandboxServer) -> None:
    creds = cw_sandbox.credentials
    login = f"{creds.company_id}+{creds.public_key}:{creds.private_key}".encode()
    headers = {
        "clientId": creds.client_id,
        "Authorization": "Basic " + base64.b64encode(login).decode(),
    }
    base = cw_sandbox.api_url + "/system/callbacks"
    entry = {"url": "http://127.0.0.1:9/x", "objectId": 1, "type": "ticket", "level": "owner"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(base, json=entry) as resp:
            assert resp.status == 201
            created = await resp.json()
        async with session.post(base, json=entry) as resp:
            body = await resp.json()
            assert resp.status == 400 and body["errors"][0]["code"] == "ObjectExists"
        async with session.get(base) as resp:
            assert [e["id"] for e in await resp.json()] == [created["id"]]
        key_url = cw_sandbox.context.callbacks.key_url(created["id"])
        async with session.get(key_url) as resp:
            assert resp.status == 200 and (await resp.json())["signing_key"]
        async with session.delete(f"{base}/{created['id']}") as resp:
            assert resp.status == 204
        async with session.get(key_url) as resp:
            assert resp.status == 404  # the key goes with its callback
        async with session.post(base, json={"url": "x"}) as resp:
            assert resp.status == 400


# -- storage ---------------------------------------------------------------------------------


async def _account(store: Store) -> int:
    async with store.unit() as uow:
        account = await uow.accounts.get_or_create("slack", "T1", "Acme")
        return account.id


async def test_deliveries_are_queued_once_claimed_and_finished(store: Store) -> None:
    account = await _account(store)
    now = utcnow()
    async with store.unit() as uow:
        assert await uow.callbacks.enqueue(account, "m:1", 5, "updated", now)
        assert not await uow.callbacks.enqueue(account, "m:1", 5, "updated", now)  # replay
        assert await uow.callbacks.enqueue(account, "m:2", 5, "updated", now)
        assert await uow.callbacks.enqueue(account, "m:3", 6, "updated", now)
    async with store.unit() as uow:
        first = await uow.callbacks.claim_due("a", now, timedelta(seconds=30), 2)
    async with store.unit() as uow:
        assert await uow.callbacks.claim_due("b", now, timedelta(seconds=30), 10) != []
        assert await uow.callbacks.claim_due("c", now, timedelta(seconds=30), 10) == []
    assert [r.message_key for r in first] == ["m:1", "m:2"]
    async with store.unit() as uow:
        await uow.callbacks.finish(account, 5, [first[0].id], now, now)  # m:2 covered too
        assert await uow.callbacks.pending_count() == 1
        assert await uow.callbacks.purge_done(now + timedelta(days=8)) == 2
        # a purged message is no replay any more; the re-read ticket decides what is new
        assert await uow.callbacks.enqueue(account, "m:1", 5, "updated", now)


async def test_two_checks_of_one_ticket_record_one_look(store: Store) -> None:
    account = await _account(store)
    seen = Seen(1, "New", False, 10, None)
    async with store.unit() as uow:
        assert await uow.callbacks.seed_watch(account, 5, seen)
        assert not await uow.callbacks.seed_watch(account, 5, seen)
    async with store.unit() as uow:
        one = await uow.callbacks.watch(account, 5)
    async with store.unit() as uow:
        two = await uow.callbacks.watch(account, 5)
    assert one is not None and two is not None
    newer = Seen(2, "Open", False, 12, None)
    async with store.unit() as uow:
        assert await uow.callbacks.advance_watch(one, newer, utcnow())
    async with store.unit() as uow:
        assert not await uow.callbacks.advance_watch(two, newer, utcnow())
        after = await uow.callbacks.watch(account, 5)
    assert after is not None and (after.status_name, after.last_note_id) == ("Open", 12)


# -- the reconcile against the sandbox -------------------------------------------------------


async def test_the_reconcile_is_one_query_per_account_and_bounded(
    runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    await connect_account(runtime, cw_sandbox)
    tickets = [t["id"] for t in cw_sandbox.state.open_tickets()[:4]]
    async with runtime.store.unit() as uow:
        account = await uow.accounts.get_or_create("shell", "acme")
        for index, ticket in enumerate(tickets):
            await uow.links.set(
                account.id,
                f"C{index}",
                channel_id=f"C{index}",
                thread_id=None,
                ticket_id=ticket,
                ticket_summary="",
                linked_by="u",
            )
        await uow.callbacks.save_endpoint(
            account.id,
            token_hash="h",
            base_url="https://x",
            level="owner",
            callback_id=1,
            error=None,
        )
    twoway = runtime.twoway
    for ticket in tickets:
        await twoway.sync.seed(account.id, ticket)
    twoway.tuning = TwoWayTuning(reconcile_batch=3)
    for ticket in tickets:  # changed "in ConnectWise" with no callback to say so
        cw_sandbox.state.patch_ticket(
            ticket, [{"op": "replace", "path": "summary", "value": f"changed {ticket}"}], "msmith"
        )
    cw_sandbox.requests.clear()
    assert await twoway.reconcile_once() == 3  # the batch, not all four
    listings = cw_sandbox.requests.matching(method="GET", path_contains="/service/tickets")
    queries = [r for r in listings if r.path.endswith("/service/tickets")]
    assert len(queries) == 1 and "lastUpdated" in queries[0].query
    assert len(cw_sandbox.requests) == 1 + 3 * 2  # one query, then ticket + notes per change
    cw_sandbox.requests.clear()
    assert await twoway.reconcile_once() == 1  # the fourth, checked longest ago
    cw_sandbox.requests.clear()
    assert await twoway.reconcile_once() == 0  # nothing changed since
    assert len(cw_sandbox.requests) == 1


async def test_a_ticket_no_longer_linked_is_forgotten(store: Store) -> None:
    account = await _account(store)
    async with store.unit() as uow:
        await uow.links.set(
            account,
            "C1",
            channel_id="C1",
            thread_id=None,
            ticket_id=5,
            ticket_summary="",
            linked_by="u",
        )
        await uow.callbacks.seed_watch(account, 5, Seen(1, "New", False, 3, None))
        assert not await uow.callbacks.forget_unlinked(account, 5)  # still linked
        await uow.links.delete(account, "C1")
        assert await uow.callbacks.forget_unlinked(account, 5)
        assert await uow.callbacks.watch(account, 5) is None


async def test_two_processes_starting_at_once_register_one_callback(
    runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    await connect_account(runtime, cw_sandbox)
    first = CallbackEndpoints(runtime.services, "https://psabot.example.com")
    second = CallbackEndpoints(runtime.services, "https://psabot.example.com")
    done = await asyncio.gather(first.keep_registered(), second.keep_registered())
    assert sorted(done) == [0, 1]
    (entry,) = cw_sandbox.context.callbacks.entries.values()
    assert entry["url"].startswith("https://psabot.example.com/cw/callbacks/")
    token = entry["url"].rsplit("/", 1)[1]
    assert await first.account_for(token) is not None  # the stored hash is the live one's
    assert await first.keep_registered() == 0  # nothing stale any more
    moved = CallbackEndpoints(runtime.services, "https://bot.example.org")
    assert await moved.keep_registered() == 1  # a new public URL: registered again
    assert await first.account_for(token) is None  # and the old address is dead
    assert len(cw_sandbox.context.callbacks.entries) == 1
