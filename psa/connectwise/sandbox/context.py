"""What a running sandbox shares between its handlers, stored on the aiohttp app."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from aiohttp import web

from psa.connectwise.sandbox.auth import ApiKey, Authenticator
from psa.connectwise.sandbox.faults import FaultInjector
from psa.connectwise.sandbox.hub import CallbackHub
from psa.connectwise.sandbox.requestlog import RequestLog
from psa.connectwise.sandbox.state import SandboxState

DEFAULT_CODEBASE = "v2025_1/"
DEFAULT_COMPANY_NAME = "Psabot Demo MSP"
VERSION_NUMBER = "v4.6.108247"
_CODEBASE_RE = re.compile(r"^[A-Za-z0-9_.-]+/$")
_RELEASE_RE = re.compile(r"^v(\d{4})_(\d+)/$")


def normalize_codebase(codebase: str) -> str:
    """`v2025_2`, `/v2025_2/` → `v2025_2/` (companyinfo's form, trailing slash included)."""
    value = codebase.strip().strip("/") + "/"
    if not _CODEBASE_RE.match(value):
        raise ValueError(f"not a codebase: {codebase!r}")
    return value


@dataclass
class SandboxContext:
    state: SandboxState
    faults: FaultInjector
    log: RequestLog
    auth: Authenticator
    company_name: str = DEFAULT_COMPANY_NAME
    codebase: str = DEFAULT_CODEBASE
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # writes a late_commit fault will apply later; kept so they are not garbage-collected
    late_writes: set[asyncio.Task[web.StreamResponse]] = field(default_factory=set)
    callbacks: CallbackHub = field(default_factory=CallbackHub)

    def __post_init__(self) -> None:
        self.callbacks.company_id = self.auth.company_id
        self.callbacks.codebase = self.codebase
        self.state.on_change = self._changed

    def _changed(self, ticket: dict[str, object], action: str, actor: str) -> None:
        """A ticket changed (API or admin): deliver it to the callbacks covering it."""
        member = self.state.member(actor)
        self.callbacks.codebase = self.codebase
        self.callbacks.changed(ticket, action, int(member["id"]) if member else 0)

    @property
    def version_code(self) -> str:
        """`v2025_1/` → `v2025.1` (what companyinfo calls VersionCode)."""
        match = _RELEASE_RE.match(self.codebase)
        return f"v{match.group(1)}.{match.group(2)}" if match else "v2025.1"

    def reset(self, seed: int | None = None, ticket_count: int | None = None) -> None:
        """Reseed the data, clear faults and the request log (the codebase stays)."""
        self.state.reset(seed, ticket_count)
        self.callbacks.reset()
        self.faults.reseed(self.state.seed)
        self.log.clear()


CONTEXT: web.AppKey[SandboxContext] = web.AppKey("psabot_cw_sandbox", SandboxContext)
_API_KEY: web.RequestKey[ApiKey] = web.RequestKey("psabot_cw_sandbox_api_key", ApiKey)


def context_of(request: web.Request) -> SandboxContext:
    return request.app[CONTEXT]


def set_api_key(request: web.Request, key: ApiKey) -> None:
    request[_API_KEY] = key


def api_key_of(request: web.Request) -> ApiKey:
    return request[_API_KEY]
