"""The log of requests the sandbox served (never headers, so never credentials)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RequestRecord:
    """One request. `status` is None when no response was sent (timeout or dropped)."""

    method: str
    path: str
    query: str
    client_id: str
    status: int | None = None
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """API and companyinfo requests in arrival order; `/_sandbox/*` calls are not logged."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._records: list[RequestRecord] = []

    def start(self, method: str, path: str, query: str, client_id: str) -> RequestRecord:
        record = RequestRecord(method, path, query, client_id)
        self._records.append(record)
        if len(self._records) > self.limit:
            del self._records[: len(self._records) - self.limit]
        return record

    @property
    def records(self) -> list[RequestRecord]:
        return list(self._records)

    def matching(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[RequestRecord]:
        return [
            r
            for r in self._records
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
        ]

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(list(self._records))

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self._records]
