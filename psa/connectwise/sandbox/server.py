"""The sandbox HTTP server: request pipeline, `build_app`, `SandboxServer` and `run_sandbox`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.typedefs import Handler

from psa.connectwise.sandbox import data
from psa.connectwise.sandbox import tls as sandbox_tls
from psa.connectwise.sandbox.admin import ADMIN_PREFIX, add_admin_routes
from psa.connectwise.sandbox.auth import DEFAULT_API_KEYS, DEFAULT_COMPANY_ID, ApiKey, Authenticator
from psa.connectwise.sandbox.callbacks import add_callback_admin_routes, add_callback_routes
from psa.connectwise.sandbox.context import (
    CONTEXT,
    DEFAULT_CODEBASE,
    DEFAULT_COMPANY_NAME,
    SandboxContext,
    normalize_codebase,
    set_api_key,
)
from psa.connectwise.sandbox.errors import ApiError
from psa.connectwise.sandbox.faults import FaultInjector, FaultOptions
from psa.connectwise.sandbox.hub import KEY_PATH
from psa.connectwise.sandbox.render import (
    echo_headers_page,
    json_response,
    not_routed,
    oversized_list,
    rate_limited,
    server_error,
)
from psa.connectwise.sandbox.requestlog import RequestLog, RequestRecord
from psa.connectwise.sandbox.routes import API_PREFIX, add_api_routes
from psa.connectwise.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
# any non-empty clientId is accepted unless an allow-list is configured
DEMO_CLIENT_ID = "5d1f3b0e-7a52-4c1e-9e4b-2f8a6c0d9b17"
_API_PATH = re.compile(r"^/([^/]+)/apis/3\.0(/.*)?$")
_COMPANYINFO_PREFIX = "/login/companyinfo/"


def _finish(record: RequestRecord, response: web.StreamResponse) -> web.StreamResponse:
    record.status = response.status
    return response


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection with nothing sent; the response returned here never leaves."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=504)


def _route_error(exc: web.HTTPException, request: web.Request) -> ApiError:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return ApiError(
            405,
            "MethodNotAllowed",
            f"The requested resource does not support http method '{request.method}'.",
        )
    return ApiError(
        404, "NotFound", f"No HTTP resource was found that matches the request URI '{request.url}'."
    )


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return json_response(error.body(), status=error.status)


async def _apply_late(
    request: web.Request, handler: Handler, ctx: SandboxContext, delay: float
) -> web.StreamResponse:
    """The late_commit fault: hold the request, apply it `delay` s after it arrived."""
    await request.read()  # the body is kept: the client may be gone when the write is applied
    loop = asyncio.get_running_loop()
    apply_at = loop.time() + delay

    async def later() -> web.StreamResponse:
        await asyncio.sleep(max(0.0, apply_at - loop.time()))
        return await _handle(request, handler)

    task = asyncio.create_task(later())
    ctx.late_writes.add(task)
    task.add_done_callback(ctx.late_writes.discard)
    # shielded: a client that gives up must not stop the write from landing
    return await asyncio.shield(task)


async def _serve(
    request: web.Request, handler: Handler, ctx: SandboxContext, record: RequestRecord
) -> web.StreamResponse:
    api = _API_PATH.match(request.path)
    is_companyinfo = request.match_info.http_exception is None and request.path.startswith(
        _COMPANYINFO_PREFIX
    )
    if api is None and not is_companyinfo:
        return _finish(record, not_routed())
    if api is not None and api.group(1) + "/" != ctx.codebase:
        return _finish(record, not_routed())
    fault: str | None = None
    if api is not None or ctx.faults.options.faults_on_companyinfo:
        options = ctx.faults.options
        if options.latency_ms > 0:
            await asyncio.sleep(options.latency_ms / 1000)
        fault = record.fault = ctx.faults.decide(request.method, request.path)
        if fault == "429":
            return _finish(record, rate_limited(options.retry_after))
        if fault == "500":
            return _finish(record, server_error())
        if fault == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stopping.wait(), options.hang_seconds)
            return _drop(request)
        if fault == "drop":
            return _drop(request)
        if fault == "echo_headers":
            return _finish(record, echo_headers_page(request))
        if fault == "oversized":
            return _finish(record, await oversized_list(request, options.oversized_mb))
    try:
        if api is not None:
            key = ctx.auth.authenticate(request.headers)
            ctx.auth.authorize(key, request.method, api.group(2) or "/")
            set_api_key(request, key)
            if request.match_info.http_exception is not None:
                raise _route_error(request.match_info.http_exception, request)
        if fault == "late_commit":
            response = await _apply_late(
                request, handler, ctx, ctx.faults.options.write_apply_delay
            )
        else:
            response = await handler(request)
    except ApiError as error:
        response = json_response(error.body(), status=error.status)
    if fault == "drop_after_write":
        return _drop(request)
    return _finish(record, response)


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log → codebase routing → latency and faults → auth → handler → ConnectWise errors."""
    if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
        return await handler(request)
    if request.path.endswith("/" + KEY_PATH):  # the callback key URL: public, never faulted
        return await handler(request)
    ctx = request.app[CONTEXT]
    record = ctx.log.start(
        request.method,
        request.path,
        request.rel_url.raw_query_string,
        request.headers.get("clientId", ""),
    )
    try:
        return await _serve(request, handler, ctx, record)
    except Exception:
        logger.exception("sandbox handler failed: %s %s", request.method, request.path)
        return _finish(
            record,
            json_response(
                {"code": "ConnectWiseApi", "message": "An error has occurred in the sandbox."},
                status=500,
            ),
        )


def build_app(
    *,
    seed: int = data.DEFAULT_SEED,
    latency_ms: float = 0,
    company_id: str = DEFAULT_COMPANY_ID,
    company_name: str = DEFAULT_COMPANY_NAME,
    api_keys: Sequence[ApiKey] = DEFAULT_API_KEYS,
    client_ids: Collection[str] | None = None,
    codebase: str = DEFAULT_CODEBASE,
    anchor: datetime = data.DEFAULT_ANCHOR,
    clock: Callable[[], datetime] | None = None,
    ticket_count: int = data.TICKET_COUNT,
    **fault_options: Any,
) -> web.Application:
    """The sandbox as an aiohttp application (its context is `app[CONTEXT]`).

    `fault_options` are FaultOptions fields (rate_429, rate_500, rate_timeout,
    rate_drop_after_write, rate_late_commit, rate_drop, retry_after, hang_seconds,
    faults_on_companyinfo, write_apply_delay, oversized_mb, endless_next,
    listing_path_contains); see `faults`.
    """
    state = SandboxState(seed, anchor=anchor, clock=clock, ticket_count=ticket_count)
    for key in api_keys:
        if state.member(key.member_identifier) is None:
            raise ValueError(
                f"API key {key.public_key!r} names an unknown member {key.member_identifier!r}"
            )
    options = FaultOptions(latency_ms=latency_ms, **fault_options)
    context = SandboxContext(
        state=state,
        faults=FaultInjector(seed, options),
        log=RequestLog(),
        auth=Authenticator(company_id, api_keys, client_ids),
        company_name=company_name,
        codebase=normalize_codebase(codebase),
    )
    app = web.Application(middlewares=[sandbox_middleware])
    app[CONTEXT] = context
    add_admin_routes(app)
    add_callback_admin_routes(app, ADMIN_PREFIX)
    add_api_routes(app)
    add_callback_routes(app, API_PREFIX)
    return app


@dataclass(frozen=True)
class DemoCredentials:
    company_id: str
    public_key: str
    private_key: str
    client_id: str = DEMO_CLIENT_ID


class SandboxServer:
    """A real HTTP server emulating ConnectWise PSA; see the package docstring for the API.

    With `tls=True` it serves https instead, with a certificate generated at each start
    (`tls` module); `ca_bundle` is then the CA file a client must trust.
    """

    def __init__(
        self,
        seed: int = data.DEFAULT_SEED,
        latency_ms: float = 0,
        *,
        company_id: str = DEFAULT_COMPANY_ID,
        company_name: str = DEFAULT_COMPANY_NAME,
        api_keys: Sequence[ApiKey] = DEFAULT_API_KEYS,
        client_ids: Collection[str] | None = None,
        codebase: str = DEFAULT_CODEBASE,
        anchor: datetime = data.DEFAULT_ANCHOR,
        clock: Callable[[], datetime] | None = None,
        ticket_count: int = data.TICKET_COUNT,
        tls: bool = False,
        **fault_options: Any,
    ) -> None:
        self.app = build_app(
            seed=seed,
            latency_ms=latency_ms,
            company_id=company_id,
            company_name=company_name,
            api_keys=api_keys,
            client_ids=client_ids,
            codebase=codebase,
            anchor=anchor,
            clock=clock,
            ticket_count=ticket_count,
            **fault_options,
        )
        self.context = self.app[CONTEXT]
        self.tls = tls
        self._tls_files: sandbox_tls.SandboxTLS | None = None
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 = any free port); returns the site URL."""
        if self._runner is not None:
            raise RuntimeError("the sandbox is already running")
        self.context.stopping = asyncio.Event()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        if self.tls:
            self._tls_files = sandbox_tls.generate()
        ssl_context = self._tls_files.server_context() if self._tls_files else None
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            self._remove_tls_files()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._host, self._port = str(address[0]), int(address[1])
        self.context.callbacks.origin = self.url
        logger.info("ConnectWise sandbox listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Stop listening; requests held by a `timeout` fault are released first, and writes a
        `late_commit` fault has not applied yet are abandoned."""
        self.context.stopping.set()
        for task in list(self.context.late_writes):
            task.cancel()
        await self.context.callbacks.aclose()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._remove_tls_files()

    def _remove_tls_files(self) -> None:
        files, self._tls_files = self._tls_files, None
        if files is not None:
            files.remove()

    async def __aenter__(self) -> Self:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def host_port(self) -> str:
        """`127.0.0.1:54321`, the form an allow-list takes (IPv6 hosts in brackets)."""
        if not self._port:
            raise RuntimeError("the sandbox is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host_port}"

    @property
    def ca_bundle(self) -> str | None:
        """The CA file (PEM) to trust while a `tls` sandbox runs; None without TLS."""
        return str(self._tls_files.ca_file) if self._tls_files is not None else None

    @property
    def codebase(self) -> str:
        return self.context.codebase

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:54321/v2025_1/apis/3.0` for the current codebase."""
        return f"{self.url}/{self.context.codebase}apis/3.0"

    @property
    def state(self) -> SandboxState:
        return self.context.state

    @property
    def faults(self) -> FaultInjector:
        return self.context.faults

    @property
    def requests(self) -> RequestLog:
        return self.context.log

    @property
    def credentials(self) -> DemoCredentials:
        key = next(k for k in self.context.auth.keys if k.full_access)
        return DemoCredentials(self.context.auth.company_id, key.public_key, key.private_key)

    def move_codebase(self, codebase: str) -> str:
        """Simulate a ConnectWise upgrade: the API moves to another codebase path."""
        self.context.codebase = normalize_codebase(codebase)
        return self.context.codebase

    def reset(self, seed: int | None = None, ticket_count: int | None = None) -> None:
        """Reseed the data (with `ticket_count` tickets from now on), clear faults and the log."""
        self.context.reset(seed, ticket_count)

    def banner(self) -> str:
        creds = self.credentials
        restricted = [k for k in self.context.auth.keys if not k.full_access]
        lines = [
            f"ConnectWise sandbox listening on {self.url}",
            f"  site (allow-list): {self.host_port}",
            f"  company id:        {creds.company_id}",
            f"  public key:        {creds.public_key}",
            f"  private key:       {creds.private_key}",
            f"  client id:         any non-empty value, e.g. {creds.client_id}",
            f"  API:               {self.api_url}",
            f"  open ticket:       {data.OPEN_TICKET_ID}    closed ticket: {data.CLOSED_TICKET_ID}",
            f"  admin:             {self.url}{ADMIN_PREFIX}",
        ]
        lines[6:6] = [
            f"  no-rights keys:    {k.public_key} / {k.private_key} (403 except /system/info)"
            for k in restricted
        ]
        if self.ca_bundle is not None:
            lines[1] += f"  (enter the site as {self.url})"
            lines.append(f"  CA bundle (TLS):   {self.ca_bundle}  (removed when the sandbox stops)")
        return "\n".join(lines)


async def run_sandbox(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    seed: int = data.DEFAULT_SEED,
    latency_ms: float = 0,
    **options: Any,
) -> None:
    """Serve until cancelled, printing the URL and the demo credentials (`psabot sandbox`)."""
    server = SandboxServer(seed, latency_ms, **options)
    await server.start(host, port)
    stop = asyncio.Event()
    # SIGTERM stops it like Ctrl-C does, so a `--tls` sandbox removes its certificate files.
    # A loop that cannot take signal handlers (Windows, a loop outside the main thread) keeps
    # Ctrl-C only: nothing is left undone there, the certificate directory goes on exit.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        print(server.banner(), flush=True)
        await stop.wait()
    finally:
        await server.stop()
