"""The peer comparison (bench/peer.py) runs in its quick variant: facts, never timings.

pyconnectwise is the `bench` extra; without it this test is skipped (and says so).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench.peer import LISTINGS, NOTES, PAGE_SIZE, QUICK, SIDES, bench_peer  # noqa: E402

needs_pyconnectwise = pytest.mark.skipif(
    importlib.util.find_spec("pyconnectwise") is None,
    reason="pyconnectwise is not installed (the `bench` extra: scripts/bootstrap dev,bench)",
)


@needs_pyconnectwise
@pytest.mark.timeout(240)
# pyconnectwise's generated models use a pydantic 1 idiom pydantic 2 warns about
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
async def test_quick_peer_run_does_the_same_work_on_both_sides() -> None:
    result = await bench_peer(quick=True)

    assert result["tickets in the sandbox"] == QUICK.tickets
    pages = -(-QUICK.tickets // PAGE_SIZE)
    for side in SIDES:
        # every round fetched every ticket and posted every note, with the same requests
        for listing in LISTINGS:
            assert result[f"{listing}: {side} rounds complete"] == QUICK.rounds
            assert result[f"{listing}: {side} requests per round"] == pages
        assert result[f"{NOTES}: {side} rounds complete"] == QUICK.rounds
        assert result[f"{NOTES}: {side} requests per round"] == QUICK.notes
        # the sandbox holds them: read back from the ticket after the run
        assert result[f"{NOTES}: {side} notes found on the ticket"] == QUICK.notes * QUICK.rounds
        for task in (*LISTINGS, NOTES):
            assert result[f"{task}: {side} wall s (median)"] > 0
    for task in (*LISTINGS, NOTES):
        assert result[f"{task}: CPU ratio pyconnectwise/psabot"] > 0
