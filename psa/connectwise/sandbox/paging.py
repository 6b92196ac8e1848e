"""ConnectWise pagination: `page`/`pageSize` with RFC 5988 `Link` headers, and forward-only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from multidict import MultiDict
from yarl import URL

from psa.connectwise.sandbox.errors import ApiError

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Paging:
    page: int
    page_size: int

    @property
    def start(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def end(self) -> int:
        return self.page * self.page_size


def _positive_int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name.lower())
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "InvalidObject", f"{name} must be a whole number.") from None
    if value < 1:
        raise ApiError(400, "InvalidObject", f"{name} must be 1 or greater.")
    return value


def parse_paging(params: Mapping[str, str]) -> Paging:
    """`page` (1-based) and `pageSize` (1..1000); `params` has lower-cased names."""
    page = _positive_int(params, "page", 1)
    page_size = _positive_int(params, "pageSize", DEFAULT_PAGE_SIZE)
    if page_size > MAX_PAGE_SIZE:
        raise ApiError(400, "InvalidObject", f"pageSize cannot be greater than {MAX_PAGE_SIZE}.")
    return Paging(page, page_size)


def page_id(params: Mapping[str, str]) -> int:
    raw = params.get("pageid")
    if raw is None or raw.strip() == "":
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "InvalidObject", "pageId must be a whole number.") from None


def _with_param(url: URL, name: str, value: int) -> str:
    """The request URL with one parameter moved to the end, the rest kept as sent."""
    query = MultiDict((k, v) for k, v in url.query.items() if k.lower() != name.lower())
    query.add(name, str(value))
    return str(url.with_query(query))


def link_header(url: URL, paging: Paging, total: int) -> str | None:
    """first/prev/next/last links; None when a first page holds everything."""
    last = max(1, math.ceil(total / paging.page_size))
    if last == 1 and paging.page == 1:
        return None
    links = [(1, "first")]
    if paging.page > 1:
        links.append((min(paging.page - 1, last), "prev"))
    if paging.page < last:
        links.append((paging.page + 1, "next"))
    links.append((last, "last"))
    return ", ".join(f'<{_with_param(url, "page", n)}>; rel="{rel}"' for n, rel in links)


def endless_link(url: URL, paging: Paging) -> str:
    """Only a `next` link, to the page after this one, whatever the total (a faulty server)."""
    return f'<{_with_param(url, "page", paging.page + 1)}>; rel="next"'


def forward_link(url: URL, last_id: int) -> str:
    return f'<{_with_param(url, "pageId", last_id)}>; rel="next"'
