"""A request that waits its turn for a connection is not one that ConnectWise failed to answer:
only time on the wire counts against the timeout, so a burst never turns into "unconfirmed"
notes, and a site nobody can connect to is reported as "not sent"."""

from __future__ import annotations

import asyncio

import pytest
from test_connectwise_provider import make

from psa.connectwise import client as cw_client
from psa.connectwise.client import RetryPolicy
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.errors import NotSent, PSATimeout


async def test_a_burst_queues_for_connections_without_timing_out(
    cw_sandbox: SandboxServer,
) -> None:
    # three waves of requests on the 8 connections, each wave slower than half the timeout
    cw_sandbox.faults.configure(latency_ms=600)
    provider = make(cw_sandbox, RetryPolicy(attempts=1), timeout=1.0)  # no retry to hide it
    try:
        await provider.get_ticket(OPEN_TICKET_ID)  # resolve the base URL first
        tickets = await asyncio.gather(
            *(provider.get_ticket(OPEN_TICKET_ID) for _ in range(3 * cw_client.MAX_CONNECTIONS))
        )
    finally:
        await provider.aclose()
    assert all(t.id == OPEN_TICKET_ID for t in tickets)


async def test_a_request_slower_than_its_timeout_is_still_a_timeout(
    cw_sandbox: SandboxServer,
) -> None:
    provider = make(cw_sandbox, timeout=0.5)
    try:
        await provider.get_ticket(OPEN_TICKET_ID)
        cw_sandbox.faults.configure(latency_ms=1500)
        with pytest.raises(PSATimeout):
            await provider.get_ticket(OPEN_TICKET_ID)
    finally:
        await provider.aclose()


async def test_nobody_listening_is_not_sent(cw_sandbox: SandboxServer) -> None:
    provider = make(cw_sandbox)
    try:
        await provider.get_ticket(OPEN_TICKET_ID)
        await cw_sandbox.stop()
        with pytest.raises(NotSent):
            await provider.get_ticket(OPEN_TICKET_ID)
    finally:
        await provider.aclose()
