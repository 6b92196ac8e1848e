"""A local ConnectWise PSA (Manage) REST API: a real aiohttp server with seeded demo data.

    server = SandboxServer(seed=7, latency_ms=0)      # or: async with SandboxServer() as server
    url = await server.start()                       # "http://127.0.0.1:54321"
    server.host_port                                 # "127.0.0.1:54321", for allow-lists
    await server.stop()

Connect like to the real thing: `GET {url}/login/companyinfo/psabot` (no auth) names the
codebase; the API lives under `{url}/v2025_1/apis/3.0/` (`server.api_url`). Basic auth
`psabot+sandbox-public:sandbox-private` acts as the API member `PsabotAPI` with full rights;
`psabot+restricted-public:restricted-private` gets 403 on everything but `GET /system/info`;
any non-empty `clientId` header is accepted (see `auth` for the error bodies).

`SandboxServer(tls=True)` serves https instead, with a CA and certificate generated at start
(`server.ca_bundle` is the CA file to trust; see `tls`); `ticket_count=2000` seeds more tickets.

Where things are: demo data and well-known ticket ids in `data`; what `conditions`,
`orderBy` and `fields` accept in `query` and `resources`; fault kinds and rates in `faults`;
the `/_sandbox/*` control endpoints in `admin`; `server.state` (records and accessors),
`server.faults` (FaultInjector), `server.requests` (RequestLog) from Python.
"""

from __future__ import annotations

from psa.connectwise.sandbox.auth import DEFAULT_API_KEYS, DEFAULT_COMPANY_ID, ApiKey
from psa.connectwise.sandbox.context import DEFAULT_CODEBASE, DEFAULT_COMPANY_NAME
from psa.connectwise.sandbox.data import (
    CLOSED_TICKET_ID,
    DEFAULT_SEED,
    ESCALATION_TICKET_ID,
    FIRST_TICKET_ID,
    NEW_TICKET_ID,
    OPEN_TICKET_ID,
    TICKET_COUNT,
)
from psa.connectwise.sandbox.faults import FaultInjector, FaultOptions
from psa.connectwise.sandbox.requestlog import RequestLog, RequestRecord
from psa.connectwise.sandbox.server import (
    DEFAULT_PORT,
    DEMO_CLIENT_ID,
    DemoCredentials,
    SandboxServer,
    build_app,
    run_sandbox,
)
from psa.connectwise.sandbox.state import SandboxState

__all__ = [
    "CLOSED_TICKET_ID",
    "DEFAULT_API_KEYS",
    "DEFAULT_CODEBASE",
    "DEFAULT_COMPANY_ID",
    "DEFAULT_COMPANY_NAME",
    "DEFAULT_PORT",
    "DEFAULT_SEED",
    "DEMO_CLIENT_ID",
    "ESCALATION_TICKET_ID",
    "FIRST_TICKET_ID",
    "NEW_TICKET_ID",
    "OPEN_TICKET_ID",
    "TICKET_COUNT",
    "ApiKey",
    "DemoCredentials",
    "FaultInjector",
    "FaultOptions",
    "RequestLog",
    "RequestRecord",
    "SandboxServer",
    "SandboxState",
    "build_app",
    "run_sandbox",
]
