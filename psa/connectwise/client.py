"""HTTP client for one ConnectWise account: auth, base URL, retries, pagination, errors.

One `aiohttp.ClientSession` per client, opened on first use and kept for the life of the
connection. Requests carry Basic auth (`company+public:private`), the `clientId` header and a
pinned API version in `Accept`. The API base URL comes from `/login/companyinfo/{company}` and
is re-resolved once when a 404 looks like the codebase moved (ConnectWise upgrades move it).

Idempotent requests (GETs, unless a caller says otherwise) are retried with capped exponential
backoff and jitter on 429 (honouring Retry-After up to a cap), 5xx, timeouts and dropped
connections. Writes (POST of a note, PATCH of a status) are never retried here: whether such a
write happened, and whether it should still be made, is for the post ledger to find out.

Reads are bounded: a response body is streamed with a cap (MAX_RESPONSE_BYTES; error bodies,
which are only classified, MAX_ERROR_BODY_BYTES), and a listing follows at most MAX_PAGES
`rel="next"` pages and MAX_LISTING_BYTES in all; past a cap the read stops with `TooMuchData`.
Once page 1 names the last page, a listing asks for up to MAX_PAGES_IN_FLIGHT pages at once
(`pages_in_flight=1`: one at a time), with the same records as following `next` would give.
Headers and bodies are never logged; error bodies never reach an error's message.

TLS is verified with the system's trust store. `ca_bundle` names a CA file (PEM) to trust
instead, for a server whose certificate a private CA signed (the sandbox's `--tls` mode, an
on-premises server); verification and host name checks stay on either way.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from psa.connectwise.error_map import (
    error_from_response,
    looks_like_moved_codebase,
    parse_body,
    redactor,
)
from psa.connectwise.hosts import HostPolicy, Site
from psa.connectwise.pagination import later_pages, link
from psa.errors import (
    ConfigurationError,
    ConnectionFailed,
    NotSent,
    PSAError,
    PSATimeout,
    RateLimited,
    TooMuchData,
    UnknownCompany,
)
from psa.types import ConnectionSettings

log = logging.getLogger(__name__)


API_VERSION = "2025.1"
MAX_PAGE_SIZE = 1000
MAX_CONNECTIONS = 8  # connections per ConnectWise site (requests beyond wait their turn)
QUEUE_TIMEOUT = 30.0  # seconds a request may wait for a connection before it is given up
MAX_PAGES = 20  # pages one listing may follow (20 000 records at the largest page size)
MAX_PAGES_IN_FLIGHT = 4  # pages of one listing requested at once, once page 1 names the last
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # one successful response body, after decompression
MAX_LISTING_BYTES = 16 * 1024 * 1024  # all pages of one listing together
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error body is only classified; the rest is dropped
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How idempotent requests are retried (ConnectWise's guidance for interactive apps)."""

    attempts: int = 3  # total tries, including the first
    base_delay: float = 0.1
    max_delay: float = 2.0
    max_retry_after: float = 10.0  # a longer Retry-After is reported instead of waited out

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any
    url: URL
    size: int = 0  # bytes of body read


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether there was more (nothing beyond is read)."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        return b"", True
    # The chunks are joined once at the end (one copy of the body, not one per chunk).
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


class ConnectWiseClient:
    def __init__(
        self,
        settings: ConnectionSettings,
        hosts: HostPolicy,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        api_version: str = API_VERSION,
        max_pages: int = MAX_PAGES,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_listing_bytes: int = MAX_LISTING_BYTES,
        ca_bundle: str | Path | None = None,
        pages_in_flight: int = MAX_PAGES_IN_FLIGHT,
    ) -> None:
        self.settings = settings
        self.site: Site = hosts.check_site(settings.site)
        self.max_pages = max_pages
        self.max_response_bytes = max_response_bytes
        self.max_listing_bytes = max_listing_bytes
        self.pages_in_flight = max(1, min(pages_in_flight, MAX_CONNECTIONS))
        self._hosts = hosts
        # True: aiohttp's default, verified against the system store; never "no verification"
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle is not None else True
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
        # Requests wait for one of the connections here, outside the request's timeout, so a
        # timeout always means "sent, no answer", never "queued behind other requests".
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._queue_timeout = max(timeout, QUEUE_TIMEOUT)
        self.retry = retry or RetryPolicy()
        self.api_version = api_version
        self._session: aiohttp.ClientSession | None = None
        self._base: URL | None = None
        self._codebase: str | None = None
        self._resolve_lock = asyncio.Lock()
        self.company_info: dict[str, Any] = {}
        s = settings
        # An error body that echoes the request must not carry these into a message.
        self._redact = redactor(
            (
                s.private_key,
                s.public_key,
                f"{s.company_id}+{s.public_key}",
                self._headers()["Authorization"].removeprefix("Basic "),
            )
        )

    # -- session ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        s = self.settings
        token = f"{s.company_id}+{s.public_key}:{s.private_key}".encode()
        return {
            "Authorization": "Basic " + base64.b64encode(token).decode("ascii"),
            "clientId": s.client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={self.api_version}",
            "User-Agent": "psabot",
        }

    def _session_or_open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=self._hosts.resolver(),
                limit_per_host=MAX_CONNECTIONS,
                ttl_dns_cache=300,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, raise_for_status=False
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # -- base URL -----------------------------------------------------------------------------

    @property
    def codebase(self) -> str | None:
        return self._codebase

    async def base_url(self) -> URL:
        if self._base is None:
            async with self._resolve_lock:
                if self._base is None:
                    await self._resolve()
        assert self._base is not None
        return self._base

    async def _resolve(self) -> None:
        company = self.settings.company_id.strip()
        if not company:
            raise ConfigurationError("The company id is empty", operation="company lookup")
        url = URL(self.site.origin) / "login" / "companyinfo" / company
        resp = await self._send("GET", url, operation="company lookup", auth=False)
        if resp.status >= 400:
            raise error_from_response(
                resp.status,
                resp.body,
                resp.headers,
                operation="company lookup",
                redact=self._redact,
            )
        info = resp.body
        if not isinstance(info, dict) or not info.get("Codebase"):
            raise UnknownCompany(
                f"{self.site.host} has no ConnectWise company {company!r}",
                operation="company lookup",
            )
        codebase = str(info["Codebase"])
        if not codebase.endswith("/"):
            codebase += "/"
        api_site = self.site.api_host_for(codebase)
        self.company_info = info
        self._codebase = codebase
        self._base = URL(api_site.origin + "/" + codebase + "apis/3.0")
        log.info("connectwise base url resolved site=%s codebase=%s", self.site.host, codebase)

    # -- requests -----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        operation: str,
        ticket_id: int | None = None,
        auth: bool = True,
    ) -> Response:
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self._queue_timeout)
        except TimeoutError as exc:
            raise NotSent(
                "psabot's queue to ConnectWise stayed full",
                operation=operation,
                ticket_id=ticket_id,
            ) from exc
        try:
            return await self._send_now(
                method,
                url,
                params=params,
                json=json,
                operation=operation,
                ticket_id=ticket_id,
                auth=auth,
            )
        finally:
            self._slots.release()

    async def _send_now(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str | int] | None,
        json: Any,
        operation: str,
        ticket_id: int | None,
        auth: bool,
    ) -> Response:
        session = self._session_or_open()
        headers = self._headers() if auth else {"Accept": "application/json"}
        if json is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(
                method, url, params=params, json=json, headers=headers, allow_redirects=False
            ) as resp:
                limit = self.max_response_bytes if resp.status < 400 else MAX_ERROR_BODY_BYTES
                raw, cut = await _read_limited(resp, limit)
                log.debug(
                    "connectwise %s %s status=%d bytes=%d", method, url.path, resp.status, len(raw)
                )
                if cut and resp.status < 400:
                    raise TooMuchData(
                        f"The answer is larger than {_mib(limit)}; narrow the search and try again",
                        operation=operation,
                        ticket_id=ticket_id,
                        status=resp.status,
                    )
                body = parse_body(raw) if not cut else ""  # a cut error body is not parsed
                return Response(resp.status, resp.headers, body, resp.url, len(raw))
        except TimeoutError as exc:
            raise PSATimeout(
                "ConnectWise did not answer in time", operation=operation, ticket_id=ticket_id
            ) from exc
        except aiohttp.ClientConnectorCertificateError as exc:  # refused before anything was sent
            raise NotSent(
                f"Could not connect to {self.site.host}: its TLS certificate is not trusted",
                operation=operation,
                ticket_id=ticket_id,
            ) from exc
        except aiohttp.ClientConnectorError as exc:  # no connection: nothing was sent
            raise NotSent(
                f"Could not connect to {self.site.host}", operation=operation, ticket_id=ticket_id
            ) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(
                f"Could not talk to {self.site.host}: {type(exc).__name__}",
                operation=operation,
                ticket_id=ticket_id,
            ) from exc
        except OSError as exc:
            raise ConnectionFailed(
                f"Could not reach {self.site.host}", operation=operation, ticket_id=ticket_id
            ) from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        operation: str = "",
        ticket_id: int | None = None,
        absolute: URL | None = None,
    ) -> Response:
        """One API call; raises a `PSAError` for anything but 2xx."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        operation = operation or f"{method} {path}"
        attempt = 0
        re_resolved = False
        while True:
            url = absolute if absolute is not None else await self._url(path)
            used_codebase = self._codebase
            try:
                resp = await self._send(
                    method, url, params=params, json=json, operation=operation, ticket_id=ticket_id
                )
                if resp.status < 300:
                    return resp
                if resp.status < 400:
                    raise PSAError(
                        f"ConnectWise answered with a redirect (HTTP {resp.status})",
                        operation=operation,
                        ticket_id=ticket_id,
                        status=resp.status,
                    )
                if (
                    not re_resolved
                    and absolute is None
                    and looks_like_moved_codebase(resp.status, resp.body)
                ):
                    re_resolved = True
                    if await self._codebase_changed(used_codebase):
                        continue
                raise error_from_response(
                    resp.status,
                    resp.body,
                    resp.headers,
                    operation=operation,
                    ticket_id=ticket_id,
                    redact=self._redact,
                )
            except PSAError as exc:
                attempt += 1
                wait = self._retry_wait(exc, attempt, idempotent)
                if wait is None:
                    raise
                log.warning(
                    "connectwise retry operation=%s attempt=%d wait=%.2fs error=%s",
                    operation,
                    attempt,
                    wait,
                    type(exc).__name__,
                )
                await asyncio.sleep(wait)

    def _retry_wait(self, exc: PSAError, attempt: int, idempotent: bool) -> float | None:
        if not idempotent or not exc.retryable or attempt >= self.retry.attempts:
            return None
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        if retry_after is not None and retry_after > self.retry.max_retry_after:
            return None
        return self.retry.delay(attempt - 1, retry_after)

    async def _url(self, path: str) -> URL:
        base = await self.base_url()
        return URL(str(base) + "/" + path.lstrip("/"))

    async def _codebase_changed(self, used: str | None) -> bool:
        """Re-resolve; True when the codebase differs from the one the failed request used."""
        async with self._resolve_lock:
            if self._codebase == used:  # nobody re-resolved since that request was sent
                self._base = None
                await self._resolve()
        changed = self._codebase != used
        if changed:
            log.info("connectwise codebase moved from %s to %s", used, self._codebase)
        return changed

    async def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        operation: str = "",
        ticket_id: int | None = None,
    ) -> Any:
        resp = await self.request(
            "GET", path, params=params, operation=operation, ticket_id=ticket_id
        )
        return resp.body

    async def get_all(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        limit: int | None = None,
        operation: str = "",
        pages_in_flight: int | None = None,
    ) -> list[Any]:
        """Every record of a list endpoint, following the `Link: rel="next"` header.

        At most `max_pages` pages and `max_listing_bytes` are read; `TooMuchData` past that.
        When page 1's links name the last page (see pagination.later_pages), up to
        `pages_in_flight` of the remaining pages (the client's own setting by default; 1 for
        one at a time) are requested at once. The records are the same either way: pages are
        taken in order, each only if the page before it linked to it as `next`, and where
        a link differs from the plan (the data changed meanwhile) the listing goes on
        from that page's own `next` link, one page at a time.
        """
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        if limit is not None:
            page_size = min(page_size, limit)
        query: dict[str, str | int] = {**(params or {}), "pageSize": page_size, "page": 1}
        listing = _Listing(self, path, operation)
        resp = await listing.page(None, query)
        records = listing.records_of(resp)
        if limit is not None and len(records) >= limit:
            return records[:limit]
        in_flight = self.pages_in_flight if pages_in_flight is None else pages_in_flight
        planned = later_pages(resp.headers, resp.url) if limit is None and in_flight > 1 else None
        if planned is not None and self._next_link(resp) is not None and resp.body:
            if len(planned) + 1 > self.max_pages:
                raise listing.too_many_pages()
            for page in await listing.pages_at_once(planned, in_flight):
                if self._next_link(resp) != page.url:
                    break  # the listing changed since page 1: go on from here link by link
                resp = page
                records.extend(listing.records_of(resp))
                if self._next_link(resp) is None or not resp.body:
                    return records
        while True:
            next_url = self._next_link(resp)
            if next_url is None or not resp.body:
                return records
            if listing.pages >= self.max_pages:
                raise listing.too_many_pages()
            resp = await listing.page(next_url)
            records.extend(listing.records_of(resp))
            if limit is not None and len(records) >= limit:
                return records[:limit]

    def _next_link(self, resp: Response) -> URL | None:
        return link(resp.headers, resp.url, "next")


class _Listing:
    """One `get_all`: its page and byte counts, and the bounded fetch of planned pages."""

    def __init__(self, client: ConnectWiseClient, path: str, operation: str) -> None:
        self.client = client
        self.path = path
        self.request_operation = operation  # "" lets request() name it by method and path
        self.operation = operation or path
        self.pages = 0
        self.size = 0

    def too_many_pages(self) -> TooMuchData:
        return TooMuchData(
            f"ConnectWise returned more than {self.client.max_pages} pages; narrow the search "
            "and try again",
            operation=self.operation,
        )

    def _too_large(self) -> TooMuchData:
        return TooMuchData(
            f"The answer is larger than {_mib(self.client.max_listing_bytes)}; narrow the "
            "search and try again",
            operation=self.operation,
        )

    def _past_byte_cap(self) -> bool:
        # the first page alone is bounded by max_response_bytes, not by the listing's cap
        return self.pages > 1 and self.size > self.client.max_listing_bytes

    async def page(
        self, url: URL | None, params: Mapping[str, str | int] | None = None
    ) -> Response:
        """One page (the first by `params`, a later one by its URL), counted against the caps."""
        if self._past_byte_cap():  # a page read at the same time already went past
            raise self._too_large()
        resp = await self.client.request(
            "GET", self.path, params=params, operation=self.request_operation, absolute=url
        )
        self.pages += 1
        self.size += resp.size
        if self._past_byte_cap():
            raise self._too_large()
        return resp

    def records_of(self, resp: Response) -> list[Any]:
        if not isinstance(resp.body, list):
            raise PSAError(
                "ConnectWise answered a list request with something else",
                operation=self.operation,
            )
        return list(resp.body)

    async def pages_at_once(self, urls: list[URL], in_flight: int) -> list[Response]:
        """Each URL's page, at most `in_flight` requested at a time, in the order given.

        The byte cap holds across them: once the pages read pass it, no further page is
        requested, so at most `in_flight` pages are read beyond it. A page's failure is
        raised when its turn comes, and the pages not yet read are cancelled.
        """
        slots = asyncio.Semaphore(in_flight)

        async def one(url: URL) -> Response:
            async with slots:
                return await self.page(url)

        tasks = [asyncio.create_task(one(url)) for url in urls]
        try:
            return [await task for task in tasks]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
