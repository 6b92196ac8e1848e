"""An endless `rel=next` or a 200 MB listing from one tenant's ConnectWise: a bounded number of
requests, a clear sentence for that tenant, and another tenant's note goes out meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import connect_account, open_runtime
from transcript import Chat

from psa.connectwise.client import MAX_PAGES
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer


@pytest.mark.parametrize("fault", ["endless_next", "oversized"])
async def test_one_tenants_endless_listing_delays_no_other_tenant(
    fault: str, sqlite_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    hostile = SandboxServer(latency_ms=40)
    await hostile.start()
    runtime = await open_runtime(
        sqlite_url, encryption_key, tmp_path / "d", cw_sandbox, also_allow=(hostile.host_port,)
    )
    try:
        await connect_account(runtime, hostile, "hostileco")
        await connect_account(runtime, cw_sandbox, "calmco")
        victim = Chat(runtime, workspace="hostileco")
        other = Chat(runtime, workspace="calmco")
        for chat in (victim, other):
            assert "Linked" in await chat.say(f"/ticket link {OPEN_TICKET_ID}")
            assert "jdoe" in await chat.say("/ticket map me")
        if fault == "endless_next":
            hostile.faults.configure(endless_next=True, listing_path_contains="/statuses")
        else:
            hostile.faults.configure(oversized_mb=200)
            hostile.faults.script(["oversized"], method="GET", path_contains="/statuses")
        hostile.requests.clear()
        finished: list[str] = []

        async def say(chat: Chat, line: str, name: str) -> str:
            out = await chat.say(line)
            finished.append(name)
            return out

        stuck, posted = await asyncio.gather(
            say(victim, "/ticket status waiting", "hostile"),
            say(other, "/ticket note Meanwhile at the calm tenant", "calm"),
        )
        assert "Note added" in posted
        assert finished[0] == "calm"  # the calm tenant did not wait for the hostile listing
        if fault == "endless_next":
            assert f"more than {MAX_PAGES} pages" in stuck
            listing_gets = [r for r in hostile.requests if "/statuses" in r.path]
            assert len(listing_gets) <= MAX_PAGES  # bounded: it stops at the page cap
        else:
            assert "larger than 4 MiB" in stuck and "narrow the search" in stuck, stuck
        assert "Something went wrong" not in stuck
    finally:
        await runtime.aclose()
        await hostile.stop()
