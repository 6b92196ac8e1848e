"""psabot's ConnectWise client beside pyconnectwise, doing the same work against one sandbox.

    python -m bench.peer            # 2,000 tickets, 200 notes, 3 rounds
    python -m bench.peer --quick    # 200 tickets, 20 notes, 1 round (the test run's variant)
    python -m bench.peer --json out.json

pyconnectwise (the `bench` extra: `scripts/bootstrap dev,bench`) is the Python ConnectWise
client a user would otherwise pick. It builds `https://` URLs itself, so the sandbox runs as
`psabot sandbox --tls --tickets N` in its own process (so neither client shares a CPU or the
GIL with it) and both clients trust its generated CA: pyconnectwise through
`REQUESTS_CA_BUNDLE` (it calls `requests.request`), psabot through `ca_bundle`.

The work, per round and per client, one request at a time (what pyconnectwise can do):
* list: every ticket, full records, through `page`/`pageSize` pagination at PAGE_SIZE per page
  for both (psabot's client follows at most MAX_PAGES = 20 pages, so 2,000 tickets need a page
  size of at least 100; ConnectWise's default of 25 would be refused as too much data), each
  record turned into the client's own type (pyconnectwise's pydantic `Ticket`, psabot's
  `parse_ticket`);
* list (psabot's field list): the same with `fields=` the fields psabot's ticket searches ask
  for (provider.TICKET_FIELDS), for both: less JSON to decode, so more of the client's own cost;
* list (psabot: pages at once): the full-record listing again, pyconnectwise one page at a
  time as before (it cannot do otherwise), psabot as it ships: once page 1's `Link` header
  names the last page it asks for up to MAX_PAGES_IN_FLIGHT pages at once (the same records;
  see ConnectWiseClient.get_all). The two listings above run psabot one page at a time
  (`pages_in_flight=1`), exactly the requests pyconnectwise makes;
* notes: NOTES internal notes posted to one ticket (psabot through `ConnectWiseProvider.post_note`,
  its real note path).
Both clients are warmed first (imports, codebase look-up, one ticket read), and what is loaded
then is frozen out of garbage collection (`gc.freeze`: pyconnectwise's thousands of model
classes would otherwise slow every collection, whichever client triggers it). psabot then keeps
its TLS connection open; pyconnectwise has no session to keep (`requests.request` makes a new
one, so a new TCP connection and TLS handshake, per call): that is how it ships.

Reported per task and client: the median wall time and the median CPU time of the thread that
did the work (`time.thread_time`, robust to other load on the machine), their ratios
(pyconnectwise ÷ psabot), and the requests the sandbox saw. Wall times on a loaded machine are
noisy; the CPU ratio is the figure to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import ssl
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from psa.connectwise.client import MAX_PAGES, MAX_PAGES_IN_FLIGHT
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.parse import parse_tickets
from psa.connectwise.provider import TICKET_FIELDS, ConnectWiseProvider
from psa.connectwise.sandbox import DEFAULT_COMPANY_ID, DEMO_CLIENT_ID, OPEN_TICKET_ID
from psa.types import ConnectionSettings, NoteType

ROOT = Path(__file__).resolve().parents[1]
PAGE_SIZE = 100
NOTE_TICKET = OPEN_TICKET_ID
PUBLIC_KEY, PRIVATE_KEY = "sandbox-public", "sandbox-private"  # the sandbox's demo key
START_TIMEOUT = 60.0
SIDES = ("pyconnectwise", "psabot")
LIST, LIST_FIELDS, NOTES = "list", "list (psabot's field list)", "notes"
LIST_AT_ONCE = f"list (psabot: up to {MAX_PAGES_IN_FLIGHT} pages at once)"
LISTINGS = (LIST, LIST_FIELDS, LIST_AT_ONCE)


@dataclass(frozen=True)
class Plan:
    tickets: int
    notes: int
    rounds: int


FULL = Plan(tickets=2000, notes=200, rounds=3)
QUICK = Plan(tickets=200, notes=20, rounds=1)


@dataclass(frozen=True)
class Sandbox:
    """The sandbox process's address and CA file, and a session for its admin endpoints."""

    host_port: str
    ca_bundle: str
    admin: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"https://{self.host_port}"

    async def clear_log(self) -> None:
        async with self.admin.delete(f"{self.url}/_sandbox/requests") as resp:
            resp.raise_for_status()

    async def log(self) -> list[dict[str, Any]]:
        async with self.admin.get(f"{self.url}/_sandbox/requests") as resp:
            resp.raise_for_status()
            records: list[dict[str, Any]] = await resp.json()
            return records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _ca_bundle_from_banner(stdout: asyncio.StreamReader) -> str:
    """The CA file named in the sandbox's banner (it prints it once it listens)."""
    while line := (await stdout.readline()).decode():
        if "CA bundle (TLS):" in line:
            return line.split(":", 1)[1].split()[0]
    raise RuntimeError("the sandbox exited before it printed its CA bundle")


@asynccontextmanager
async def sandbox_process(tickets: int) -> AsyncIterator[Sandbox]:
    """`psabot sandbox --tls --tickets N` as its own process, stopped (files removed) after."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PSABOT_LOG_LEVEL"] = "WARNING"
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "sandbox", "--tls", "--port", str(port)),
        *("--tickets", str(tickets)),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(START_TIMEOUT):
            ca_bundle = await _ca_bundle_from_banner(proc.stdout)
        context = ssl.create_default_context(cafile=ca_bundle)
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(connector=connector) as admin:
            yield Sandbox(f"127.0.0.1:{port}", ca_bundle, admin)
    finally:
        if proc.returncode is None:
            proc.terminate()  # SIGTERM: the sandbox stops and removes its certificate files
        async with asyncio.timeout(15):
            await proc.communicate()


# -- the two clients ------------------------------------------------------------------------


@contextmanager
def _requests_trusting(ca_bundle: str, host: str) -> Iterator[None]:
    """requests reads these for every call: trust the sandbox's CA and never use a proxy."""
    saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "NO_PROXY")}
    os.environ["REQUESTS_CA_BUNDLE"] = ca_bundle
    os.environ["NO_PROXY"] = host
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class PeerClient:
    """pyconnectwise, called from a worker thread (its calls block)."""

    def __init__(self, sandbox: Sandbox) -> None:
        from pyconnectwise import ConnectWiseManageAPIClient  # the bench extra

        # the constructor looks the codebase up (GET /login/companyinfo): part of the warm-up
        self.client = ConnectWiseManageAPIClient(
            DEFAULT_COMPANY_ID, sandbox.host_port, DEMO_CLIENT_ID, PUBLIC_KEY, PRIVATE_KEY
        )
        self.client.service.tickets.id(NOTE_TICKET).get()

    def list_tickets(self, fields: str | None = None) -> int:
        params = {"fields": fields} if fields else None
        pages = self.client.service.tickets.paginated(1, PAGE_SIZE, params)  # type: ignore[arg-type]
        return len(list(pages.all()))

    def post_notes(self, count: int, label: str) -> int:
        notes = self.client.service.tickets.id(NOTE_TICKET).notes
        posted = [
            notes.post(data={"text": f"{label} {i}", "internalAnalysisFlag": True})
            for i in range(count)
        ]
        return sum(1 for note in posted if note.id)


class PsabotClient:
    """psabot's ConnectWise provider and client, on this thread's event loop."""

    def __init__(self, sandbox: Sandbox) -> None:
        settings = ConnectionSettings(
            provider="connectwise",
            site=sandbox.url,
            company_id=DEFAULT_COMPANY_ID,
            public_key=PUBLIC_KEY,
            private_key=PRIVATE_KEY,
            client_id=DEMO_CLIENT_ID,
        )
        self.provider = ConnectWiseProvider(
            settings, HostPolicy([sandbox.host_port]), ca_bundle=sandbox.ca_bundle
        )

    async def warm(self) -> None:
        await self.provider.client.base_url()
        await self.provider.get_ticket(NOTE_TICKET)

    async def list_tickets(self, fields: str | None = None, pages_in_flight: int = 1) -> int:
        rows = await self.provider.client.get_all(
            "service/tickets",
            {"fields": fields} if fields else None,
            page_size=PAGE_SIZE,
            operation="bench: list tickets",
            pages_in_flight=pages_in_flight,
        )
        return len(parse_tickets(rows))

    async def post_notes(self, count: int, label: str) -> int:
        posted = [
            await self.provider.post_note(NOTE_TICKET, f"{label} {i}", NoteType.INTERNAL, None)
            for i in range(count)
        ]
        return sum(1 for note in posted if note.id)

    async def notes_labelled(self, label: str) -> int:
        rows = await self.provider.client.get_all(
            f"service/tickets/{NOTE_TICKET}/notes",
            {"fields": "id,text"},
            page_size=1000,
            operation="bench: count notes",
        )
        return sum(1 for r in rows if str(r.get("text", "")).startswith(label + " "))

    async def aclose(self) -> None:
        await self.provider.aclose()


# -- timing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float
    count: int  # tickets fetched or notes posted
    requests: int  # API requests the sandbox saw (its admin endpoints are not logged)


def _timed_blocking(work: Callable[[], int]) -> tuple[float, float, int]:
    cpu, wall = time.thread_time(), time.perf_counter()
    count = work()
    return time.perf_counter() - wall, time.thread_time() - cpu, count


async def _timed(work: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    cpu, wall = time.thread_time(), time.perf_counter()
    count = await work()
    return time.perf_counter() - wall, time.thread_time() - cpu, count


async def _sample(sandbox: Sandbox, measure: Awaitable[tuple[float, float, int]]) -> Sample:
    await sandbox.clear_log()
    gc.collect()  # the previous sample's garbage is not this one's cost
    wall, cpu, count = await measure
    return Sample(wall, cpu, count, len(await sandbox.log()))


def _ratio(peer: float, ours: float) -> float:
    return peer / ours if ours > 0 else float("inf")


def _summary(task: str, samples: dict[str, list[Sample]], expected: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    medians: dict[str, tuple[float, float]] = {}
    for side in SIDES:
        runs = samples[side]
        wall = statistics.median(s.wall for s in runs)
        cpu = statistics.median(s.cpu for s in runs)
        medians[side] = (wall, cpu)
        out[f"{task}: {side} wall s (median)"] = wall
        out[f"{task}: {side} CPU s (median)"] = cpu
        out[f"{task}: {side} requests per round"] = max(s.requests for s in runs)
        out[f"{task}: {side} rounds complete"] = sum(1 for s in runs if s.count == expected)
    out[f"{task}: wall ratio pyconnectwise/psabot"] = _ratio(
        medians["pyconnectwise"][0], medians["psabot"][0]
    )
    out[f"{task}: CPU ratio pyconnectwise/psabot"] = _ratio(
        medians["pyconnectwise"][1], medians["psabot"][1]
    )
    return out


async def bench_peer(quick: bool) -> dict[str, Any]:
    """Both clients list every ticket and post notes to one ticket; see the module docstring."""
    plan = QUICK if quick else FULL
    labels = {side: f"bench note from {side}" for side in SIDES}
    expected = {LIST: plan.tickets, LIST_FIELDS: plan.tickets, LIST_AT_ONCE: plan.tickets}
    expected[NOTES] = plan.notes
    samples: dict[str, dict[str, list[Sample]]] = {t: {s: [] for s in SIDES} for t in expected}
    async with sandbox_process(plan.tickets) as sandbox:
        ours = PsabotClient(sandbox)
        try:
            with _requests_trusting(sandbox.ca_bundle, "127.0.0.1"):
                peer = await asyncio.to_thread(PeerClient, sandbox)
                await ours.warm()
                # pyconnectwise's thousands of model classes would make every garbage
                # collection in this process (either client's) slower: keep them out of it
                gc.collect()
                gc.freeze()
                peer_work: dict[str, Callable[[], int]] = {
                    LIST: peer.list_tickets,
                    LIST_FIELDS: lambda: peer.list_tickets(TICKET_FIELDS),
                    LIST_AT_ONCE: peer.list_tickets,
                    NOTES: lambda: peer.post_notes(plan.notes, labels["pyconnectwise"]),
                }
                our_work: dict[str, Callable[[], Awaitable[int]]] = {
                    LIST: ours.list_tickets,
                    LIST_FIELDS: lambda: ours.list_tickets(TICKET_FIELDS),
                    LIST_AT_ONCE: lambda: ours.list_tickets(pages_in_flight=MAX_PAGES_IN_FLIGHT),
                    NOTES: lambda: ours.post_notes(plan.notes, labels["psabot"]),
                }
                for _ in range(plan.rounds):
                    for task in expected:
                        samples[task]["pyconnectwise"].append(
                            await _sample(
                                sandbox, asyncio.to_thread(_timed_blocking, peer_work[task])
                            )
                        )
                        samples[task]["psabot"].append(
                            await _sample(sandbox, _timed(our_work[task]))
                        )
            on_ticket = {side: await ours.notes_labelled(labels[side]) for side in SIDES}
        finally:
            gc.unfreeze()  # the caller's process (bench.run) collects as before
            await ours.aclose()
    result: dict[str, Any] = {
        "tickets in the sandbox": plan.tickets,
        "notes per round": plan.notes,
        "rounds": plan.rounds,
        "page size (both)": PAGE_SIZE,
        "psabot page cap (pages per listing)": MAX_PAGES,
        "transport": "https, sandbox's generated CA, sandbox in its own process",
        "what psabot does differently": (
            "keeps one TLS connection open (pyconnectwise opens one per request); "
            f"in '{LIST_AT_ONCE}' only, asks for up to {MAX_PAGES_IN_FLIGHT} pages at once "
            "(same pages, same records); every other listing one page at a time, as the peer"
        ),
    }
    for task, count in expected.items():
        result.update(_summary(task, samples[task], count))
    for side in SIDES:
        result[f"{NOTES}: {side} notes found on the ticket"] = on_ticket[side]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="200 tickets, 20 notes, one round")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    result = asyncio.run(bench_peer(args.quick))
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
