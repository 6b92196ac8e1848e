"""Nothing acknowledged is lost: `kill -9` mid-burst, and the outcome still reaches its author.

`psabot serve` runs as its own process against a fake Slack whose users.info takes a second (so
every note is acked long before it could be posted) and the ConnectWise sandbox. The process is
killed at random instants; the next one must post every acked note exactly once and tell its
author. The fast variant runs by default; PSABOT_SLOW_TESTS=1 runs the full campaign.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from bot_process import CHANNEL, SIGNING_SECRET, TEAM, BotProcess, seed_workspace
from fake_slack import FakeSlack, SlackSender
from pg_cluster import PgCluster

from bot.app import create_app
from bot.core.intake import IntakeTuning
from bot.runtime import OutboxTuning
from bot.settings import Settings
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer

SLOW = os.environ.get("PSABOT_SLOW_TESTS") == "1"
USERS = {f"U{n:03d}": f"Tech {n}" for n in range(1, 6)}


@pytest.fixture
async def slow_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(delay={"users.info": 1.0})
    for user_id, name in USERS.items():
        fake.add_user(user_id, name, email=f"{user_id.lower()}@example.com")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@dataclass
class Sent:
    text: str
    user: str
    acked: bool = False
    refused: bool = False  # acked with "nothing was recorded"


async def send_note(sender: SlackSender, note: Sent) -> None:
    try:
        status, body, _ = await sender.command(f"note {note.text}", user=note.user, channel=CHANNEL)
    except (aiohttp.ClientError, OSError):
        return  # the process died before it answered: not acked
    note.acked = status == 200
    note.refused = "couldn't record" in body


def told(fake: FakeSlack, note: Sent) -> bool:
    """The author heard the outcome: a response_url post or an ephemeral naming their note."""
    for hook in fake.hooks:
        text = json.dumps(hook.body, ensure_ascii=False)
        if note.text in text and "Note added" in text:
            return True
    for call in fake.api("chat.postEphemeral"):
        text = json.dumps(call.params, ensure_ascii=False)
        if call.get("user") == note.user and note.text in text and "Note added" in text:
            return True
    return False


def on_ticket(sandbox: SandboxServer, note: Sent) -> int:
    return sum(n["text"].startswith(note.text) for n in sandbox.state.notes_for(OPEN_TICKET_ID))


async def burst_with_kills(
    db_url: str,
    key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    fake: FakeSlack,
    *,
    notes: int,
    kills: int,
    seed: int,
) -> list[Sent]:
    await seed_workspace(db_url, key, sandbox, USERS)
    bot = BotProcess(
        {
            "PSABOT_DATABASE_URL": db_url,
            "PSABOT_ENCRYPTION_KEYS": key,
            "PSABOT_DATA_DIR": str(tmp_path / "data"),
            "PSABOT_CW_ALLOWED_HOSTS": sandbox.host_port,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_API_URL": fake.api_url,
            "PSABOT_LEASE_SECONDS": "1.5",
            "PSABOT_SETTLE_SECONDS": "0.5",
        },
        tmp_path,
    )
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    sent = [Sent(f"Burst {run} note {i:03d}", rng.choice(list(USERS))) for i in range(notes)]
    await bot.start()
    sender = SlackSender(bot.url, SIGNING_SECRET, fake, team=TEAM)
    try:
        per_round = -(-notes // kills)
        for round_no in range(kills):
            batch = sent[round_no * per_round : (round_no + 1) * per_round]

            async def paced(note: Sent, at: float) -> None:
                await asyncio.sleep(at)
                await send_note(sender, note)

            spread = 0.6
            sending = [asyncio.create_task(paced(n, rng.uniform(0, spread))) for n in batch]
            await asyncio.sleep(rng.uniform(0.3, spread + 0.5))  # a random instant mid-burst
            bot.kill()
            await asyncio.gather(*sending)
            await bot.start()
        # The last process lives: every acked note must reach its ticket and its author.
        acked = [n for n in sent if n.acked and not n.refused]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(on_ticket(sandbox, n) >= 1 and told(fake, n) for n in acked):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything that would double has had its chance
    finally:
        bot.stop()
    return sent


def check(sent: list[Sent], sandbox: SandboxServer, fake: FakeSlack, log: str) -> None:
    acked = [n for n in sent if n.acked and not n.refused]
    assert acked, "the burst should have acked some notes before the kill"
    lost = [n.text for n in acked if on_ticket(sandbox, n) == 0]
    doubled = [n.text for n in sent if on_ticket(sandbox, n) > 1]
    untold = [n.text for n in acked if not told(fake, n)]
    assert not lost, f"acked but never posted: {lost}\n{log}"
    assert not doubled, f"posted twice: {doubled}"
    assert not untold, f"posted but the author never heard: {untold}\n{log}"


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_kill_9_mid_burst_loses_and_doubles_nothing(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    notes, kills = (50, 5) if SLOW else (16, 1)
    sent = await burst_with_kills(
        db_url, encryption_key, tmp_path, cw_sandbox, slow_slack, notes=notes, kills=kills, seed=7
    )
    log = "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("bot-*.log"))
    check(sent, cw_sandbox, slow_slack, log)


# -- a database outage mid-burst, without restarting the bot -------------------------------


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[str]:
    tuning = OutboxTuning(
        lease=timedelta(seconds=2),
        retry_window=timedelta(seconds=30),
        settle_window=timedelta(seconds=0.3),
        base_delay=0.05,
        max_delay=0.5,
        poll_interval=0.1,
    )
    runner = web.AppRunner(
        create_app(
            settings,
            tuning=tuning,
            intake_tuning=IntakeTuning(lease=timedelta(seconds=2), poll_interval=0.1),
        ),
        access_log=None,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def refused_with_text(body: str, note: Sent) -> bool:
    return "nothing was sent" in body and note.text in body


async def test_database_outage_mid_burst(
    pg_cluster: PgCluster,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    """PostgreSQL stops (immediate shutdown) while notes arrive and comes back: every acked
    note is posted exactly once with no restart of the bot; a note that arrived while the
    database was away is refused at the ack, with its text given back; nobody is told a
    posted note failed."""
    outage = 10.0 if SLOW else 3.0
    notes = 60 if SLOW else 24
    slow_slack.delay["users.info"] = 0.3
    await seed_workspace(pg_cluster.url, encryption_key, cw_sandbox, USERS)
    settings = Settings(
        PSABOT_DATABASE_URL=pg_cluster.url,
        PSABOT_ENCRYPTION_KEYS=encryption_key,
        PSABOT_DATA_DIR=str(tmp_path / "data"),
        PSABOT_CW_ALLOWED_HOSTS=cw_sandbox.host_port,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_API_URL=slow_slack.api_url,
    )
    rng = random.Random(11)
    run = uuid.uuid4().hex[:6]
    sent = [Sent(f"Outage {run} note {i:03d}", rng.choice(list(USERS))) for i in range(notes)]
    bodies: dict[str, str] = {}
    async with served(settings) as url:
        sender = SlackSender(url, SIGNING_SECRET, slow_slack, team=TEAM)

        async def one(note: Sent, at: float) -> None:
            await asyncio.sleep(at)
            status, body, _ = await sender.command(
                f"note {note.text}", user=note.user, channel=CHANNEL
            )
            note.acked = status == 200
            note.refused = "couldn't record" in body
            bodies[note.text] = body

        spread = outage + 2.0
        sending = [asyncio.create_task(one(n, i * spread / notes)) for i, n in enumerate(sent)]
        await asyncio.sleep(0.7)
        await asyncio.to_thread(pg_cluster.stop)
        await asyncio.sleep(outage)
        await asyncio.to_thread(pg_cluster.start)
        await asyncio.gather(*sending)
        acked = [n for n in sent if n.acked and not n.refused]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(on_ticket(cw_sandbox, n) >= 1 and told(slow_slack, n) for n in acked):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
    refused = [n for n in sent if n.refused]
    assert refused, "some notes should have arrived while the database was away"
    assert len(acked) >= notes // 4
    for note in refused:
        assert refused_with_text(bodies[note.text], note), bodies[note.text]
        assert on_ticket(cw_sandbox, note) == 0
    check(sent, cw_sandbox, slow_slack, "")
    misreported = [
        n.text
        for n in acked
        for hook in slow_slack.hooks
        if n.text in json.dumps(hook.body) and "NOT" in json.dumps(hook.body)
    ]
    assert not misreported, f"posted notes reported as failed: {misreported}"
