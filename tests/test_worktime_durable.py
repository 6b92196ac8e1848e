"""`kill -9` while time entries are being logged: every acked `/ticket time` is logged exactly
once, with its member, duration and billing option, and its author is told.

The harness of tests/test_durable_intake.py: `psabot serve` as its own process, a fake Slack
whose users.info takes a second (every command is acked long before it is posted), the
sandbox, and a kill at a random instant mid-burst.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from bot_process import CHANNEL, SIGNING_SECRET, TEAM, BotProcess, seed_workspace
from fake_slack import FakeSlack, SlackSender
from test_durable_intake import USERS
from test_durable_intake import slow_slack as slow_slack

from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer

FLAGS = {"--billable": "Billable", "--no-charge": "NoCharge", "--no-bill": "DoNotBill"}


@dataclass
class Logged:
    notes: str
    user: str
    minutes: int
    flag: str
    acked: bool = False
    refused: bool = False


def on_ticket(sandbox: SandboxServer, entry: Logged) -> list[dict[str, object]]:
    return [
        e
        for e in sandbox.state.time_entries_for(OPEN_TICKET_ID)
        if str(e["notes"]).startswith(entry.notes + "\n")
    ]


def told(fake: FakeSlack, entry: Logged) -> bool:
    for hook in fake.hooks:
        text = json.dumps(hook.body, ensure_ascii=False)
        if entry.notes in text and "Logged" in text:
            return True
    for call in fake.api("chat.postEphemeral"):
        text = json.dumps(call.params, ensure_ascii=False)
        if call.get("user") == entry.user and entry.notes in text and "Logged" in text:
            return True
    return False


async def send(sender: SlackSender, entry: Logged) -> None:
    line = f"time {entry.minutes}m {entry.flag} {entry.notes}"
    try:
        status, body, _ = await sender.command(line, user=entry.user, channel=CHANNEL)
    except (aiohttp.ClientError, OSError):
        return  # the process died before it answered: not acked
    entry.acked = status == 200
    entry.refused = "couldn't record" in body


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_kill_9_mid_time_burst_logs_each_entry_once(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    slow_slack: FakeSlack,
) -> None:
    await seed_workspace(db_url, encryption_key, cw_sandbox, USERS)
    bot = BotProcess(
        {
            "PSABOT_DATABASE_URL": db_url,
            "PSABOT_ENCRYPTION_KEYS": encryption_key,
            "PSABOT_DATA_DIR": str(tmp_path / "data"),
            "PSABOT_CW_ALLOWED_HOSTS": cw_sandbox.host_port,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_API_URL": slow_slack.api_url,
            "PSABOT_LEASE_SECONDS": "1.5",
            "PSABOT_SETTLE_SECONDS": "0.5",
        },
        tmp_path,
    )
    rng = random.Random(5)
    run = uuid.uuid4().hex[:6]
    sent = [
        Logged(
            f"Time {run} entry {i:02d}",
            rng.choice(list(USERS)),
            rng.choice((15, 45, 90, 120)),
            rng.choice(list(FLAGS)),
        )
        for i in range(12)
    ]
    await bot.start()
    sender = SlackSender(bot.url, SIGNING_SECRET, slow_slack, team=TEAM)
    try:

        async def paced(entry: Logged, at: float) -> None:
            await asyncio.sleep(at)
            await send(sender, entry)

        sending = [asyncio.create_task(paced(e, rng.uniform(0, 0.6))) for e in sent]
        await asyncio.sleep(rng.uniform(0.5, 1.0))  # a random instant mid-burst
        bot.kill()
        await asyncio.gather(*sending)
        await bot.start()
        acked = [e for e in sent if e.acked and not e.refused]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(on_ticket(cw_sandbox, e) and told(slow_slack, e) for e in acked):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything that would double has had its chance
    finally:
        bot.stop()
    log = bot.log()
    assert acked, "the burst should have acked some entries before the kill"
    lost = [e.notes for e in acked if not on_ticket(cw_sandbox, e)]
    doubled = [e.notes for e in sent if len(on_ticket(cw_sandbox, e)) > 1]
    untold = [e.notes for e in acked if not told(slow_slack, e)]
    assert not lost, f"acked but never logged: {lost}\n{log}"
    assert not doubled, f"logged twice: {doubled}"
    assert not untold, f"logged but the author never heard: {untold}\n{log}"
    for entry in acked:
        [logged] = on_ticket(cw_sandbox, entry)
        assert logged["member"]["identifier"] == "jdoe"  # type: ignore[index]
        assert logged["actualHours"] == round(entry.minutes / 60, 2)
        assert logged["billableOption"] == FLAGS[entry.flag]
