"""A small Prometheus text-format registry: labelled counters and gauges read at scrape time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

GaugeReader = Callable[[], Awaitable[float]]


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._gauges: dict[str, GaugeReader] = {}

    def counter(self, name: str, help_text: str) -> None:
        self._help[name] = ("counter", help_text)

    def gauge(self, name: str, help_text: str, reader: GaugeReader) -> None:
        self._help[name] = ("gauge", help_text)
        self._gauges[name] = reader

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._counters[name]
        series[key] = series.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    async def render(self) -> str:
        lines: list[str] = []
        for name, (kind, help_text) in sorted(self._help.items()):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            if kind == "gauge":
                lines.append(f"{name} {await self._gauges[name]()}")
                continue
            for labels, value in sorted(self._counters.get(name, {}).items()):
                lines.append(f"{name}{_labels(labels)} {value}")
        return "\n".join(lines) + "\n"
