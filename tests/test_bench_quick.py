"""The benchmark harness runs (quick variant); budgets are reported by bench/, not asserted here.

What is asserted is what is not a timing: the warm note path makes exactly one ConnectWise
request, every loaded command was acknowledged with 200, and every loaded note arrived.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_quick_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSABOT_", "SLACK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    results = json.loads(out.read_text())["results"]
    warm = results["note warm path (sandbox latency 0 ms)"]
    assert warm["ConnectWise requests per note (max)"] == 1
    ack = results["slack ack under load"]
    assert ack["non-200 answers"] == 0
    assert ack["notes that reached the ticket"] == ack["concurrent commands"] * ack["rounds"]
    assert results["modal opening"]["modals opened"] >= 5
    assert "| bot ack p99 (ms) |" in result.stdout
