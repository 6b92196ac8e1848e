"""The budgets (docs/benchmarks.md's table) checked against one run, and the Markdown report."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIB_TO_MB = 1.048576


@dataclass(frozen=True)
class Budget:
    name: str
    limit: float
    unit: str
    measure: Callable[[dict[str, Any]], float]  # from one database's results


def _ack(result: dict[str, Any], command: str, concurrency: int) -> dict[str, Any]:
    for row in result["slack_ack"]:
        if row["command"] == command and row["concurrency"] == concurrency:
            return dict(row)
    return {}


def _get(row: dict[str, Any], *path: str) -> float:
    value: Any = row
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return float("nan")
        value = value[key]
    return float(value)


def _e2e(result: dict[str, Any], latency: float) -> dict[str, Any]:
    return next((dict(r) for r in result["end_to_end"] if r["latency_ms"] == latency), {})


BUDGETS = [
    Budget(
        "Slack ack p99 at 100 concurrent notes ÷ floor p99",
        1.5,
        "×",
        lambda r: _get(_ack(r, "note", 100), "ratio_p99"),
    ),
    Budget(
        "Slack ack p50 at concurrency 1 (closed loop), note",
        3.0,
        "ms",
        lambda r: _get(_ack(r, "note", 1), "bot_ms", "p50"),
    ),
    Budget(
        "bot CPU (utime+stime) per warm note, end to end (10 concurrent)",
        5.0,
        "ms",
        lambda r: _get(_ack(r, "note", 10), "cpu_ms_per_command"),
    ),
    Budget(
        "note end-to-end ÷ ConnectWise latency L, L = 50 ms (median)",
        1.1,
        "×",
        lambda r: _get(_e2e(r, 50.0), "ratio_median"),
    ),
    Budget(
        "median time from command to note, 100 concurrent senders",
        1000.0,
        "ms",
        lambda r: _get(_ack(r, "note", 100), "command_to_note_ms", "median"),
    ),
    Budget(
        "ConnectWise requests per status change (picker → choose), max",
        2.0,
        "",
        lambda r: _get(r, "status", "cw_requests_per_status_change_max"),
    ),
    Budget(
        "ConnectWise requests per warm note",
        1.0,
        "",
        lambda r: _get(_e2e(r, 50.0), "cw_requests_per_note"),
    ),
    Budget(
        "ConnectWise requests per search",
        1.0,
        "",
        lambda r: _get(r, "search", "cw_requests_per_search"),
    ),
    Budget(
        "views.open after the command, L = 2 s, p95",
        10.0,
        "ms",
        lambda r: _get(r, "forms_at_2s", "slack", "views_open_ms", "p95"),
    ),
    Budget(
        "peak RSS of psabot serve, Slack and Teams on",
        150.0,
        "MB",
        lambda r: _get(r, "rss_mib", "peak") * MIB_TO_MB,
    ),
]


def check_budgets(databases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for budget in BUDGETS:
        for database, result in databases.items():
            measured = budget.measure(result)
            held = not math.isnan(measured) and measured <= budget.limit
            rows.append(
                {
                    "budget": budget.name,
                    "database": database,
                    "limit": budget.limit,
                    "unit": budget.unit,
                    "measured": measured,
                    "held": held,
                    "missed_by": None if held or math.isnan(measured) else measured - budget.limit,
                    "missed_by_factor": None
                    if held or math.isnan(measured)
                    else measured / budget.limit,
                }
            )
    return rows


# -- Markdown -------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return (
            f"{value:.0f}"
            if abs(value) >= 1000
            else f"{value:.3g}"
            if abs(value) < 1
            else f"{value:.1f}"
        )
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def kinds(row: dict[str, Any]) -> str:
    """`POST service/tickets/{id}/notes ×30, …`: which ConnectWise requests were made."""
    return ", ".join(f"{k} ×{v}" for k, v in row["cw_request_kinds"].items())


def _four(stats: dict[str, float]) -> list[float]:
    return [stats.get(k, float("nan")) for k in ("p50", "p95", "p99", "max")]


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for key, inner in value.items():
            out += flatten(inner, f"{prefix}{key}" if not prefix else f"{prefix} / {key}")
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        out = []
        for i, inner in enumerate(value):
            out += flatten(inner, f"{prefix} [{i}]")
        return out
    return [(prefix, value)]


def _database(name: str, r: dict[str, Any]) -> list[str]:
    lines = [
        f"## {name}",
        "",
        "### Slack acks (ms, measured by the load generator until the HTTP answer)",
        "",
    ]
    rows = [
        [
            a["command"],
            a["concurrency"],
            a["requests"],
            *_four(a["bot_ms"]),
            *_four(a["floor_ms"]),
            a["ratio_p99"],
            a["cpu_ms_per_command"],
            a["cw_requests_per_command"],
            a["drain_s"],
            a["answered_in_ack"]["count"],
        ]
        for a in r["slack_ack"]
    ]
    lines += table(
        [
            "command",
            "concurrent",
            "requests",
            "bot p50",
            "p95",
            "p99",
            "max",
            "floor p50",
            "p95",
            "p99",
            "max",
            "p99 ÷ floor",
            "bot CPU ms / command",
            "CW requests / command",
            "drain s",
            "answered in the ack",
        ],
        rows,
    )
    examples = [
        a["answered_in_ack"]["example"] for a in r["slack_ack"] if a["answered_in_ack"]["example"]
    ]
    if examples:
        lines += [f"A command answered in its ack (no work after it), e.g.: `{examples[0]}`", ""]
    notes = [a for a in r["slack_ack"] if a["command"] == "note"]
    lines += ["Command → note on the ticket (ms):", ""]
    lines += table(
        ["concurrent", "notes landed", "p50", "p95", "p99", "max"],
        [
            [
                a["concurrency"],
                f"{a['notes_landed']} of {a['requests']}",
                *_four(a["command_to_note_ms"]),
            ]
            for a in notes
        ],
    )
    lines += ["### Teams (ms, the HTTP answer of /api/messages)", ""]
    lines += table(
        ["kind", "concurrent", "requests", "answered 2xx", "p50", "p95", "p99", "max"],
        [
            [t["kind"], t["concurrency"], t["requests"], t["answered_2xx"], *_four(t["answer_ms"])]
            for t in r["teams"]
        ],
    )
    s = r["sustained"]
    lines += [
        f"### Sustained notes per second (open loop, {fmt(s['seconds_per_step'])} s per step; a "
        "step holds when ack p99 ≤ 1.5 × the floor's p99 at the same rate, every note lands and "
        "the last one within 1 s of the last ack)",
        "",
    ]
    lines += table(
        [
            "notes/s",
            "notes",
            "bot ack p99",
            "floor p99",
            "ratio",
            "landed",
            "landed/s",
            "drain s",
            "held",
        ],
        [
            [
                st["rate_per_s"],
                st["notes"],
                st["bot_ack_p99_ms"],
                st["floor_ack_p99_ms"],
                st["ratio_p99"],
                st["notes_landed"],
                st["landed_per_s"],
                st["drain_s"],
                st["held"],
            ]
            for st in s["steps"]
        ],
    )
    forms = r["forms_at_2s"]
    other = [
        ["sustained notes per second (highest step held)", s["sustained_notes_per_s"]],
        ["notes per second kept up with, ack budget aside", s["kept_up_notes_per_s"]],
        ["time to drain after the last step (s)", s["drain_after_last_step_s"]],
        ["bot CPU per note, 10 concurrent (ms)", _ack(r, "note", 10).get("cpu_ms_per_command")],
        ["bot CPU when idle (ms per s)", r["cpu"]["idle_ms_per_s"]],
    ]
    for platform, key, what in (
        ("slack", "by_form_ms", "views.open after"),
        ("teams", "by_form_ms", "task/fetch answer of"),
    ):
        for form, stats in forms[platform][key].items():
            other.append(
                [
                    f"{what} `{form}`, L = 2 s: p50 / p95 / max (ms)",
                    " / ".join(fmt(stats[k]) for k in ("p50", "p95", "max")),
                ]
            )
    for e in r["end_to_end"]:
        other.append(
            [
                f"note command → on ticket ÷ L, L = {fmt(e['latency_ms'])} ms (median)",
                e["ratio_median"],
            ]
        )
        other.append(
            [
                f"ConnectWise requests per warm note, L = {fmt(e['latency_ms'])} ms",
                f"{fmt(e['cw_requests_per_note'])} ({kinds(e)})",
            ]
        )
    other.append(
        [
            "ConnectWise requests per search",
            f"{fmt(r['search']['cw_requests_per_search'])} ({kinds(r['search'])})",
        ]
    )
    st = r["status"]
    other.append(
        [
            "ConnectWise requests per status change (each)",
            f"{', '.join(str(c) for c in st['cw_requests_per_status_change'])} ({kinds(st)})",
        ]
    )
    other.append(
        ["RSS idle / peak (MiB)", f"{fmt(r['rss_mib']['idle'])} / {fmt(r['rss_mib']['peak'])}"]
    )
    f = r["facts"]
    other.append(
        [
            "Slack commands answered 200 (bot)",
            f"{f['slack_bot_requests'] - f['slack_bot_not_200']} of {f['slack_bot_requests']}",
        ]
    )
    other.append(
        [
            "Teams activities answered 2xx",
            f"{f['teams_bot_requests'] - f['teams_bot_not_2xx']} of {f['teams_bot_requests']}",
        ]
    )
    other.append(["notes on the ticket", f"{f['notes_landed']} of {f['notes_sent']}"])
    lines += ["### Other measures", ""]
    lines += table(["measure", "value"], other)
    return lines


def missed(budget: dict[str, Any]) -> str:
    if budget["missed_by"] is None:
        return "—"
    over = f"+{fmt(budget['missed_by'])} {budget['unit']}".strip()
    return f"{over} ({budget['missed_by_factor']:.2f}× the budget)"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# psabot bench",
        "",
        f"Machine: {report['machine']}. Commit `{report['commit']}`.",
        f"Command: `{report['command']}`. Took {report['duration_s']:.0f} s.",
        f"Load average at start: {report['load_average']['start']}; at the end: "
        f"{report['load_average']['end']} (numbers from a loaded machine mean little).",
        "",
    ]
    for name, reason in report["skipped"].items():
        lines += [f"{name} skipped: {reason}.", ""]
    lines += ["## Budgets", ""]
    lines += table(
        ["budget", "database", "limit", "measured", "held", "missed by"],
        [
            [
                b["budget"],
                b["database"],
                f"{fmt(b['limit'])} {b['unit']}".strip(),
                f"{fmt(b['measured'])} {b['unit']}".strip(),
                b["held"],
                missed(b),
            ]
            for b in report["budgets"]
        ],
    )
    for name, result in report["databases"].items():
        lines += _database(name, result)
    for title, section in report["sections"].items():
        lines += [f"## {title}", ""]
        lines += table(["measure", "value"], [list(kv) for kv in flatten(section)])
    return "\n".join(lines)
