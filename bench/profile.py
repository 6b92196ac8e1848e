"""Profile the Slack note hot path: CPU per note, ack and end-to-end latency, per concurrency.

    python -m bench.profile --notes 200 --concurrency 1
    python -m bench.profile --notes 400 --concurrency 100 --latency-ms 50
    python -m bench.profile --notes 200 --cprofile /tmp/serve.prof   # then pstats it

`psabot serve` runs as its own process on a seeded workspace (a linked channel, mapped users:
tests/bot_process.py), with the ConnectWise sandbox and the fake Slack Web API in this
process. `--concurrency` closed-loop senders each send a signed `/ticket note` as soon as
their last one was acked. The bot's CPU is read from /proc (utime + stime) before and after
the measured notes, once every note has reached the ticket and its author: robust to a busy
machine, unlike the latencies, which are only indicative when other work shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake Slack Web API and the bot process helper

from bot_process import CHANNEL, SIGNING_SECRET, TEAM, BotProcess, seed_workspace  # noqa: E402
from fake_slack import FakeSlack, SlackSender  # noqa: E402

from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer  # noqa: E402
from storage.crypto import generate_key  # noqa: E402

USERS = {f"U{n:03d}": f"Tech {n}" for n in range(1, 11)}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@dataclass
class ProfiledBot(BotProcess):
    """The bot process, optionally under cProfile (its stats written when it stops)."""

    cprofile: Path | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.cprofile is None:
            return super()._spawn()
        self.starts += 1
        args = ["-m", "cProfile", "-o", str(self.cprofile), "-m", "bot", "serve"]
        with (self.log_dir / f"bot-{self.starts}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, *args, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )


async def run(args: argparse.Namespace) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="psabot-profile-"))
    db_url = args.database_url or f"sqlite+aiosqlite:///{work / 'psabot.sqlite3'}"
    key = generate_key()
    sandbox = SandboxServer(latency_ms=args.latency_ms)
    await sandbox.start()
    fake = FakeSlack()
    for user_id, name in USERS.items():
        fake.add_user(user_id, name, email=f"{user_id.lower()}@example.com")
    await fake.start()
    await seed_workspace(db_url, key, sandbox, USERS)
    bot = ProfiledBot(
        {
            "PSABOT_DATABASE_URL": db_url,
            "PSABOT_ENCRYPTION_KEYS": key,
            "PSABOT_DATA_DIR": str(work / "data"),
            "PSABOT_CW_ALLOWED_HOSTS": sandbox.host_port,
            "PSABOT_LOG_LEVEL": args.log_level,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-profile",
            "SLACK_API_URL": fake.api_url,
        },
        work,
        cprofile=args.cprofile,
    )
    await bot.start()
    assert bot.proc is not None
    print(f"psabot serve pid {bot.proc.pid}", file=sys.stderr, flush=True)
    sender = SlackSender(bot.url, SIGNING_SECRET, fake, team=TEAM)
    users = list(USERS)
    acks: list[float] = []
    sent_at: dict[str, float] = {}
    failures = 0

    async def note(label: str, i: int) -> None:
        nonlocal failures
        body = sender.command_body(f"note {label} {i}", user=users[i % len(users)], channel=CHANNEL)
        hook = dict(parse_qsl(body))["response_url"].split("://", 1)[1].split("/", 1)[1]
        sent_at["/" + hook] = time.perf_counter()
        status, _, elapsed = await sender.post(body, "application/x-www-form-urlencoded")
        if status != 200:
            failures += 1
        acks.append(elapsed * 1000)
        if args.idle:  # the next note only once this one is answered: acks of an idle bot
            await fake.wait_hook(lambda h: h.path == "/" + hook and "Note added" in str(h.body))
        if args.gap:  # and a pause, so nothing of the last note is still running
            await asyncio.sleep(args.gap)

    async def closed_loop(label: str, count: int) -> None:
        queue = iter(range(count))

        async def worker() -> None:
            for i in queue:
                await note(label, i)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))

    async def settled(label: str, count: int) -> None:
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            on_ticket = [
                n for n in sandbox.state.notes_for(OPEN_TICKET_ID) if n["text"].startswith(label)
            ]
            posted = [c for c in fake.api("chat.postMessage") if label in str(c.get("text"))]
            if len(on_ticket) >= count and len(posted) >= count:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(
            f"{label}: {len(on_ticket)} of {count} notes on the ticket, {len(posted)} posted"
            f"\n{bot.log()}"
        )

    try:
        # Linked again over Slack, so the channel has a post-history thread (one message per
        # note), as a conversation linked by a user does.
        await sender.command(f"link {OPEN_TICKET_ID}", user=users[0], channel=CHANNEL)
        await fake.wait_call("chat.postMessage", timeout=30)
        await closed_loop("Warm", args.warmup)
        await settled("Warm", args.warmup)
        acks.clear()
        sent_at.clear()
        requests_before = len(sandbox.requests.records)
        cpu_before = cpu_seconds(bot.proc.pid)
        started = time.perf_counter()
        await closed_loop("Measured", args.notes)
        acked = time.perf_counter()
        await settled("Measured", args.notes)
        drained = time.perf_counter()
        cpu = cpu_seconds(bot.proc.pid) - cpu_before
        e2e = [
            (h.at - sent_at[h.path]) * 1000
            for h in fake.hooks
            if h.path in sent_at and "Note added" in str(h.body)
        ]
        return {
            "notes": args.notes,
            "concurrency": args.concurrency,
            "sandbox latency (ms)": args.latency_ms,
            "non-200 acks": failures,
            "bot CPU per note (ms)": cpu * 1000 / args.notes,
            "ConnectWise requests per note": (len(sandbox.requests.records) - requests_before)
            / args.notes,
            "ack p50 (ms)": percentile(acks, 50),
            "ack p95 (ms)": percentile(acks, 95),
            "ack p99 (ms)": percentile(acks, 99),
            "end-to-end p50 (ms)": percentile(e2e, 50),
            "end-to-end p99 (ms)": percentile(e2e, 99),
            "end-to-end p50 / latency": percentile(e2e, 50) / args.latency_ms
            if args.latency_ms
            else float("nan"),
            "notes per second (sent to all delivered)": args.notes / (drained - started),
            "send time (s)": acked - started,
        }
    finally:
        if args.keep_log:
            args.keep_log.write_text(bot.log())
        bot.stop()
        await fake.stop()
        await sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--idle", action="store_true", help="send each note once the last is done")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between a sender's notes")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to settle")
    parser.add_argument("--keep-log", type=Path, help="write the bot's log (its tail) here")
    parser.add_argument("--cprofile", type=Path, help="run the bot under cProfile, stats here")
    args = parser.parse_args()
    for name, value in asyncio.run(run(args)).items():
        print(f"{name:45} {value:10.2f}" if isinstance(value, float) else f"{name:45} {value}")


if __name__ == "__main__":
    main()
