"""Bounded reads: Retry-After clamped, pages and bytes per listing capped, caches bounded."""

from __future__ import annotations

import email.utils
import math
import time
import tracemalloc
from datetime import timedelta

import pytest
from test_connectwise_provider import make

from psa.cache import TTLCache
from psa.connectwise import client as cw_client
from psa.connectwise.client import RetryPolicy
from psa.connectwise.error_map import parse_retry_after, retry_after_seconds
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.errors import MAX_RETRY_AFTER, RateLimited, TooMuchData
from psa.registry import ProviderRegistry
from psa.types import ConnectionSettings, SearchQuery

ONE_TRY = RetryPolicy(attempts=1)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", MAX_RETRY_AFTER),
        ("Infinity", MAX_RETRY_AFTER),
        ("1e12", MAX_RETRY_AFTER),
        ("1000000000000", MAX_RETRY_AFTER),
        ("9" * 150, MAX_RETRY_AFTER),
        ("-5", 0.0),
        ("-inf", 0.0),
        ("12", 12.0),
        ("2.5", 2.5),
        ("nan", None),
        ("soon", None),
        ("", None),
    ],
)
async def test_any_retry_after_is_finite_and_clamped(
    cw_sandbox: SandboxServer, header: str, expected: float | None
) -> None:
    cw_sandbox.faults.configure(retry_after=header)
    cw_sandbox.faults.script(["429"], method="GET")
    provider = make(cw_sandbox, retry=ONE_TRY)
    try:
        with pytest.raises(RateLimited) as info:
            await provider.get_ticket(OPEN_TICKET_ID)
    finally:
        await provider.aclose()
    wait = info.value.retry_after
    if expected is None:
        assert wait is None
    else:
        assert wait == expected
        assert math.isfinite(wait) and 0 <= wait <= MAX_RETRY_AFTER
        assert timedelta(seconds=wait) <= timedelta(seconds=MAX_RETRY_AFTER)  # the outbox's use


def test_retry_after_as_an_http_date() -> None:
    now = 1_700_000_000.0
    in_90s = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(in_90s, now=now) == pytest.approx(90)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == 0.0
    far = email.utils.formatdate(now + 10**9, usegmt=True)
    assert parse_retry_after(far, now=now) == MAX_RETRY_AFTER
    assert parse_retry_after("Mon, 99 Foo 2024 99:99:99 GMT", now=now) is None


def test_rate_limited_clamps_whatever_it_is_given() -> None:
    assert RateLimited("x", retry_after=float("inf")).retry_after == MAX_RETRY_AFTER
    assert RateLimited("x", retry_after=-1).retry_after == 0.0
    assert RateLimited("x", retry_after=float("nan")).retry_after is None


def test_a_long_wait_in_the_body_is_clamped_too() -> None:
    body = {"message": "Too many requests. Please try again in 99999999 seconds."}
    assert retry_after_seconds({"Retry-After": "soon"}, body) == MAX_RETRY_AFTER
    assert retry_after_seconds({}, {"message": "Please try again in 7 seconds."}) == 7.0
    assert retry_after_seconds({}, "try again in 5 seconds") is None  # plain text: not read


async def test_endless_next_link_stops_at_the_page_cap(cw_sandbox: SandboxServer) -> None:
    cw_sandbox.faults.configure(endless_next=True, listing_path_contains="/service/boards")
    provider = make(cw_sandbox)
    try:
        started = time.monotonic()
        with pytest.raises(TooMuchData) as info:
            await provider.list_boards()
        elapsed = time.monotonic() - started
    finally:
        await provider.aclose()
    calls = cw_sandbox.requests.matching("GET", "/service/boards")
    assert len(calls) == cw_client.MAX_PAGES
    assert f"more than {cw_client.MAX_PAGES} pages; narrow the search" in str(info.value)
    assert elapsed < 10


async def test_listings_that_end_are_read_whole(cw_sandbox: SandboxServer) -> None:
    provider = make(cw_sandbox)
    try:
        # 10 pages of 20 records (TICKET_COUNT is 200): many pages, under the cap
        rows = await provider.client.get_all("service/tickets", {"fields": "id"}, page_size=20)
    finally:
        await provider.aclose()
    assert len(rows) == len(cw_sandbox.state.tickets)


async def test_listing_byte_cap_across_pages(cw_sandbox: SandboxServer) -> None:
    provider = make(cw_sandbox)
    provider.client.max_listing_bytes = 2000
    try:
        with pytest.raises(TooMuchData, match="larger than"):
            await provider.client.get_all("service/tickets", page_size=20)
    finally:
        await provider.aclose()


async def test_a_200_mb_listing_fails_fast_with_bounded_memory(cw_sandbox: SandboxServer) -> None:
    cw_sandbox.faults.configure(oversized_mb=200)
    cw_sandbox.faults.script(["oversized"], method="GET", path_contains="/service/tickets")
    provider = make(cw_sandbox, timeout=10.0)
    try:
        await provider.client.base_url()
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(TooMuchData) as info:
                await provider.search_tickets(SearchQuery(text="printer"))
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await provider.aclose()
    assert "larger than 4 MiB; narrow the search" in str(info.value)
    assert elapsed < 5
    # the cap (4 MiB) plus buffers; the whole answer would be 200 MiB
    assert peak < 4 * cw_client.MAX_RESPONSE_BYTES


async def test_a_declared_oversized_body_is_not_read(cw_sandbox: SandboxServer) -> None:
    provider = make(cw_sandbox)
    provider.client.max_response_bytes = 100  # the ticket's Content-Length is larger
    try:
        with pytest.raises(TooMuchData, match="larger than"):
            await provider.get_ticket(OPEN_TICKET_ID)
    finally:
        await provider.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_cache_is_bounded_by_size_and_emptied_by_ttl() -> None:
    clock = Clock()
    cache = TTLCache(60, maxsize=50, clock=clock)

    async def load() -> str:
        return "x" * 1000

    for n in range(1500):
        await cache.get_or_load(f"companies:{n}", load)
    assert len(cache) == 50
    clock.now = 61
    assert len(cache) == 0  # expired entries are gone, not just hidden


async def test_type_ahead_searches_cannot_grow_the_provider_cache(
    cw_sandbox: SandboxServer,
) -> None:
    provider = make(cw_sandbox)
    try:
        await provider.list_boards()
        for n in range(300):
            await provider.list_companies(f"query {n}")
        assert len(provider.search_cache) <= provider.search_cache.maxsize < 300
        before = len(cw_sandbox.requests.matching("GET", "/service/boards"))
        await provider.list_boards()  # reference data was not pushed out by the searches
        assert len(cw_sandbox.requests.matching("GET", "/service/boards")) == before
    finally:
        await provider.aclose()


def _settings(sandbox: SandboxServer, company: str) -> ConnectionSettings:
    creds = sandbox.credentials
    return ConnectionSettings(
        "connectwise",
        sandbox.host_port,
        company,
        creds.public_key,
        creds.private_key,
        creds.client_id,
    )


async def test_registry_keeps_a_bounded_number_of_providers(cw_sandbox: SandboxServer) -> None:
    clock = Clock()
    registry = ProviderRegistry(
        HostPolicy([cw_sandbox.host_port]),
        max_live=3,
        idle_ttl=100,
        retire_grace=10,
        clock=clock,
    )
    try:
        first = await registry.for_account("a0", _settings(cw_sandbox, "psabot"))
        await first.test_connection()  # opens its HTTP session
        for n in range(1, 6):
            await registry.for_account(f"a{n}", _settings(cw_sandbox, "psabot"))
        assert len(registry) == 3
        # the evicted provider is closed only after the grace period (requests may be running)
        session = first.client._session
        assert session is not None and not session.closed
        clock.now = 11
        await registry.for_account("a5", _settings(cw_sandbox, "psabot"))
        assert session.closed
        # idle ones expire; one in use stays
        clock.now = 80
        kept = await registry.for_account("a5", _settings(cw_sandbox, "psabot"))
        clock.now = 150
        assert len(registry) == 1
        assert await registry.for_account("a5", _settings(cw_sandbox, "psabot")) is kept
    finally:
        await registry.aclose()


def test_the_recovery_scan_fits_the_page_cap() -> None:
    """The ref search's fallback reads the newest notes: it must end before the page cap."""
    from psa.connectwise import provider as cw_provider

    pages = -(-cw_provider.RECOVERY_SCAN_LIMIT // cw_provider.RECOVERY_SCAN_PAGE_SIZE)
    assert pages <= cw_client.MAX_PAGES
