"""Whatever Retry-After ConnectWise (or a proxy) sends, a note is posted at most once and its
author is told the truth: no overflow, no "Something went wrong", no note posted after a
reported failure."""

from __future__ import annotations

import logging

import pytest
from transcript import linked_chat

from bot.runtime import Runtime
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from storage.models import LedgerState


@pytest.mark.parametrize("retry_after", ["inf", "1e12", "1000000000000", "-5", "soon", "nan"])
async def test_any_retry_after_gives_one_note_and_an_honest_reply(
    retry_after: str,
    sqlite_runtime: Runtime,
    cw_sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    chat = await linked_chat(sqlite_runtime, cw_sandbox)
    cw_sandbox.faults.configure(retry_after=retry_after)
    cw_sandbox.faults.script(["429"], method="POST", path_contains="/notes")
    text = f"Rate limited with Retry-After {retry_after}"
    out = await chat.say(f"/ticket note {text}")
    await sqlite_runtime.outbox.drain()
    landed = [n for n in cw_sandbox.state.notes_for(OPEN_TICKET_ID) if n["text"].startswith(text)]
    assert "Something went wrong" not in out
    assert not [r for r in caplog.records if r.exc_info], "no traceback logged"
    if "Note added" in out:
        assert len(landed) == 1
    else:  # told it failed, with the reason and the text: then nothing may land later
        assert "rate limiting" in out and f"> {text}" in out
        assert landed == []
    async with sqlite_runtime.store.unit() as uow:
        account = await uow.accounts.find("shell", "acme")
        assert account is not None
        row = (await uow.ledger.recent(account.id, limit=1))[0]
    assert row.state != LedgerState.PENDING.value  # settled, not left for later
