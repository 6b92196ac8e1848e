"""Percentiles and the summaries every table shows (p50 / p95 / p99 / max, in ms)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (NaN for no values): p99 of 100 values is the 99th."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Iterable[float]) -> dict[str, float]:
    kept = list(values)
    return {
        "p50": percentile(kept, 50),
        "p95": percentile(kept, 95),
        "p99": percentile(kept, 99),
        "max": percentile(kept, 100),
    }


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")
