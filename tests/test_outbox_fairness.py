"""One tenant's slow ConnectWise delays no other tenant's notes in the background worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import connect_account, open_runtime
from test_exactly_once import jane_post

from psa.connectwise.sandbox import SandboxServer
from storage.base import utcnow
from storage.models import LedgerState


async def test_a_slow_account_delays_no_other_account(
    sqlite_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    slow = SandboxServer()
    await slow.start()
    runtime = await open_runtime(
        sqlite_url,
        encryption_key,
        tmp_path / "d",
        cw_sandbox,
        start=False,
        also_allow=(slow.host_port,),
    )
    try:
        await connect_account(runtime, slow, "slowco")
        await connect_account(runtime, cw_sandbox, "fastco")
        slow.faults.configure(latency_ms=1500)  # under the client's 2 s timeout
        now = utcnow()
        async with runtime.store.unit() as uow:
            slowco = await uow.accounts.find("shell", "slowco")
            fastco = await uow.accounts.find("shell", "fastco")
            assert slowco is not None and fastco is not None
            for n in range(8):  # as many as the worker has slots, all due first
                await uow.ledger.record_pending(
                    jane_post(slowco.id, f"slow-{n}", now, f"Slow tenant {n}"), now
                )
            fast, _ = await uow.ledger.record_pending(
                jane_post(fastco.id, "fast-1", now, "Fast tenant"), now
            )
        runtime.start()

        async def fast_posted() -> None:
            while True:
                async with runtime.store.unit() as uow:
                    row = await uow.ledger.get(fast.id)
                    assert row is not None
                    if row.state != LedgerState.PENDING.value:
                        return
                await asyncio.sleep(0.02)

        await asyncio.wait_for(fast_posted(), timeout=10)
        async with runtime.store.unit() as uow:
            assert (await uow.ledger.get(fast.id)).state == LedgerState.POSTED.value  # type: ignore[union-attr]
            slow_rows = await uow.ledger.recent(slowco.id, limit=20)
        # The fast tenant's note went out while every slow one was still waiting on its PSA.
        assert len(slow_rows) == 8
        assert all(r.state == LedgerState.PENDING.value for r in slow_rows)
        assert all(r.last_error is None for r in slow_rows)  # no attempt of theirs had ended
    finally:
        await runtime.aclose()
        await slow.stop()
