"""Fault injection: latency, seeded random failures, and scripts of the next N failures.

Fault kinds (random rates for some, every kind in a script):

* `"429"`: 429 with `Retry-After: <retry_after>` and the documented rate-limit body;
  `retry_after` may be any string (`"inf"`, `"1e12"`, `"-5"`, `"soon"`, an HTTP date) to test
  how a client copes with a Retry-After it cannot use as is.
* `"500"`: 500 `{"code": "ConnectWiseApi", "message": "A timeout has occured. Please try again."}`.
* `"timeout"`: hold the request `hang_seconds`, then close the connection without answering.
* `"drop"`: close the connection before the request is handled (nothing happens), as a
  connection reset by a proxy would. Also drawn at `rate_drop`.
* `"drop_after_write"`: handle the request (a POST/PATCH is applied), then close the
  connection without sending the response.
* `"late_commit"`: a write is applied `write_apply_delay` seconds after it arrived, as a
  ConnectWise under load commits late; the connection is held meanwhile, so a client that gives
  up earlier sees a timeout and the write lands anyway. A client still waiting at apply time
  gets the normal answer. Also drawn for writes at `rate_late_commit`.
* `"oversized"`: a 200 list answer of `oversized_mb` MB (valid JSON, ticket-like records),
  generated while it is sent, chunked and without Content-Length, so the sandbox stays small.
* `"echo_headers"`: a 502 HTML error page that echoes every request header, Authorization
  included, as some proxies do.
* `"ok"`: no fault; lets a script say "the first request passes, the second fails".

Listing options (every list endpoint whose path contains `listing_path_contains`):

* `endless_next`: every page carries a `Link: rel="next"` to the page after it, for ever; pages
  past the end repeat the records of the earlier ones, so no page is empty.

Random rates draw from a `random.Random` seeded with the sandbox seed, so a run is
reproducible. `drop_after_write` is drawn for writes only. Scripted faults are consumed in
order by the requests they match, before any random draw. Faults apply to API requests only;
`/login/companyinfo` too when `faults_on_companyinfo` is set; `/_sandbox/*` never.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = frozenset(
    {
        "429",
        "500",
        "timeout",
        "drop",
        "drop_after_write",
        "ok",
        "late_commit",
        "oversized",
        "echo_headers",
    }
)
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class FaultOptions:
    latency_ms: float = 0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_drop_after_write: float = 0.0
    rate_late_commit: float = 0.0
    rate_drop: float = 0.0
    retry_after: int | str = 30
    hang_seconds: float = 30.0
    faults_on_companyinfo: bool = False
    write_apply_delay: float = 30.0
    oversized_mb: float = 50.0
    endless_next: bool = False
    listing_path_contains: str = ""

    def __post_init__(self) -> None:
        rates = (
            self.rate_429,
            self.rate_500,
            self.rate_timeout,
            self.rate_drop_after_write,
            self.rate_late_commit,
            self.rate_drop,
        )
        if any(not 0 <= r <= 1 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be between 0 and 1 and add up to at most 1")
        if self.latency_ms < 0 or self.hang_seconds < 0 or self.write_apply_delay < 0:
            raise ValueError("latency_ms, hang_seconds and write_apply_delay cannot be negative")
        if isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int | str):
            raise ValueError("retry_after must be a whole number of seconds or a string")
        if isinstance(self.retry_after, int) and self.retry_after < 0:
            raise ValueError("a numeric retry_after cannot be negative; send it as a string")
        if isinstance(self.retry_after, str) and (
            not self.retry_after.isprintable() or len(self.retry_after) > 200
        ):
            raise ValueError("retry_after must be printable and at most 200 characters")
        if not 0 <= self.oversized_mb <= 4096:
            raise ValueError("oversized_mb must be between 0 and 4096")

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _kind(value: object) -> str:
    kind = str(value).strip().lower()
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {value!r}; expected one of {sorted(FAULT_KINDS)}")
    return kind


@dataclass
class ScriptedFaults:
    """The next faults for requests matching `method` and `path_contains` (None = any)."""

    faults: deque[str]
    method: str | None = None
    path_contains: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path_contains": self.path_contains,
            "faults": list(self.faults),
        }


@dataclass
class FaultInjector:
    seed: int = 7
    options: FaultOptions = field(default_factory=FaultOptions)
    scripts: list[ScriptedFaults] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def configure(self, **changes: Any) -> FaultOptions:
        """Change some options, keep the others; ValueError on unknown names or bad values."""
        unknown = set(changes) - FaultOptions.names()
        if unknown:
            raise ValueError(f"unknown fault options: {', '.join(sorted(unknown))}")
        self.options = dataclasses.replace(self.options, **changes)
        return self.options

    def script(
        self,
        faults: Iterable[str | int],
        *,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Queue faults for the next matching requests, consumed in order."""
        kinds = deque(_kind(f) for f in faults)
        if kinds:
            self.scripts.append(
                ScriptedFaults(kinds, method.upper() if method else None, path_contains or None)
            )

    def apply_json(self, body: Mapping[str, Any]) -> None:
        """The admin endpoint's body: option names, plus `script` (one entry or a list)."""
        changes = {k: v for k, v in body.items() if k != "script"}
        raw_scripts = body.get("script", [])
        entries = [raw_scripts] if isinstance(raw_scripts, dict) else raw_scripts
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError("script must be an object or a list of objects")
        for entry in entries:
            faults = entry.get("faults")
            if not isinstance(faults, list):
                raise ValueError("each script entry needs a list of faults")
            for fault in faults:  # validate every entry before changing anything
                _kind(fault)
        self.configure(**changes)
        for entry in entries:
            self.script(
                entry["faults"],
                method=entry.get("method"),
                path_contains=entry.get("path_contains"),
            )

    def clear(self) -> None:
        """No faults, no latency, no scripts; the random sequence starts over."""
        self.options = FaultOptions()
        self.scripts.clear()
        self._rng = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.clear()

    def snapshot(self) -> dict[str, Any]:
        return {**self.options.to_json(), "script": [s.to_json() for s in self.scripts]}

    def decide(self, method: str, path: str) -> str | None:
        """The fault for this request, if any (consuming a scripted one first)."""
        for entry in self.scripts:
            if entry.matches(method, path):
                kind = entry.faults.popleft()
                if not entry.faults:
                    self.scripts.remove(entry)
                return None if kind == "ok" else kind
        o = self.options
        draw = self._rng.random()
        for kind, rate in (
            ("429", o.rate_429),
            ("500", o.rate_500),
            ("timeout", o.rate_timeout),
            ("drop_after_write", o.rate_drop_after_write),
            ("late_commit", o.rate_late_commit),
            ("drop", o.rate_drop),
        ):
            if draw < rate:
                writes_only = kind in ("drop_after_write", "late_commit")
                return kind if not writes_only or method in WRITE_METHODS else None
            draw -= rate
        return None

    def listing_fault(self, path: str) -> bool:
        """Whether `endless_next` applies to a listing at `path`."""
        o = self.options
        return o.endless_next and o.listing_path_contains in path
