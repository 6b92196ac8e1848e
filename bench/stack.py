"""What a bench run stands up for one database: every part a real process or a real server.

* `psabot serve` (Slack and Teams on) and `bench/floor.py`, each its own process;
* the load generator (`bench/load.py`), its own process, driven through `LoadClient`;
* in this process: the ConnectWise sandbox, the fake Slack Web API and the fake Bot Framework
  connector. The sandbox records when each bench note was stored (`landed`) and keeps every
  request in its log (the per-command request counts come from there).

A PostgreSQL run gets a fresh database, created here and dropped when the stack closes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from bot_process import seed_workspace
from fake_connector import TENANT, FakeConnector, Person, TeamsSender
from fake_slack import FakeSlack, SlackSender
from sqlalchemy.engine import make_url

from psa.connectwise.sandbox import SandboxServer
from storage.crypto import generate_key

SECRET = "bench-signing-secret"
SLACK_TEAM, SLACK_CHANNEL, SLACK_USER = "T111", "C1", "U2"
TEAMS_CHAT = "a:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHo"  # a personal chat
TECH = Person(
    teams_id="29:1bench-tech",
    aad_id="6f2a8a8e-0000-4000-8000-00000000b001",
    name="Jane Doe",
    email="jane.doe@example.com",
)
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TAG = re.compile(r"\bbq(\d+)\b")  # every bench note carries one: "bq123"
SANDBOX_LOG_LIMIT = 2_000_000  # the sandbox keeps 10,000 by default; a full run makes more
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    """Progress, on stderr (the report goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (Linux)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int, name: str = "VmRSS") -> float:
    """Resident (VmRSS) or peak resident (VmHWM) memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- PostgreSQL -----------------------------------------------------------------------------


def postgres_server_url() -> str:
    return os.environ.get("PSABOT_BENCH_POSTGRES_URL") or DEFAULT_PG


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def postgres_problem() -> str | None:
    """Why the bench's PostgreSQL server cannot be used, or None when it can."""
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(_dsn(postgres_server_url())), timeout=3)
    except Exception as exc:
        shown = make_url(postgres_server_url()).render_as_string(hide_password=True)
        return f"PostgreSQL not reachable at {shown} ({type(exc).__name__})"
    await conn.close()
    return None


async def create_database() -> tuple[str, str]:
    """A fresh database on the bench's server: (its URL, its name)."""
    import asyncpg

    name = "psabot_bench_" + secrets.token_hex(6)
    conn = await asyncpg.connect(_dsn(postgres_server_url()))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(postgres_server_url()).set(database=name)
    return url.render_as_string(hide_password=False), name


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(postgres_server_url()))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# -- processes ------------------------------------------------------------------------------


async def spawn(args: list[str], env: dict[str, str], cwd: Path, logfile: Path) -> Any:
    with logfile.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, cwd=cwd, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


def tail(logfile: Path) -> str:
    return logfile.read_text(errors="replace")[-2000:]


async def wait_http(url: str, process: Any, logfile: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{url} exited: {tail(logfile)}")
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not come up: {tail(logfile)}")


async def stop(process: Any) -> None:
    if process is not None and process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


class LoadClient:
    """The load generator process: one job at a time, answers read back as JSON."""

    def __init__(self, process: Any) -> None:
        self.process = process

    @classmethod
    async def start(cls, cwd: Path, env: dict[str, str]) -> LoadClient:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.load",
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=256 * 1024 * 1024,
        )
        return cls(process)

    async def run(
        self,
        requests: list[dict[str, Any]],
        *,
        concurrency: int | None = None,
        rate: float | None = None,
    ) -> list[dict[str, Any]]:
        job = {"requests": requests, "concurrency": concurrency, "rate": rate}
        self.process.stdin.write(json.dumps(job).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        answer = json.loads(line)
        if "error" in answer:
            raise ValueError(answer["error"])
        results: list[dict[str, Any]] = answer["results"]
        return results

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


# -- the stack ------------------------------------------------------------------------------


@dataclass
class Stack:
    database: str  # "sqlite" or "postgresql"
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="psabot-bench-")))
    sandbox: SandboxServer = field(default_factory=SandboxServer)
    fake: FakeSlack = field(default_factory=FakeSlack)
    connector: FakeConnector = field(default_factory=FakeConnector)
    landed: dict[int, float] = field(default_factory=dict)  # note tag → when it was stored
    bot: Any = None
    floor: Any = None
    load: LoadClient | None = None
    bot_url: str = ""
    floor_url: str = ""
    db_url: str = ""
    _pg_name: str | None = None
    _tags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _hooks_seen: int = 0
    hooks_at: dict[str, float] = field(default_factory=dict)  # response_url path → arrival
    _teams: TeamsSender | None = None
    _senders: dict[str, SlackSender] = field(default_factory=dict)
    tally: Counter[str] = field(default_factory=Counter)  # requests and failures, per target

    async def start(self) -> None:
        self.sandbox.requests.limit = SANDBOX_LOG_LIMIT
        self.sandbox.app.on_response_prepare.append(self._note_stored)
        await self.sandbox.start()
        self.fake.add_user(SLACK_USER, "Jane Doe", email="jane.doe@example.com")
        await self.fake.start()
        self.connector.add_person(TECH)
        await self.connector.start()
        key = generate_key()
        if self.database == "postgresql":
            self.db_url, self._pg_name = await create_database()
        else:
            self.db_url = f"sqlite+aiosqlite:///{self.work / 'bench.sqlite3'}"
        await seed_workspace(
            self.db_url,
            key,
            self.sandbox,
            {SLACK_USER: "Jane Doe"},
            account=SLACK_TEAM,
            conversation=SLACK_CHANNEL,
        )
        await seed_workspace(
            self.db_url,
            key,
            self.sandbox,
            {TECH.aad_id: TECH.name},
            platform="teams",
            account=TENANT,
            conversation=TEAMS_CHAT,
        )
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PSABOT_", "SLACK_", "MICROSOFT_"))
        }
        clean["PYTHONPATH"] = str(ROOT)
        env = dict(
            clean,
            PSABOT_DATABASE_URL=self.db_url,
            PSABOT_DATA_DIR=str(self.work / "data"),
            PSABOT_ENCRYPTION_KEYS=key,
            PSABOT_CW_ALLOWED_HOSTS=self.sandbox.host_port,
            PSABOT_LOG_LEVEL="WARNING",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_API_URL=self.fake.api_url,
        )
        bot_port, floor_port = free_port(), free_port()
        self.bot_url, self.floor_url = (
            f"http://127.0.0.1:{bot_port}",
            f"http://127.0.0.1:{floor_port}",
        )
        serve = ["-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(bot_port)]
        self.bot = await spawn(serve, env, ROOT, self.work / "bot.log")
        floor_args = ["-m", "bench.floor", "--port", str(floor_port)]
        self.floor = await spawn(floor_args, clean, ROOT, self.work / "floor.log")
        self.load = await LoadClient.start(ROOT, clean)
        await wait_http(self.bot_url + "/healthz", self.bot, self.work / "bot.log")
        await wait_http(self.floor_url + "/slack/events", self.floor, self.work / "floor.log")

    async def close(self, *, keep: bool = False) -> None:
        """Stop everything; the work folder (database, logs) is removed unless `keep`."""
        for process in (self.bot, self.floor):
            await stop(process)
        if self.load is not None:
            await self.load.close()
        await self.connector.stop()
        await self.fake.stop()
        await self.sandbox.stop()
        if self._pg_name is not None:
            await drop_database(self._pg_name)
        if keep:
            log(f"{self.database}: the bot's database and logs are kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    async def _note_stored(self, request: web.Request, response: web.StreamResponse) -> None:
        """The sandbox's response hook: the moment a bench note was stored on the ticket."""
        if request.method == "POST" and request.path.endswith("/notes") and response.status < 300:
            try:
                text = str((await request.json()).get("text", ""))
            except ValueError:
                return
            found = TAG.search(text)
            if found:
                self.landed.setdefault(int(found.group(1)), time.perf_counter())

    # -- what the bench reads ---------------------------------------------------------------

    async def send(
        self,
        requests: list[dict[str, Any]],
        *,
        concurrency: int | None = None,
        rate: float | None = None,
    ) -> list[dict[str, Any]]:
        """Through the load generator; counts what each target (bot, floor) answered."""
        assert self.load is not None
        results = await self.load.run(requests, concurrency=concurrency, rate=rate)
        for request, result in zip(requests, results, strict=True):
            target = "floor" if request["url"].startswith(self.floor_url) else "bot"
            kind = "teams" if request["url"].endswith("/api/messages") else "slack"
            self.tally[f"{kind} {target} requests"] += 1
            if kind == "slack" and result["status"] != 200:
                self.tally[f"{kind} {target} not 200"] += 1
            if kind == "teams" and not 200 <= result["status"] < 300:
                self.tally[f"{kind} {target} not 2xx"] += 1
        return results

    def tag(self) -> int:
        """A fresh note tag: write it as `bq<n>` in a note's text to see when it lands."""
        return next(self._tags)

    @property
    def pid(self) -> int:
        return int(self.bot.pid)

    def cw_requests(self) -> int:
        return len(self.sandbox.requests)

    def slack(self, to_floor: bool = False) -> SlackSender:
        """One sender per target for the whole run: its trigger ids never repeat (psabot
        takes a repeated one for Slack retrying the same command)."""
        url = self.floor_url if to_floor else self.bot_url
        if url not in self._senders:
            self._senders[url] = SlackSender(url, SECRET, self.fake)
        return self._senders[url]

    def teams(self) -> TeamsSender:
        """One sender for the run, so activity ids never repeat (a repeat is a retry)."""
        if self._teams is None:
            self._teams = TeamsSender(self.bot_url, self.connector)
        return self._teams

    def hooks(self) -> dict[str, float]:
        """response_url posts by path (each command has its own), read incrementally."""
        for hook in self.fake.hooks[self._hooks_seen :]:
            self.hooks_at.setdefault(hook.path, hook.at)
        self._hooks_seen = len(self.fake.hooks)
        return self.hooks_at

    async def wait_until(
        self, done: Callable[[], bool], left: Callable[[], int], stall: float
    ) -> float:
        """Poll until `done()`; returns when it became true (perf_counter), or NaN once `left()`
        (what is still awaited) has not gone down for `stall` seconds."""
        best, moved = left(), time.monotonic()
        while not done():
            now_left = left()
            if now_left < best:
                best, moved = now_left, time.monotonic()
            elif time.monotonic() - moved > stall:
                return float("nan")
            await asyncio.sleep(0.02)
        return time.perf_counter()
