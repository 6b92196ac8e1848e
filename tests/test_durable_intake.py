"""Nothing acknowledged is lost: `kill -9` mid-burst, two processes with one killed, a database
outage, and the outcome still reaches its author.

`psabot serve` runs as its own process against a fake Slack whose users.info takes a second (so
every note is acked long before it could be posted) and the ConnectWise sandbox. The process is
killed at random instants (seeded by PSABOT_CAMPAIGN_SEED, reported); the next one must post
every acked note exactly once and tell its author. The fast variants run by default; the long
campaigns (`slow`) with PSABOT_SLOW_TESTS=1.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bot_process import SIGNING_SECRET, TEAM, BotProcess, bot_env, seed_workspace
from campaign import (
    SEED,
    Sent,
    acked,
    check,
    on_ticket,
    report,
    send_note,
    served,
    tally,
    wait_settled,
)
from fake_slack import FakeSlack, SlackSender
from pg_cluster import PgCluster

from bot.settings import Settings
from psa.connectwise.sandbox import SandboxServer

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


def new_notes(label: str, count: int, rng: random.Random) -> list[Sent]:
    run = uuid.uuid4().hex[:6]
    return [Sent(f"{label} {run} note {i:04d}", rng.choice(list(USERS))) for i in range(count)]


async def warmed(bot: BotProcess, sender: SlackSender) -> None:
    """Start the process and answer one request, so a burst's first acks are not a cold
    start's (on a loaded machine that alone can outlast the kill instant)."""
    await bot.start()
    await sender.command("help", user=next(iter(USERS)))


@dataclass
class Kill:
    """One `kill -9`: when (seconds after its burst began) and what was in flight then."""

    at: float
    acked: int = 0
    in_flight: int = 0  # acked and not yet on the ticket

    def to_json(self) -> dict[str, Any]:
        return {"at_s": round(self.at, 3), "acked": self.acked, "in_flight": self.in_flight}


async def kill_when(bot: BotProcess, kill: Kill, notes: list[Sent], sandbox: SandboxServer) -> None:
    """`kill -9` at the drawn instant of a burst, or at the first ack after it if none came
    by then (a loaded machine may ack late); `kill.at` becomes the instant it happened."""
    began = time.monotonic()
    await asyncio.sleep(kill.at)
    while not acked(notes) and time.monotonic() - began < 20:
        await asyncio.sleep(0.01)
    kill.at = time.monotonic() - began
    kill.acked = len(acked(notes))
    kill.in_flight = sum(on_ticket(sandbox, n) == 0 for n in acked(notes))
    bot.kill()


async def paced(sender: SlackSender, note: Sent, at: float) -> None:
    await asyncio.sleep(at)
    await send_note(sender, note)


def logs_of(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*-*.log"))


async def burst_with_kills(
    db_url: str,
    key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    fake: FakeSlack,
    *,
    per_round: int,
    kills: int,
    seed: int,
    spread: float,
    window: tuple[float, float],
) -> tuple[list[Sent], list[Kill]]:
    """`kills` bursts of `per_round` notes, each sent over `spread` seconds, the process killed
    at a random instant of `window` (seconds after the burst began) and started again; the
    last process lives until all is done."""
    await seed_workspace(db_url, key, sandbox, USERS)
    bot = BotProcess(bot_env(db_url, key, tmp_path / "data", sandbox, fake.api_url), tmp_path)
    rng = random.Random(seed)
    sent = new_notes("Burst", per_round * kills, rng)
    instants: list[Kill] = []
    sender = SlackSender(bot.url, SIGNING_SECRET, fake, team=TEAM)
    await warmed(bot, sender)
    try:
        for round_no in range(kills):
            batch = sent[round_no * per_round : (round_no + 1) * per_round]
            sending = [asyncio.create_task(paced(sender, n, rng.uniform(0, spread))) for n in batch]
            kill = Kill(at=rng.uniform(*window))
            await kill_when(bot, kill, batch, sandbox)
            instants.append(kill)
            await asyncio.gather(*sending)
            await warmed(bot, sender)
        await wait_settled(sandbox, fake, sent, timeout=60 + 0.1 * len(sent))
    finally:
        bot.stop()
    return sent, instants


async def kill_campaign(
    name: str,
    db_url: str,
    key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    fake: FakeSlack,
    **shape: Any,
) -> None:
    sent, instants = await burst_with_kills(db_url, key, tmp_path, sandbox, fake, **shape)
    report(
        name,
        database=db_url.split("+")[0],
        seed=shape["seed"],
        instants=[k.to_json() for k in instants],
        **tally(sent, sandbox, fake),
    )
    assert sum(k.in_flight for k in instants) > 0, "no kill caught a note in flight"
    check(sent, sandbox, fake, logs_of(tmp_path))


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_kill_9_mid_burst_loses_and_doubles_nothing(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    await kill_campaign(
        "kill -9 (fast)",
        db_url,
        encryption_key,
        tmp_path,
        cw_sandbox,
        slow_slack,
        per_round=16,
        kills=1,
        seed=SEED,
        spread=0.6,
        window=(0.3, 0.9),  # mid-burst
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_kill_9_with_200_notes_in_flight_at_5_instants(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    """The full campaign: 5 bursts of 200 notes, each cut by `kill -9` at a random instant
    while the whole burst is in flight: sent within 1.5 s, acked, and none posted yet (the
    first users.info of each process takes 3 s; every note waits for its author's)."""
    slow_slack.delay["users.info"] = 3.0
    await kill_campaign(
        "kill -9",
        db_url,
        encryption_key,
        tmp_path,
        cw_sandbox,
        slow_slack,
        per_round=200,
        kills=5,
        seed=SEED,
        spread=1.5,
        window=(1.7, 2.9),
    )


# -- two processes on one PostgreSQL, one killed -------------------------------------------


async def two_processes_one_killed(
    db_url: str,
    key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    fake: FakeSlack,
    *,
    notes: int,
    spread: float,
    seed: int,
) -> None:
    """Notes go to two `psabot serve` processes on the same database in turn; one is killed at
    a random instant and stays dead: the other finishes its stored writes (once their lease
    runs out) as well as its own, and nothing is posted twice."""
    await seed_workspace(db_url, key, sandbox, USERS)
    bots = [
        BotProcess(
            bot_env(db_url, key, tmp_path / f"data-{name}", sandbox, fake.api_url),
            tmp_path,
            name=name,
        )
        for name in ("left", "right")
    ]
    rng = random.Random(seed)
    sent = new_notes("Pair", notes, rng)
    senders = [SlackSender(b.url, SIGNING_SECRET, fake, team=TEAM) for b in bots]
    await asyncio.gather(*(warmed(b, s) for b, s in zip(bots, senders, strict=True)))
    victim = rng.randrange(2)
    try:
        sending = [
            asyncio.create_task(paced(senders[i % 2], n, rng.uniform(0, spread)))
            for i, n in enumerate(sent)
        ]
        kill = Kill(at=rng.uniform(0.4 * spread, 0.8 * spread))
        await kill_when(bots[victim], kill, sent[victim::2], sandbox)
        await asyncio.gather(*sending)
        await wait_settled(sandbox, fake, sent, timeout=60 + 0.1 * notes)
    finally:
        for bot in bots:
            bot.stop()
    counts = tally(sent, sandbox, fake)
    report(
        "two processes, one killed" + ("" if notes > 100 else " (fast)"),
        database="postgresql",
        seed=seed,
        killed=bots[victim].name,
        instants=[kill.to_json()],
        **counts,
    )
    assert kill.in_flight > 0, "the kill caught no note of the killed process in flight"
    # the survivor answered every note sent to it after the kill
    survivor = sent[1 - victim :: 2]
    assert all(n.acked for n in survivor), "the surviving process left notes unanswered"
    check(sent, sandbox, fake, logs_of(tmp_path))


async def test_two_processes_on_postgresql_one_killed(
    pg_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    await two_processes_one_killed(
        pg_url, encryption_key, tmp_path, cw_sandbox, slow_slack, notes=40, spread=2.0, seed=SEED
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_two_processes_on_postgresql_one_killed_long(
    pg_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    await two_processes_one_killed(
        pg_url, encryption_key, tmp_path, cw_sandbox, slow_slack, notes=400, spread=4.0, seed=SEED
    )


# -- a database outage mid-burst, without restarting the bot -------------------------------


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def refused_with_text(body: str, note: Sent) -> bool:
    return "nothing was sent" in body and note.text in body


async def outage_campaign(
    pg_cluster: PgCluster,
    key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    fake: FakeSlack,
    *,
    notes: int,
    outages: list[float],
    seed: int,
) -> None:
    """PostgreSQL stops (immediate shutdown) while notes arrive and comes back, `len(outages)`
    times: every acked note is posted exactly once with no restart of the bot; a note that
    arrived while the database was away is refused at the ack, with its text given back;
    nobody is told a posted note failed."""
    fake.delay["users.info"] = 0.3
    await seed_workspace(pg_cluster.url, key, sandbox, USERS)
    settings = Settings(
        PSABOT_DATABASE_URL=pg_cluster.url,
        PSABOT_ENCRYPTION_KEYS=key,
        PSABOT_DATA_DIR=str(tmp_path / "data"),
        PSABOT_CW_ALLOWED_HOSTS=sandbox.host_port,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_API_URL=fake.api_url,
    )
    rng = random.Random(seed)
    sent = new_notes("Outage", notes, rng)
    restarts: list[dict[str, float]] = []
    async with served(settings) as (url, _):
        sender = SlackSender(url, SIGNING_SECRET, fake, team=TEAM)
        spread = sum(outages) + 2.0 * len(outages) + 1.0
        sending = [
            asyncio.create_task(paced(sender, n, i * spread / notes)) for i, n in enumerate(sent)
        ]
        began = time.monotonic()
        for outage in outages:
            await asyncio.sleep(0.7 + rng.uniform(0, 0.6))
            restarts.append({"stopped_at_s": round(time.monotonic() - began, 2), "down_s": outage})
            await asyncio.to_thread(pg_cluster.stop)
            await asyncio.sleep(outage)
            await asyncio.to_thread(pg_cluster.start)
        await asyncio.gather(*sending)
        await wait_settled(sandbox, fake, sent, timeout=60 + 0.1 * notes)
    good, refused = acked(sent), [n for n in sent if n.refused]
    misreported = [
        n.text
        for n in good
        for hook in fake.hooks
        if n.text in json.dumps(hook.body) and "NOT" in json.dumps(hook.body)
    ]
    report(
        "PostgreSQL restarted mid-run" + ("" if notes > 100 else " (fast)"),
        database="postgresql (own cluster)",
        seed=seed,
        restarts=restarts,
        misreported=len(misreported),
        **tally(sent, sandbox, fake),
    )
    assert refused, "some notes should have arrived while the database was away"
    assert len(good) >= notes // 4
    for note in refused:
        assert refused_with_text(note.body, note), note.body
        assert on_ticket(sandbox, note) == 0
    check(sent, sandbox, fake, "")
    assert not misreported, f"posted notes reported as failed: {misreported}"


async def test_database_outage_mid_burst(
    pg_cluster: PgCluster,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    await outage_campaign(
        pg_cluster,
        encryption_key,
        tmp_path,
        cw_sandbox,
        slow_slack,
        notes=24,
        outages=[3.0],
        seed=SEED,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_database_restarted_three_times_mid_run(
    pg_cluster: PgCluster,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    await outage_campaign(
        pg_cluster,
        encryption_key,
        tmp_path,
        cw_sandbox,
        slow_slack,
        notes=300,
        outages=[10.0, 2.0, 5.0],
        seed=SEED,
    )
