"""Two-way end to end: psabot's real aiohttp app (Slack and Teams mounted, a public URL set) on a
loopback port, the ConnectWise sandbox registering callbacks and delivering signed changes to
it over HTTP, a fake Slack Web API and a fake Bot Framework connector recording what reached
each linked thread. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import test_slack_e2e as slack_e2e
import test_teams_e2e as teams_e2e
from aiohttp import web
from conftest import FAST_OUTBOX
from fake_connector import FakeConnector, TeamsSender
from fake_slack import FakeSlack, SlackSender
from sqlalchemy import text

from bot.app import RUNTIME, create_app
from bot.core.connections import Connections
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.app import SLACK
from psa.connectwise.callbacks import SIGNATURE_HEADER, signature
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from storage import migrate
from storage.engine import create_engine

UPDATED = "updated in ConnectWise"


class Probe:
    """A SharingProbe test double: one answer for every channel, and the questions asked."""

    def __init__(self, platform: str, shared: bool) -> None:
        self.platform = platform
        self.shared = shared
        self.asked: list[tuple[str, str]] = []

    async def shared_externally(self, account_external_id: str, channel_id: str) -> bool:
        self.asked.append((account_external_id, channel_id))
        return self.shared


@dataclass
class Bots:
    url: str
    runtime: Runtime
    sandbox: SandboxServer
    slack: slack_e2e.Bot
    teams: teams_e2e.Bot
    slack_probe: Probe
    teams_probe: Probe


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serving(
    db_url: str,
    key: str,
    data_dir: Path,
    sandbox: SandboxServer,
    slack: FakeSlack,
    teams: Any,
    *,
    doubles: bool = True,
) -> AsyncIterator[Bots]:
    """`psabot serve` with both transports, its public URL the loopback port it listens on."""
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)  # `psabot migrate`, as an operator runs it
    finally:
        await engine.dispose()
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        PSABOT_DATABASE_URL=db_url,
        PSABOT_ENCRYPTION_KEYS=key,
        PSABOT_DATA_DIR=str(data_dir),
        PSABOT_CW_ALLOWED_HOSTS=sandbox.host_port,
        PSABOT_PUBLIC_URL=url,
        PSABOT_CW_RECONCILE_SECONDS="0.3",
        SLACK_SIGNING_SECRET=slack_e2e.SECRET,
        SLACK_API_URL=slack.api_url,
        SLACK_BOT_TOKEN="xoxb-single-token",
    )
    app = create_app(settings, tuning=FAST_OUTBOX)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        runtime = app[RUNTIME]
        slack_probe, teams_probe = Probe("slack", False), Probe("teams", True)
        if doubles:  # instead of the transports' own probes
            runtime.sharing.update(slack=slack_probe, teams=teams_probe)
        yield Bots(
            url,
            runtime,
            sandbox,
            slack_e2e.Bot(
                url,
                runtime,
                SlackSender(url, slack_e2e.SECRET, slack),
                slack,
                sandbox,
                app[SLACK].transport,
            ),
            teams_e2e.Bot(url, runtime, TeamsSender(url, teams), teams, sandbox),
            slack_probe,
            teams_probe,
        )
    finally:
        await runner.cleanup()


@pytest.fixture
async def slack_fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user(slack_e2e.ADMIN, "Alice Admin", email="alice@example.com", admin=True)
    fake.add_user(slack_e2e.TECH, "Jane Doe", email="jane.doe@example.com")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def teams_fake() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    for person in (teams_e2e.OWNER, teams_e2e.TECH):
        fake.add_person(person)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def sandbox(cw_sandbox: SandboxServer) -> SandboxServer:
    cw_sandbox.context.callbacks.retry_delays = (0.1, 0.2)  # ConnectWise waits 2 s, then 4 s
    return cw_sandbox


@pytest.fixture
async def bots(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    slack_fake: FakeSlack,
    teams_fake: FakeConnector,
) -> AsyncIterator[Bots]:
    async with serving(db_url, encryption_key, tmp_path, sandbox, slack_fake, teams_fake) as b:
        yield b
    key = sandbox.credentials.private_key
    assert key not in slack_fake.everything_sent() and key not in teams_fake.everything_sent()


# -- helpers ---------------------------------------------------------------------------------


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until `check()` (sync or async) holds."""
    deadline = time.monotonic() + timeout

    async def holds() -> bool:
        result = check()
        return bool(await result) if inspect.isawaitable(result) else bool(result)

    while not await holds():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def account_id(runtime: Runtime, platform: str) -> int:
    async with runtime.store.unit() as uow:
        found = await uow.session.execute(
            text("SELECT id FROM accounts WHERE platform = :p"),
            {"p": platform},
        )
        return int(found.scalar_one())


async def watched(runtime: Runtime, platform: str) -> None:
    """Wait until the linked ticket was looked at once (so its first change has a "from")."""
    account = await account_id(runtime, platform)

    async def seeded() -> bool:
        async with runtime.store.unit() as uow:
            return await uow.callbacks.watch(account, OPEN_TICKET_ID) is not None

    await eventually(seeded)


async def connect_slack(bots: Bots) -> None:
    await slack_e2e.connect(bots.slack)
    await slack_e2e.link_and_map(bots.slack)
    await watched(bots.runtime, "slack")


async def connect_teams(bots: Bots) -> None:
    done = await teams_e2e.connect(bots.teams)
    assert done["task"]["type"] == "message", done
    await teams_e2e.link_and_map(bots.teams)
    await watched(bots.runtime, "teams")


def slack_updates(bots: Bots, needle: str) -> list[dict[str, Any]]:
    return [
        c.params
        for c in bots.slack.fake.api("chat.postMessage")
        if UPDATED in c.params.get("text", "") and needle in c.params.get("text", "")
    ]


def teams_updates(bots: Bots, needle: str) -> list[str]:
    return [c.text for c in bots.teams.fake.posts() if UPDATED in c.text and needle in c.text]


async def admin(bots: Bots, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{bots.sandbox.url}/_sandbox/{path}", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


def other_status(sandbox: SandboxServer) -> str:
    ticket = sandbox.state.ticket(OPEN_TICKET_ID)
    current = ticket["status"]["id"]
    return next(
        s["name"]
        for s in sandbox.state.statuses_for(ticket["board"]["id"])
        if s["id"] != current and not s["inactive"] and not s["closedStatus"]
    )


async def settled(bots: Bots) -> None:
    """Every delivery answered and handled, every entry posted."""
    await bots.sandbox.context.callbacks.drain()
    await bots.runtime.twoway.run_due_once()
    await bots.runtime.services.events.drain()


def entry_of(bots: Bots, index: int = 0) -> tuple[str, str, str]:
    """(url, signing key, key_url) of a registered callback, as ConnectWise holds them."""
    hub = bots.sandbox.context.callbacks
    entry = list(hub.entries.values())[index]
    return entry["url"], hub.keys[hub.key_ids[entry["id"]]], hub.key_url(entry["id"])


def body_for(key_url: str, ticket_id: int = OPEN_TICKET_ID, message: str = "m-1") -> bytes:
    return json.dumps(
        {
            "MessageId": message,
            "CompanyId": "psabot",
            "Action": "updated",
            "Type": "ticket",
            "ID": ticket_id,
            "Entity": json.dumps({"id": ticket_id, "summary": "forged summary"}),
            "Metadata": {"key_url": key_url},
        }
    ).encode()


async def deliver(url: str, raw: bytes, sig: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if sig is not None:
        headers[SIGNATURE_HEADER] = sig
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=raw, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def queued(bots: Bots) -> int:
    async with bots.runtime.store.unit() as uow:
        rows = await uow.session.execute(text("SELECT count(*) FROM callback_deliveries"))
        return int(rows.scalar_one())


# -- the acceptance tests --------------------------------------------------------------------


async def test_status_and_note_from_connectwise_reach_the_slack_and_teams_threads_once(
    bots: Bots,
) -> None:
    await connect_slack(bots)
    await connect_teams(bots)
    hub = bots.sandbox.context.callbacks
    assert [e["level"] for e in hub.entries.values()] == ["owner", "owner"]
    assert all(e["url"].startswith(bots.url + "/cw/callbacks/") for e in hub.entries.values())
    before = bots.sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"]
    after = other_status(bots.sandbox)

    await admin(bots, f"tickets/{OPEN_TICKET_ID}/status", {"status": after, "member": "msmith"})
    moved = f"from **{before}** to **{after}**"
    await eventually(lambda: bool(slack_updates(bots, after) and teams_updates(bots, after)))
    await settled(bots)
    (slack,) = slack_updates(bots, after)
    assert f"from *{before}* to *{after}*" in slack["text"], (moved, slack["text"])
    async with bots.runtime.store.unit() as uow:
        ref = await uow.refs.get(await account_id(bots.runtime, "slack"), "C1")
    assert ref is not None and ref.history_thread_id  # the post-history thread of the link
    assert slack["channel"] == "C1" and slack["thread_ts"] == ref.history_thread_id
    (teams,) = teams_updates(bots, after)
    assert before in teams and after in teams
    (call,) = [c for c in bots.teams.fake.posts() if UPDATED in c.text]
    assert call.conversation_id == teams_e2e.THREAD  # into the linked thread

    await admin(
        bots,
        f"tickets/{OPEN_TICKET_ID}/notes",
        {"text": "Customer confirms printing works", "member": "msmith"},
    )
    await eventually(
        lambda: bool(
            slack_updates(bots, "printing works") and teams_updates(bots, "printing works")
        )
    )
    await settled(bots)
    (note,) = slack_updates(bots, "printing works")
    assert "Marcus Smith added a discussion note" in note["text"]
    assert note["thread_ts"] == slack["thread_ts"]
    assert len(teams_updates(bots, "printing works")) == 1
    assert len(slack_updates(bots, after)) == 1 and len(teams_updates(bots, after)) == 1

    # an internal note: shown in the MSP's own Slack channel, withheld from the Teams channel
    # the probe calls shared; then the Slack link is marked external and it is withheld there
    await admin(
        bots,
        f"tickets/{OPEN_TICKET_ID}/notes",
        {"text": "Root cause: expired toner contract", "member": "msmith", "internal": True},
    )
    await eventually(lambda: bool(slack_updates(bots, "expired toner")))
    await settled(bots)
    assert "an internal note" in slack_updates(bots, "expired toner")[0]["text"]
    assert teams_updates(bots, "expired toner") == []
    assert not any("expired toner" in c.text for c in bots.teams.fake.posts())
    assert bots.teams_probe.asked and bots.slack_probe.asked

    await bots.slack.slack.command("updates external", user=slack_e2e.ADMIN)
    await bots.slack.fake.wait_hook(lambda h: "will not be posted here" in json.dumps(h.body))
    await admin(
        bots,
        f"tickets/{OPEN_TICKET_ID}/notes",
        {"text": "Second internal: vendor RMA 5521", "member": "msmith", "internal": True},
    )
    await admin(
        bots,
        f"tickets/{OPEN_TICKET_ID}/notes",
        {"text": "Public: part ordered", "member": "msmith"},
    )
    await eventually(lambda: bool(slack_updates(bots, "part ordered")))
    await settled(bots)
    everything = bots.slack.fake.everything_sent() + bots.teams.fake.everything_sent()
    assert "RMA 5521" not in everything
    assert len(teams_updates(bots, "part ordered")) == 1


async def test_psabot_own_note_and_status_change_are_not_echoed(bots: Bots) -> None:
    await connect_slack(bots)
    target = other_status(bots.sandbox)
    await bots.slack.slack.command("note Replaced the fuser unit", user=slack_e2e.TECH)
    await bots.slack.fake.wait_call(
        "chat.postMessage", lambda c: "✅" in c["text"] and "fuser unit" in c["text"]
    )
    await bots.slack.slack.command(f"status {target}", user=slack_e2e.TECH)
    await bots.slack.fake.wait_call(
        "chat.postMessage", lambda c: "✅" in c["text"] and "changed the status" in c["text"]
    )
    await bots.sandbox.context.callbacks.drain()
    deliveries = bots.sandbox.context.callbacks.deliveries
    assert len(deliveries) >= 2 and all(d.status == 204 for d in deliveries)
    await settled(bots)
    await asyncio.sleep(0.5)  # a reconcile pass or two
    await settled(bots)
    assert slack_updates(bots, "") == []
    # a person's change right after still comes through
    await admin(bots, f"tickets/{OPEN_TICKET_ID}/notes", {"text": "Thanks!", "member": "pnguyen"})
    await eventually(lambda: bool(slack_updates(bots, "Thanks!")))
    assert "fuser" not in slack_updates(bots, "Thanks!")[0]["text"]


async def test_forged_unsigned_replayed_and_unknown_callbacks_are_refused(bots: Bots) -> None:
    await connect_slack(bots)
    url, key, key_url = entry_of(bots)
    raw = body_for(key_url)
    start = await queued(bots)

    assert (await deliver(url, raw, None))[0] == 401  # unsigned
    assert (await deliver(url, raw, signature(raw, "not-the-key")))[0] == 401  # forged
    tampered = raw.replace(b"m-1", b"m-2")
    assert (await deliver(url, tampered, signature(raw, key)))[0] == 401  # body changed
    assert (await deliver(url, b"{not json", signature(b"{not json", key)))[0] == 400
    big = b"{" + b" " * (70 * 1024) + b"}"
    assert (await deliver(url, big, signature(big, key)))[0] == 413
    assert await queued(bots) == start

    assert (await deliver(url, raw, signature(raw, key)))[0] == 204  # genuine: queued
    assert await queued(bots) == start + 1
    await settled(bots)  # the ticket is re-read: the body's Entity is never believed
    assert "forged summary" not in bots.slack.fake.everything_sent()
    assert slack_updates(bots, "") == []  # and nothing changed, so nothing is posted
    assert (await deliver(url, raw, signature(raw, key)))[0] == 403  # replayed
    assert await queued(bots) == start + 1

    wrong = url.rsplit("/", 1)[0] + "/" + "x" * 43
    unknown = await deliver(wrong, raw, signature(raw, key))
    assert unknown[0] == 404

    # disconnecting removes the callback in ConnectWise, and its address answers like any
    # unknown one
    slack_account = await account_id(bots.runtime, "slack")
    assert await Connections(bots.runtime.services).disconnect(slack_account)
    assert bots.sandbox.context.callbacks.entries == {}
    fresh = body_for(key_url, message="m-3")
    assert await deliver(url, fresh, signature(fresh, key)) == unknown
    assert await queued(bots) == start + 1
    counted = bots.runtime.metrics.value
    assert counted("psabot_callbacks_total", status="401") == 3
    assert counted("psabot_callbacks_total", status="404") == 2


async def test_a_key_url_on_another_host_is_never_fetched(bots: Bots) -> None:
    hits: list[str] = []

    async def key(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.json_response({"signing_key": "attacker-key"})

    other = web.Application()
    other.router.add_get("/{tail:.*}", key)
    runner = web.AppRunner(other, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await connect_slack(bots)
        url, _, real_key_url = entry_of(bots)
        for key_url in (
            f"http://127.0.0.1:{port}/v2025_1/system/callbackkey/index.rails?id=x",
            f"http://localhost:{bots.sandbox.host_port.split(':')[1]}/v2025_1/system/k",
            "https://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?id=1",
            "file:///etc/passwd",
        ):
            raw = body_for(key_url, message=key_url)
            status, _ = await deliver(url, raw, signature(raw, "attacker-key"))
            assert status == 403, key_url
        assert hits == []
        assert await queued(bots) == 0
        raw = body_for(real_key_url, message="genuine")
        assert bots.runtime.twoway.keys.fetches == 0
        assert (await deliver(url, raw, signature(raw, entry_of(bots)[1])))[0] == 204
        assert bots.runtime.twoway.keys.fetches == 1  # then cached
        raw2 = body_for(real_key_url, message="genuine-2")
        assert (await deliver(url, raw2, signature(raw2, entry_of(bots)[1])))[0] == 204
        assert bots.runtime.twoway.keys.fetches == 1
    finally:
        await runner.cleanup()


async def test_a_change_missed_while_psabot_was_down_is_caught_by_the_reconcile(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    slack_fake: FakeSlack,
    teams_fake: FakeConnector,
) -> None:
    args = (db_url, encryption_key, tmp_path, sandbox, slack_fake, teams_fake)
    async with serving(*args) as bots:
        await connect_slack(bots)
    target = other_status(sandbox)
    # psabot is down: ConnectWise's delivery finds nobody listening
    await admin(bots, f"tickets/{OPEN_TICKET_ID}/status", {"status": target, "member": "msmith"})
    await sandbox.context.callbacks.drain()
    assert sandbox.context.callbacks.deliveries[-1].status is None
    async with serving(*args) as again:
        # a new public address (another port): the callback is registered anew at start
        await eventually(
            lambda: any(
                e["url"].startswith(again.url) for e in sandbox.context.callbacks.entries.values()
            )
        )
        assert len(sandbox.context.callbacks.entries) == 1
        await eventually(lambda: bool(slack_updates(again, target)), timeout=15)
        await asyncio.sleep(0.7)  # more reconcile passes: still once
        await again.runtime.services.events.drain()
        assert len(slack_updates(again, target)) == 1


async def test_rotating_the_callback_address_kills_the_old_one(bots: Bots) -> None:
    await connect_slack(bots)
    old_url = entry_of(bots)[0]
    await bots.slack.slack.command("updates rotate", user=slack_e2e.TECH)
    await bots.slack.fake.wait_hook(lambda h: "owner" in json.dumps(h.body).lower())
    assert entry_of(bots)[0] == old_url  # only owners rotate
    await bots.slack.slack.command("updates rotate", user=slack_e2e.ADMIN)
    await bots.slack.fake.wait_hook(lambda h: "new secret address" in json.dumps(h.body))
    assert len(bots.sandbox.context.callbacks.entries) == 1
    new_url, new_key, new_key_url = entry_of(bots)
    assert new_url != old_url and new_url.startswith(bots.url + "/cw/callbacks/")
    raw = body_for(new_key_url, message="after-rotation")
    assert (await deliver(old_url, raw, signature(raw, new_key)))[0] == 404
    assert (await deliver(new_url, raw, signature(raw, new_key)))[0] == 204
    await bots.slack.slack.command("updates", user=slack_e2e.TECH)
    shown = await bots.slack.fake.wait_hook(lambda h: "Owner level" in json.dumps(h.body))
    assert "token" not in json.dumps(shown.body).lower()
    assert new_url.rsplit("/", 1)[1] not in bots.slack.fake.everything_sent()


async def test_slacks_own_probe_keeps_internal_notes_out_of_a_slack_connect_channel(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    slack_fake: FakeSlack,
    teams_fake: FakeConnector,
) -> None:
    slack_fake.ext_shared.add("C2")  # a Slack Connect channel, linked to the same ticket
    args = (db_url, encryption_key, tmp_path, sandbox, slack_fake, teams_fake)
    async with serving(*args, doubles=False) as bots:
        await connect_slack(bots)
        await bots.slack.slack.command(f"link {OPEN_TICKET_ID}", user=slack_e2e.TECH, channel="C2")
        await bots.slack.fake.wait_call(
            "chat.postMessage", lambda c: c["channel"] == "C2" and "ticket linked" in c["text"]
        )
        for text, internal in (("Internal: license key rotated", True), ("Public: fixed", False)):
            await admin(
                bots,
                f"tickets/{OPEN_TICKET_ID}/notes",
                {"text": text, "member": "msmith", "internal": internal},
            )
        await eventually(lambda: len(slack_updates(bots, "Public: fixed")) == 2)
        await settled(bots)
        internal = slack_updates(bots, "license key rotated")
        assert [c["channel"] for c in internal] == ["C1"]
        assert {c["channel"] for c in slack_updates(bots, "Public: fixed")} == {"C1", "C2"}
