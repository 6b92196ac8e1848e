"""A ConnectWise that fails a fifth of its answers: 429 with Retry-After, 500, timeouts,
connections reset before the request is handled, and writes applied then the connection
dropped (accept-then-drop). Notes arrive as signed Slack `/ticket note` requests to the real
app: none is lost, none is posted twice (every footer reference appears once on the ticket),
and every author hears the outcome: added; NOT added, with their text given back; or, when the
last look for the note's reference failed too, that it may not have reached the ticket, with
the text given back. Never a failure reported for a note that is on the ticket.

Fast variant: 100 notes; PSABOT_SLOW_TESTS=1: 1,000 notes. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from bot_process import SIGNING_SECRET, TEAM, seed_workspace
from campaign import (
    CAMPAIGN_INTAKE,
    SEED,
    Sent,
    acked,
    footer_refs,
    on_ticket,
    outcome_told,
    replies_for,
    report,
    send_note,
    served,
)
from fake_slack import FakeSlack, SlackSender

from bot.runtime import OutboxTuning
from bot.settings import Settings
from psa.connectwise.client import RetryPolicy
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.sandbox import SandboxServer
from psa.registry import ProviderRegistry

USERS = {f"U{n:03d}": f"Tech {n}" for n in range(1, 6)}
RATE = 0.04  # each of five kinds: a fifth of all answers faulted
FAULTS = {
    "rate_429": RATE,
    "rate_500": RATE,
    "rate_timeout": RATE,
    "rate_drop": RATE,
    "rate_drop_after_write": RATE,
}
CLIENT_TIMEOUT = 1.0  # the sandbox holds a "timeout" request longer than this
# Short enough that some notes meet several faults in a row and fail (so the failure report is
# exercised), long enough that a timeout plus the settle window fits in it.
OUTBOX = OutboxTuning(
    lease=timedelta(seconds=5),
    retry_window=timedelta(seconds=3),
    settle_window=timedelta(seconds=1.2),  # longer than the client's timeout
    base_delay=0.05,
    max_delay=0.5,
    poll_interval=0.1,
)
ADDED, NOT_ADDED, UNCONFIRMED = "Note added", "NOT added", "may not have reached"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    for user_id, name in USERS.items():
        slack.add_user(user_id, name, email=f"{user_id.lower()}@example.com")
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


def outcome(fake: FakeSlack, note: Sent) -> str | None:
    if outcome_told(fake, note, ADDED):
        return ADDED
    for failed in (NOT_ADDED, UNCONFIRMED):  # always with the text given back
        if outcome_told(fake, note, failed) and outcome_told(fake, note, "isn't lost"):
            return failed
    return None


async def fault_campaign(
    db_url: str,
    key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    fake: FakeSlack,
    *,
    notes: int,
    concurrency: int,
    name: str,
) -> None:
    await seed_workspace(db_url, key, sandbox, USERS)
    settings = Settings(
        PSABOT_DATABASE_URL=db_url,
        PSABOT_ENCRYPTION_KEYS=key,
        PSABOT_DATA_DIR=str(tmp_path / "data"),
        PSABOT_CW_ALLOWED_HOSTS=sandbox.host_port,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_API_URL=fake.api_url,
    )
    registry = ProviderRegistry(
        HostPolicy([sandbox.host_port]),
        timeout=CLIENT_TIMEOUT,
        retry=RetryPolicy(attempts=3, base_delay=0.02, max_delay=0.2, max_retry_after=2.0),
    )
    rng = random.Random(SEED)
    run = uuid.uuid4().hex[:6]
    sent = [Sent(f"Faulted {run} note {i:04d}", rng.choice(list(USERS))) for i in range(notes)]
    sandbox.faults.reseed(SEED)
    sandbox.faults.configure(retry_after="1", hang_seconds=CLIENT_TIMEOUT + 1.5, **FAULTS)
    async with served(
        settings, tuning=OUTBOX, intake_tuning=CAMPAIGN_INTAKE, registry=registry
    ) as (url, _):
        sender = SlackSender(url, SIGNING_SECRET, fake, team=TEAM)
        slots = asyncio.Semaphore(concurrency)

        async def one(note: Sent) -> None:
            async with slots:
                await send_note(sender, note)

        await asyncio.gather(*(one(n) for n in sent))
        deadline = time.monotonic() + 60 + 0.05 * notes
        while time.monotonic() < deadline:
            if all(outcome(fake, n) is not None for n in acked(sent)):
                break
            await asyncio.sleep(0.2)
        sandbox.faults.clear()
        await asyncio.sleep(OUTBOX.settle_window.total_seconds() + 1.0)  # late doubles show
    faults = Counter(r.fault for r in sandbox.requests.records if r.fault)
    outcomes = {n.text: outcome(fake, n) for n in acked(sent)}
    refs = footer_refs(sandbox)
    counts = report(
        name,
        database=db_url.split("+")[0],
        seed=SEED,
        sent=len(sent),
        acked=len(acked(sent)),
        cw_requests=len(sandbox.requests),
        faults_injected=sum(faults.values()),
        faults=dict(sorted(faults.items())),
        posted=sum(on_ticket(sandbox, n) == 1 for n in sent),
        doubled=sum(on_ticket(sandbox, n) > 1 for n in sent) + sum(c > 1 for c in refs.values()),
        told_added=sum(o == ADDED for o in outcomes.values()),
        told_not_added=sum(o == NOT_ADDED for o in outcomes.values()),
        # the last look for the note's reference failed too: "may not have reached", text back
        told_unconfirmed=sum(o == UNCONFIRMED for o in outcomes.values()),
        untold=sum(o is None for o in outcomes.values()),
        lost=sum(on_ticket(sandbox, n) == 0 and outcomes[n.text] == ADDED for n in acked(sent))
        + sum(o is None for o in outcomes.values()),
        misreported=sum(on_ticket(sandbox, n) > 0 and outcomes[n.text] == NOT_ADDED for n in sent),
    )
    assert counts["acked"] == notes, "every request is acked (the database is fine)"
    assert counts["faults_injected"] >= 0.1 * counts["cw_requests"], counts
    assert {"429", "500", "timeout", "drop", "drop_after_write"} <= set(faults), faults
    assert counts["doubled"] == 0, [n.text for n in sent if on_ticket(sandbox, n) > 1]
    untold = [n for n in acked(sent) if outcomes[n.text] is None]
    assert counts["untold"] == 0, [(n.text, replies_for(fake, n)) for n in untold]
    assert counts["lost"] == 0
    assert counts["misreported"] == 0
    for note in acked(sent):  # what each author was told matches the ticket
        if outcomes[note.text] != UNCONFIRMED:
            assert (on_ticket(sandbox, note) == 1) == (outcomes[note.text] == ADDED), note.text
    assert counts["told_added"] >= 0.8 * notes  # retries get most notes through


async def test_a_fifth_of_connectwise_answers_faulted(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
) -> None:
    await fault_campaign(
        db_url,
        encryption_key,
        tmp_path,
        cw_sandbox,
        fake,
        notes=100,
        concurrency=20,
        name="20 % of ConnectWise answers faulted (fast)",
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_a_fifth_of_connectwise_answers_faulted_over_1000_notes(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
) -> None:
    await fault_campaign(
        db_url,
        encryption_key,
        tmp_path,
        cw_sandbox,
        fake,
        notes=1000,
        concurrency=25,
        name="20 % of ConnectWise answers faulted",
    )
