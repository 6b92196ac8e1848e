"""Teams in the benchmark: message-extension query and note turn answer times, and RSS.

`psabot serve` runs as its own process with Slack and Teams both on (Teams without an app id,
which it allows on loopback), a fake Bot Framework connector and the ConnectWise sandbox in the
harness process. Activities are posted to `/api/messages` as Teams posts them; the time is the
HTTP answer (what Teams waits for: 5 s for an invoke).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bot_process import seed_workspace  # tests/ is on sys.path (bench/run.py puts it there)
from fake_connector import TENANT, FakeConnector, Person, TeamsSender

from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from storage.crypto import generate_key

PERSONAL = "a:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHo"
TECH = Person(
    teams_id="29:1bench-tech",
    aad_id="6f2a8a8e-0000-4000-8000-00000000b001",
    name="Jane Doe",
    email="jane.doe@example.com",
)


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident (VmRSS) or peak resident (VmHWM) memory of a process, in KiB (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def _stats(name: str, values: list[float], pct: Any) -> dict[str, Any]:
    return {
        f"{name} p50 / p99 / max (ms)": (
            f"{pct(values, 50):.1f} / {pct(values, 99):.1f} / {max(values):.1f}"
        )
    }


async def bench_teams(
    quick: bool, spawn: Any, wait_http: Any, free_port: Any, pct: Any, slack_env: dict[str, str]
) -> dict[str, Any]:
    sandbox = SandboxServer()
    await sandbox.start()
    connector = FakeConnector()
    connector.add_person(TECH)
    await connector.start()
    work = Path(tempfile.mkdtemp(prefix="psabot-bench-teams-"))
    key = generate_key()
    url = f"sqlite+aiosqlite:///{work / 'bench.sqlite3'}"
    await seed_workspace(
        url,
        key,
        sandbox,
        {TECH.aad_id: TECH.name},
        platform="teams",
        account=TENANT,
        conversation=PERSONAL,
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "MICROSOFT_"))}
    env.update(slack_env)  # Slack on too: RSS with both transports
    env.update(
        PSABOT_DATABASE_URL=url,
        PSABOT_DATA_DIR=str(work / "data"),
        PSABOT_ENCRYPTION_KEYS=key,
        PSABOT_CW_ALLOWED_HOSTS=sandbox.host_port,
        PSABOT_LOG_LEVEL="WARNING",
    )
    bot = await spawn(["-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)], env, work)
    result: dict[str, Any] = {}
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz")
        sender = TeamsSender(f"http://127.0.0.1:{port}", connector)
        result["RSS idle, Slack and Teams on (MiB)"] = round(rss_kib(bot.pid) / 1024, 1)
        levels = (1, 10) if quick else (1, 10, 50)
        counter = 0
        for concurrency in levels:

            async def query(n: int) -> float:
                activity = sender.invoke(
                    TECH,
                    PERSONAL,
                    "composeExtension/query",
                    {
                        "commandId": "searchTickets",
                        "parameters": [{"name": "query", "value": f"printer {n}"}],
                    },
                    conversation_type="personal",
                )
                started = time.perf_counter()
                status, _ = await sender.send(activity)
                assert status == 200, status
                return (time.perf_counter() - started) * 1000

            times: list[float] = []
            for _ in range(2 if quick else 5):
                counter += concurrency
                times += await asyncio.gather(*(query(counter + i) for i in range(concurrency)))
            result.update(_stats(f"extension query at {concurrency} concurrent", times, pct))

            async def note(n: int, level: int = concurrency) -> float:
                activity = sender.message(
                    TECH,
                    PERSONAL,
                    f"note Teams bench {level}/{n}",
                    mention_bot=False,
                    conversation_type="personal",
                )
                started = time.perf_counter()
                status, _ = await sender.send(activity)
                assert status < 300, status
                return (time.perf_counter() - started) * 1000

            turns = await asyncio.gather(*(note(i) for i in range(concurrency)))
            result.update(_stats(f"note turn answer at {concurrency} concurrent", turns, pct))
        expected = sum(levels)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            landed = [
                n
                for n in sandbox.state.notes_for(OPEN_TICKET_ID)
                if n["text"].startswith("Teams bench")
            ]
            if len(landed) >= expected:
                break
            await asyncio.sleep(0.2)
        result["Teams notes that reached the ticket"] = f"{len(landed)} of {expected}"
        result["RSS peak, Slack and Teams on (MiB)"] = round(rss_kib(bot.pid, "VmHWM") / 1024, 1)
    finally:
        bot.terminate()
        await bot.wait()
        await connector.stop()
        await sandbox.stop()
    return result
