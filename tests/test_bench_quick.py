"""`python -m bench.run --quick` runs on each database, so the harness cannot rot.

Only facts are asserted, never timings (the machine running the tests may be busy): every
command was answered, every note reached the ticket, a warm note is one ConnectWise request,
a status change a bounded number, and the JSON carries every section and budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL, require_postgres

ROOT = Path(__file__).resolve().parents[1]
# ConnectWise requests per status change (open the picker, choose): the budget, which holds.
STATUS_REQUESTS_MAX = 2
DATABASE_KEYS = {
    "slack_ack",
    "teams",
    "sustained",
    "search",
    "end_to_end",
    "forms_at_2s",
    "status",
    "cpu",
    "rss_mib",
    "facts",
}


def run_quick(tmp_path: Path, database: str) -> tuple[dict[str, Any], str]:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    env["PSABOT_BENCH_POSTGRES_URL"] = PG_URL
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "bench.run", "--quick", "--database", database, "--json", str(out)),
            # the pyconnectwise comparison runs once, beside SQLite (tests/test_bench_peer.py
            # checks its facts)
            *(["--no-sections"] if database != "sqlite" else []),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report, done.stdout


@pytest.mark.timeout(300)
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_quick_bench_run(tmp_path: Path, database: str) -> None:
    if database == "postgresql":
        require_postgres()  # a clear skip, or a failure under PSABOT_REQUIRE_POSTGRES=1
    report, markdown = run_quick(tmp_path, database)
    assert set(report["databases"]) == {database}
    result = report["databases"][database]
    assert set(result) >= DATABASE_KEYS

    facts = result["facts"]
    assert facts["slack_bot_requests"] > 0 and facts["slack_bot_not_200"] == 0
    assert facts["slack_floor_not_200"] == 0
    assert facts["teams_bot_requests"] > 0 and facts["teams_bot_not_2xx"] == 0
    assert facts["notes_landed"] == facts["notes_sent"] > 0
    for level in result["slack_ack"]:
        assert level["replies_posted"] == level["requests"], level
    assert {(row["command"], row["concurrency"]) for row in result["slack_ack"]} >= {
        ("note", 1),
        ("note", 10),
        ("note", 100),
        ("search", 1),
    }
    for row in result["teams"]:
        assert row["answered_2xx"] == row["requests"], row

    for e2e in result["end_to_end"]:  # warm notes, one after another: one POST each
        assert e2e["cw_request_kinds"] == {"POST service/tickets/{id}/notes": e2e["notes"]}
    assert {e2e["latency_ms"] for e2e in result["end_to_end"]} == {50.0, 500.0}
    assert result["search"]["cw_requests_per_search"] <= 1
    status = result["status"]
    assert status["applied"] == status["status_changes"] >= 1
    assert status["cw_requests_per_status_change_max"] <= STATUS_REQUESTS_MAX
    forms = result["forms_at_2s"]
    assert forms["slack"]["opened"] == forms["slack"]["forms"] > 0
    assert forms["teams"]["answered_2xx"] == forms["teams"]["forms"] > 0
    assert result["sustained"]["steps"] and result["rss_mib"]["peak"] > 0

    budgets = {b["budget"] for b in report["budgets"]}
    assert len(budgets) == 10 and all(b["database"] == database for b in report["budgets"])
    assert "## Budgets" in markdown and f"## {database}" in markdown
    assert all(name in markdown for name in budgets)
