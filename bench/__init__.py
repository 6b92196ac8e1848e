"""Benchmarks: `python -m bench.run` (docs/benchmarks.md).

The harness reuses the fakes that live with the tests (a Slack Web API, a Bot Framework
connector, a seeded workspace), so tests/ goes on the import path here, once for every module.
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
