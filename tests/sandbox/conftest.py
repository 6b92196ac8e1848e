"""Fixtures for the sandbox tests: a running sandbox and a client that validates its answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from psa.connectwise.sandbox import SandboxServer

from .helpers import SPEC_FILE, CWClient, OpenApiSubset


@pytest.fixture(scope="session")
def openapi() -> OpenApiSubset:
    return OpenApiSubset(json.loads(SPEC_FILE.read_text(encoding="utf-8")))


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer(seed=7)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def cw(sandbox: SandboxServer, openapi: OpenApiSubset) -> AsyncIterator[CWClient]:
    # a fresh connection per request so a dropped connection never poisons the next call
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield CWClient(session, sandbox, openapi)
