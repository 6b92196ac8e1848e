"""A note POST that ConnectWise applies long after psabot gave up on it is not posted twice.

The sandbox's `late_commit` fault holds the first note POST and applies it `write_apply_delay`
seconds after it arrived; psabot's client times out first. The outbox must wait out its settle
window before it looks for the note's reference, find it, and report it as added. The control
case (no settle window) shows the fault does double a note when nothing waits for it.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FAST_RETRY, make_settings
from transcript import linked_chat

from bot.runtime import OutboxTuning, Runtime
from psa.connectwise.hosts import HostPolicy
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.registry import ProviderRegistry
from storage import migrate
from storage.engine import create_engine

SLOW = os.environ.get("PSABOT_SLOW_TESTS") == "1"


async def _runtime(
    url: str, key: str, data: Path, sandbox: SandboxServer, *, timeout: float, settle: float
) -> Runtime:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    tuning = OutboxTuning(
        lease=timedelta(seconds=5),
        retry_window=timedelta(seconds=max(30.0, settle * 3)),
        settle_window=timedelta(seconds=settle),
        base_delay=0.05,
        max_delay=0.5,
        poll_interval=0.1,
    )
    runtime = await Runtime.open(
        make_settings(url, key, data),
        extra_allowed_hosts=[sandbox.host_port],
        tuning=tuning,
        registry=ProviderRegistry(
            HostPolicy([sandbox.host_port]), timeout=timeout, retry=FAST_RETRY
        ),
    )
    runtime.start()
    return runtime


async def _post_with_late_commit(
    url: str,
    key: str,
    data: Path,
    sandbox: SandboxServer,
    text: str,
    *,
    apply_after: float,
    timeout: float,
    settle: float,
) -> tuple[str, int]:
    runtime = await _runtime(url, key, data, sandbox, timeout=timeout, settle=settle)
    try:
        chat = await linked_chat(runtime, sandbox)
        sandbox.faults.configure(write_apply_delay=apply_after)
        sandbox.faults.script(["late_commit"], method="POST", path_contains="/notes")
        out = await chat.say(f"/ticket note {text}")
        deadline = asyncio.get_running_loop().time() + apply_after + 10
        while sandbox.context.late_writes:  # the held POST has landed, however late
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
    finally:
        await runtime.aclose()
    landed = [n for n in sandbox.state.notes_for(OPEN_TICKET_ID) if n["text"].startswith(text)]
    return out, len(landed)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_a_late_commit_is_found_not_posted_again(
    db_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    # default run: applied 3 s after arrival, the client gives up at 1.5 s, settle window 3 s;
    # PSABOT_SLOW_TESTS=1: applied 30 s after arrival, the shipped 15 s timeout and 120 s window
    apply_after, timeout, settle = (30.0, 15.0, 120.0) if SLOW else (3.0, 1.5, 3.0)
    out, landed = await _post_with_late_commit(
        db_url,
        encryption_key,
        tmp_path / "d",
        cw_sandbox,
        "Committed late",
        apply_after=apply_after,
        timeout=timeout,
        settle=settle,
    )
    assert landed == 1
    assert "Note added" in out
    assert "did not confirm" in out  # the author saw why it took a while


async def test_without_a_settle_window_the_same_fault_doubles_the_note(
    sqlite_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    """The control: the fault is real, and only the settle window keeps it from doubling."""
    _, landed = await _post_with_late_commit(
        sqlite_url,
        encryption_key,
        tmp_path / "d",
        cw_sandbox,
        "Doubled when hasty",
        apply_after=3.0,
        timeout=1.5,
        settle=0.0,
    )
    assert landed == 2
