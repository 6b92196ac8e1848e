"""Measure psabot against its performance budgets, on SQLite and PostgreSQL, in one command.

    python -m bench.run                          # full run (≤ 12 min on 2 cores)
    python -m bench.run --quick                  # a small run (the test suite runs it)
    python -m bench.run --database sqlite        # or postgresql, or both
    python -m bench.run --json results.json      # the results as JSON too

The default database is both when PostgreSQL answers at PSABOT_BENCH_POSTGRES_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres; each run creates and drops a fresh
database on that server), else SQLite alone, saying so. For each database `bench/stack.py`
starts `psabot serve`, the floor server and the load generator as their own processes; the
Markdown report goes to stdout, progress to stderr. Nothing here asserts a budget: the report
says whether each held and by how much it was missed (docs/benchmarks.md).

More sections (the ConnectWise client comparison, say) are appended to `SECTIONS` below.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import slack, teams
from bench.peer import bench_peer
from bench.report import check_budgets, markdown
from bench.stack import ROOT, Stack, cpu_seconds, log, postgres_problem, rss_mib

# More sections: each runs once after the databases, with the --quick flag, and gets its own
# table and `sections[title]` in the JSON (`--no-sections` leaves them out).
Section = tuple[str, Callable[[bool], Awaitable[dict[str, Any]]]]
SECTIONS: list[Section] = [("ConnectWise client: pyconnectwise vs psabot", bench_peer)]


@dataclass(frozen=True)
class Plan:
    """How much of everything: the full run fits 12 minutes on 2 cores, quick well under one."""

    slack_levels: dict[int, int]  # concurrency → commands per sender (closed loop)
    teams_levels: dict[int, int]
    rates: list[float]  # notes per second, stepped up
    seconds_per_rate: float
    searches: int
    e2e_notes: dict[float, int]  # ConnectWise latency (ms) → notes
    forms: int  # of each form (link, note, status) at 2 s latency
    status_changes: int
    idle_seconds: float


FULL = Plan(
    slack_levels={1: 200, 10: 30, 100: 5, 500: 2},
    teams_levels={1: 20, 10: 6, 50: 3},
    rates=[10, 20, 40, 60, 80, 100, 130, 160, 200, 250, 320, 400],
    seconds_per_rate=3.0,
    searches=16,
    e2e_notes={50.0: 30, 500.0: 8},
    forms=5,
    status_changes=4,
    idle_seconds=3.0,
)
QUICK = Plan(
    slack_levels={1: 5, 10: 2, 100: 1},
    teams_levels={1: 2, 10: 1},
    rates=[20],
    seconds_per_rate=1.0,
    searches=3,
    e2e_notes={50.0: 3, 500.0: 2},
    forms=1,
    status_changes=1,
    idle_seconds=0.5,
)


async def measure(database: str, plan: Plan) -> dict[str, Any]:
    """Everything for one database, on a fresh stack."""
    stack = Stack(database)
    log(f"{database}: starting psabot serve, the floor, the load generator and the fakes")
    try:
        await stack.start()
        await asyncio.sleep(plan.idle_seconds / 2)
        rss_idle = rss_mib(stack.pid)
        cpu_before = cpu_seconds(stack.pid)
        await asyncio.sleep(plan.idle_seconds)
        idle_ms_per_s = (cpu_seconds(stack.pid) - cpu_before) * 1000 / plan.idle_seconds
        await slack.warm_up(stack)
        await teams.warm_up(stack)
        result: dict[str, Any] = {"slack_ack": []}
        for command in ("note", "search"):
            for concurrency, per_sender in plan.slack_levels.items():
                result["slack_ack"].append(
                    await slack.ack_level(stack, command, concurrency, per_sender)
                )
        result["teams"] = []
        for concurrency, per_sender in plan.teams_levels.items():
            result["teams"] += await teams.level(stack, concurrency, per_sender)
        result["sustained"] = await slack.sustained(stack, plan.rates, plan.seconds_per_rate)
        log(f"{database}: searches, notes end to end at each latency, forms at 2 s, status")
        result["search"] = await slack.searches(stack, plan.searches)
        result["end_to_end"] = [
            await slack.end_to_end(stack, latency, notes)
            for latency, notes in plan.e2e_notes.items()
        ]
        openers = await teams.openers(stack, ("note", "status"))
        stack.sandbox.faults.configure(latency_ms=2000)
        try:
            result["forms_at_2s"] = {
                "latency_ms": 2000.0,
                "slack": await slack.forms(stack, plan.forms),
                "teams": await teams.task_fetch(stack, openers, plan.forms),
            }
        finally:
            stack.sandbox.faults.configure(latency_ms=0)
        result["status"] = await slack.status_changes(stack, plan.status_changes)
        result["cpu"] = {"idle_ms_per_s": idle_ms_per_s}
        result["rss_mib"] = {"idle": rss_idle, "peak": rss_mib(stack.pid, "VmHWM")}
        result["facts"] = facts(stack)
    except BaseException:
        await stack.close(keep=True)  # a failed run leaves its logs to look at
        raise
    await stack.close()
    return result


def facts(stack: Stack) -> dict[str, int]:
    """What must hold whatever the timings: every command answered, every note landed."""
    counted = {key.replace(" ", "_"): value for key, value in sorted(stack.tally.items())}
    return {
        "slack_bot_requests": counted.get("slack_bot_requests", 0),
        "slack_bot_not_200": counted.get("slack_bot_not_200", 0),
        "slack_floor_requests": counted.get("slack_floor_requests", 0),
        "slack_floor_not_200": counted.get("slack_floor_not_200", 0),
        "teams_bot_requests": counted.get("teams_bot_requests", 0),
        "teams_bot_not_2xx": counted.get("teams_bot_not_2xx", 0),
        "notes_sent": stack.tag() - 1,
        "notes_landed": len(stack.landed),
    }


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}, {platform.system()}"


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (
        " + local changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


async def choose_databases(wanted: str | None) -> tuple[list[str], dict[str, str]]:
    problem = await postgres_problem() if wanted != "sqlite" else None
    if wanted is None:
        if problem is None:
            return ["sqlite", "postgresql"], {}
        print(f"PostgreSQL part skipped: {problem}.", file=sys.stderr, flush=True)
        return ["sqlite"], {"postgresql": problem}
    if problem is not None:
        raise SystemExit(f"{problem}; set PSABOT_BENCH_POSTGRES_URL or use --database sqlite")
    return (["sqlite", "postgresql"] if wanted == "both" else [wanted]), {}


async def run(
    quick: bool, wanted: str | None, command: str, sections_wanted: bool = True
) -> dict[str, Any]:
    # SIGTERM stops the run like Ctrl-C: the stacks close (processes stopped, database dropped)
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    started = time.monotonic()
    start_load = load_average()
    databases, skipped = await choose_databases(wanted)
    plan = QUICK if quick else FULL
    results = {name: await measure(name, plan) for name in databases}
    sections: dict[str, dict[str, Any]] = {}
    for title, section in SECTIONS if sections_wanted else []:
        log(f"section: {title}")
        try:
            sections[title] = await section(quick)
        except Exception as exc:  # the rest of the report still gets written; exit status 1
            log(f"section {title!r} failed: {type(exc).__name__}: {exc}")
            sections[title] = {"failed": f"{type(exc).__name__}: {exc}"}
    return {
        "machine": machine(),
        "commit": commit(),
        "command": command,
        "quick": quick,
        "load_average": {"start": start_load, "end": load_average()},
        "duration_s": time.monotonic() - started,
        "skipped": skipped,
        "databases": results,
        "budgets": check_budgets(results),
        "sections": sections,
    }


def plain(value: Any) -> Any:
    """Strict JSON: a measure that could not be taken (NaN) is written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (well under a minute)")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql", "both"),
        help="default: both when PostgreSQL is reachable, else sqlite",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--no-sections",
        action="store_true",
        help="leave out the sections after the databases (the pyconnectwise comparison)",
    )
    args = parser.parse_args(argv)
    shown = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])
    report = asyncio.run(run(args.quick, args.database, shown, not args.no_sections))
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(plain(report), indent=2, allow_nan=False) + "\n")
    log(f"done in {report['duration_s']:.0f} s")
    if any("failed" in section for section in report["sections"].values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
