"""Prometheus metrics of one process (prometheus_client), with gauges read at scrape time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

GaugeReader = Callable[[], Awaitable[float]]


class Metrics:
    """A registry of this process's own (never the global one, so tests and runtimes don't
    share series). Counters are declared with their label names, then incremented by name;
    a gauge is read by its async reader whenever /metrics is scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, tuple[Gauge, GaugeReader]] = {}

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self._counters[name] = Counter(
            name, help_text, labelnames=tuple(labels), registry=self.registry
        )

    def gauge(self, name: str, help_text: str, reader: GaugeReader) -> None:
        self._gauges[name] = (Gauge(name, help_text, registry=self.registry), reader)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(amount)

    def value(self, name: str, **labels: str) -> float:
        sample = name if name.endswith("_total") else f"{name}_total"
        found = self.registry.get_sample_value(sample, labels or None)
        return float(found or 0.0)

    async def render(self) -> bytes:
        for gauge, reader in self._gauges.values():
            try:
                gauge.set(await reader())
            except Exception:  # the database being away must not break the scrape
                gauge.set(float("nan"))
        return generate_latest(self.registry)
