"""What the reliability campaigns share: the notes they send, how they check that every acked
note reached its ticket exactly once and its author, and how they report their counts.

Every campaign has a fast variant in the default test run and a long one marked `slow`, run
with PSABOT_SLOW_TESTS=1. Each records its counts with `report`; the counts are printed at the
end of the pytest run (and appended as JSON lines to PSABOT_CAMPAIGN_LOG when it is set), so
docs/reliability.md can quote one full run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from bot_process import CHANNEL
from fake_slack import FakeSlack, SlackSender

from bot.app import RUNTIME, create_app
from bot.core.intake import IntakeTuning
from bot.runtime import OutboxTuning, Runtime
from bot.settings import Settings
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.registry import ProviderRegistry

SLOW = os.environ.get("PSABOT_SLOW_TESTS") == "1"
SEED = int(os.environ.get("PSABOT_CAMPAIGN_SEED", "7"))
REPORT_FILE = os.environ.get("PSABOT_CAMPAIGN_LOG")
RESULTS: list[tuple[str, dict[str, Any]]] = []  # printed by conftest's terminal summary
REF = re.compile(r"\bref ([0-9a-f]{8})\b")


def report(name: str, **counts: Any) -> dict[str, Any]:
    """Record a campaign's counts (and print them, visible with -s or on failure)."""
    RESULTS.append((name, counts))
    line = json.dumps({"campaign": name, **counts}, default=str)
    print(line)
    if REPORT_FILE:
        with open(REPORT_FILE, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    return counts


@dataclass
class Sent:
    text: str
    user: str
    acked: bool = False
    refused: bool = False  # acked with "nothing was recorded"
    body: str = ""


async def send_note(sender: SlackSender, note: Sent, channel: str = CHANNEL) -> None:
    """`/ticket note <text>` as Slack sends it; a process that dies first leaves it unacked."""
    try:
        status, body, _ = await sender.command(f"note {note.text}", user=note.user, channel=channel)
    except (aiohttp.ClientError, OSError):
        return  # the process died before it answered: not acked
    note.acked = status == 200
    note.refused = "couldn't record" in body
    note.body = body


def acked(sent: list[Sent]) -> list[Sent]:
    return [n for n in sent if n.acked and not n.refused]


# Campaign notes are named "<Label> <run> note <nnnn>"; what authors were told and what is on
# a ticket is indexed by that name as it arrives, as a scan of every reply for every note would
# be quadratic and, with a thousand notes, starve the bot sharing this event loop.
NOTE_NAME = re.compile(r"\b[A-Z][a-z]+ [0-9a-f]{6} note \d{4}\b")


@dataclass
class _Heard:
    fake: FakeSlack
    hooks: int = 0
    calls: int = 0
    by_note: dict[str, list[tuple[str | None, str]]] = field(default_factory=dict)

    def refresh(self) -> None:
        hooks, calls = self.fake.hooks, self.fake.calls
        for hook in hooks[self.hooks :]:
            self._add(None, json.dumps(hook.body, ensure_ascii=False))
        for call in calls[self.calls :]:
            if call.method == "chat.postEphemeral":
                self._add(call.get("user"), json.dumps(call.params, ensure_ascii=False))
        self.hooks, self.calls = len(hooks), len(calls)

    def _add(self, user: str | None, text: str) -> None:
        for name in set(NOTE_NAME.findall(text)):
            self.by_note.setdefault(name, []).append((user, text))


_HEARD: dict[int, _Heard] = {}
_TICKETS: dict[tuple[int, int], tuple[SandboxServer, int, Counter[str]]] = {}


def outcome_told(fake: FakeSlack, note: Sent, outcome: str = "Note added") -> bool:
    """The author heard `outcome`: a response_url post, or an ephemeral to them, naming
    their note."""
    heard = _HEARD.get(id(fake))
    if heard is None or heard.fake is not fake:
        heard = _HEARD[id(fake)] = _Heard(fake)
    heard.refresh()
    if NOTE_NAME.fullmatch(note.text):
        replies = heard.by_note.get(note.text, [])
    else:
        replies = [(u, t) for entries in heard.by_note.values() for u, t in entries]
    return any(
        note.text in text and outcome in text and user in (None, note.user)
        for user, text in replies
    )


def replies_for(fake: FakeSlack, note: Sent) -> list[str]:
    """Everything the author of `note` was sent that names it (for failure messages)."""
    outcome_told(fake, note)  # brings the index up to date
    return [text[:400] for _, text in _HEARD[id(fake)].by_note.get(note.text, [])]


def told(fake: FakeSlack, note: Sent) -> bool:
    return outcome_told(fake, note, "Note added")


def on_ticket(sandbox: SandboxServer, note: Sent, ticket: int = OPEN_TICKET_ID) -> int:
    """How many notes on the ticket are this one (its text, then the footer)."""
    key = (id(sandbox), ticket)
    size = len(sandbox.state.notes)
    cached = _TICKETS.get(key)
    if cached is None or cached[0] is not sandbox or cached[1] != size:
        first_lines = Counter(
            str(n["text"]).split("\n", 1)[0] for n in sandbox.state.notes_for(ticket)
        )
        cached = _TICKETS[key] = (sandbox, size, first_lines)
    return cached[2][note.text]


def footer_refs(sandbox: SandboxServer, ticket: int = OPEN_TICKET_ID) -> Counter[str]:
    """How often each footer reference (`ref 7f3a9c12`) appears on the ticket's notes."""
    return Counter(
        ref for n in sandbox.state.notes_for(ticket) for ref in REF.findall(str(n["text"]))
    )


async def wait_settled(
    sandbox: SandboxServer, fake: FakeSlack, sent: list[Sent], timeout: float = 60
) -> None:
    """Until every acked note is on its ticket and its author told (or `timeout`), then a
    second more, so that anything that would double has had its chance."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(on_ticket(sandbox, n) >= 1 and told(fake, n) for n in acked(sent)):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)


def tally(sent: list[Sent], sandbox: SandboxServer, fake: FakeSlack) -> dict[str, int]:
    good = acked(sent)
    return {
        "sent": len(sent),
        "acked": len(good),
        "refused_at_ack": sum(n.refused for n in sent),
        "unanswered": sum(not n.acked for n in sent),
        "posted": sum(on_ticket(sandbox, n) >= 1 for n in sent),
        "doubled": sum(on_ticket(sandbox, n) > 1 for n in sent),
        "lost": sum(on_ticket(sandbox, n) == 0 for n in good),
        "told": sum(told(fake, n) for n in good),
    }


def check(sent: list[Sent], sandbox: SandboxServer, fake: FakeSlack, log: str) -> None:
    """Every acked note on its ticket once, its author told; nothing posted twice."""
    good = acked(sent)
    assert good, "the burst should have acked some notes"
    lost = [n.text for n in good if on_ticket(sandbox, n) == 0]
    doubled = [n.text for n in sent if on_ticket(sandbox, n) > 1]
    untold = [n.text for n in good if not told(fake, n)]
    refs = {ref: count for ref, count in footer_refs(sandbox).items() if count > 1}
    assert not lost, f"acked but never posted: {lost}\n{log}"
    assert not doubled, f"posted twice: {doubled}"
    assert not refs, f"footer references posted twice: {refs}"
    assert not untold, f"posted but the author never heard: {untold}\n{log}"


# The background work of an in-process bot, shortened so a campaign settles within a test.
CAMPAIGN_OUTBOX = OutboxTuning(
    lease=timedelta(seconds=2),
    retry_window=timedelta(seconds=30),
    settle_window=timedelta(seconds=0.3),
    base_delay=0.05,
    max_delay=0.5,
    poll_interval=0.1,
)
CAMPAIGN_INTAKE = IntakeTuning(lease=timedelta(seconds=2), poll_interval=0.1)


@contextlib.asynccontextmanager
async def served(
    settings: Settings,
    *,
    tuning: OutboxTuning = CAMPAIGN_OUTBOX,
    intake_tuning: IntakeTuning = CAMPAIGN_INTAKE,
    registry: ProviderRegistry | None = None,
) -> AsyncIterator[tuple[str, Runtime]]:
    """The real aiohttp app (Slack and Teams routes) on a free port, in this process."""
    app = create_app(settings, tuning=tuning, intake_tuning=intake_tuning, registry=registry)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}", app[RUNTIME]
    finally:
        await runner.cleanup()
