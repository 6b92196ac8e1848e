"""Nothing lost, nothing doubled: idempotency keys, dropped connections, restarts, faults."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from conftest import FAST_OUTBOX, connect_account, open_runtime
from transcript import Chat

from bot.core.invocation import ChatUser, Command, Conversation, Invocation, Platform
from bot.runtime import OutboxTuning, Runtime
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from storage.base import utcnow
from storage.models import LedgerKind, LedgerState
from storage.repositories import NewPost

JANE = ChatUser(id="jane.doe", name="Jane Doe", email="jane.doe@example.com")


def note_invocation(text: str, key: str) -> Invocation:
    return Invocation(
        platform=Platform.SHELL,
        account_external_id="acme",
        user=JANE,
        conversation=Conversation("general"),
        action=Command(f"note {text}"),
        idempotency_key=key,
    )


def jane_post(account_id: int, key: str, now: datetime, body: str = "", **over: object) -> NewPost:
    """A ledger row as Jane (mapped to jdoe, member 142) would leave it for ticket 48213."""
    fields: dict[str, object] = {
        "account_id": account_id,
        "idempotency_key": key,
        "kind": LedgerKind.NOTE,
        "ticket_id": OPEN_TICKET_ID,
        "platform": "shell",
        "chat_user_id": "jane.doe",
        "chat_user_name": "Jane Doe",
        "give_up_at": now + timedelta(minutes=5),
        "conversation_key": "general",
        "member_id": 142,
        "member_identifier": "jdoe",
        "note_type": "internal",
        "body": body,
    }
    fields.update(over)
    return NewPost(**fields)  # type: ignore[arg-type]


def notes_starting(sandbox: SandboxServer, text: str) -> list[dict[str, object]]:
    return [n for n in sandbox.state.notes_for(OPEN_TICKET_ID) if str(n["text"]).startswith(text)]


async def _prepare(runtime: Runtime, sandbox: SandboxServer) -> None:
    await connect_account(runtime, sandbox)
    chat = Chat(runtime)
    assert "Linked" in await chat.say(f"link {OPEN_TICKET_ID}")
    assert "jdoe" in await chat.say("map me")


async def _ledger_rows(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    async with runtime.store.unit() as uow:
        account = await uow.accounts.find("shell", "acme")
        assert account is not None
        rows = await uow.ledger.recent(account.id, limit=1000)
    return [(r.body, r.state, r.psa_object_id) for r in rows]


async def test_same_idempotency_key_posts_once(runtime: Runtime, cw_sandbox: SandboxServer) -> None:
    await _prepare(runtime, cw_sandbox)
    first = await runtime.dispatcher.handle(note_invocation("Same request", "slack-req-1"))
    again = await runtime.dispatcher.handle(note_invocation("Same request", "slack-req-1"))
    both = await asyncio.gather(
        runtime.dispatcher.handle(note_invocation("Concurrent", "slack-req-2")),
        runtime.dispatcher.handle(note_invocation("Concurrent", "slack-req-2")),
    )
    assert "Note added" in first.text
    assert "already handled; nothing was posted twice" in again.text
    assert all("Note added" in r.text for r in both)
    assert len(notes_starting(cw_sandbox, "Same request")) == 1
    assert len(notes_starting(cw_sandbox, "Concurrent")) == 1


async def test_accepted_then_dropped_then_restart_posts_exactly_once(
    db_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    # The first process's retry comes too late: it is "killed" before trying again.
    slow = OutboxTuning(
        lease=timedelta(seconds=1),
        retry_window=timedelta(minutes=5),
        settle_window=timedelta(seconds=0.2),
        base_delay=30.0,
        max_delay=30.0,
        poll_interval=30.0,
    )
    first = await open_runtime(db_url, encryption_key, tmp_path / "d", cw_sandbox, tuning=slow)
    await _prepare(first, cw_sandbox)
    cw_sandbox.faults.script(["drop_after_write"], method="POST", path_contains="/notes")
    handler = asyncio.create_task(
        first.dispatcher.handle(note_invocation("Dropped reply", "req-drop"))
    )

    async def row_rescheduled() -> None:
        while True:
            rows = await _ledger_rows(first)
            if rows and rows[0][0] == "Dropped reply":
                async with first.store.unit() as uow:
                    account = await uow.accounts.find("shell", "acme")
                    assert account is not None
                    row = (await uow.ledger.recent(account.id))[0]
                if row.attempts == 1 and row.lease_owner is None and row.last_error:
                    return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(row_rescheduled(), timeout=10)
    handler.cancel()
    await first.aclose()  # the process dies with the row pending, outcome unknown
    assert len(notes_starting(cw_sandbox, "Dropped reply")) == 1  # ConnectWise has it

    second = await open_runtime(
        db_url, encryption_key, tmp_path / "d", cw_sandbox, start=False, tuning=FAST_OUTBOX
    )
    try:
        # Make the row due now instead of in 30 s, as if the restart happened later.
        async with second.store.unit() as uow:
            account = await uow.accounts.find("shell", "acme")
            assert account is not None
            row = (await uow.ledger.recent(account.id))[0]
            row.next_attempt_at = utcnow()
        second.start()

        async def settled() -> list[tuple[str, str, str | None]]:
            while (rows := await _ledger_rows(second))[0][1] == LedgerState.PENDING.value:
                await asyncio.sleep(0.02)
            return rows

        rows = await asyncio.wait_for(settled(), timeout=10)
    finally:
        await second.aclose()
    notes = notes_starting(cw_sandbox, "Dropped reply")
    assert len(notes) == 1
    assert rows[0] == ("Dropped reply", LedgerState.POSTED.value, str(notes[0]["id"]))


async def test_killed_mid_request_is_recovered_by_lease_expiry(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    """A worker claimed the row and sent the note, then died holding the lease."""
    await _prepare(sqlite_runtime, cw_sandbox)
    await sqlite_runtime.outbox.stop()
    now = utcnow()
    async with sqlite_runtime.store.unit() as uow:
        account = await uow.accounts.find("shell", "acme")
        assert account is not None
        mapping = await uow.mappings.get(account.id, "jane.doe")
        assert mapping is not None
        row, _ = await uow.ledger.record_pending(
            jane_post(
                account.id,
                "req-killed",
                now,
                "Killed worker",
                member_id=mapping.member_id,
                member_identifier=mapping.member_identifier,
            ),
            now,
        )
        claimed = await uow.ledger.claim(row.id, "dead-worker", now, timedelta(seconds=0.3))
        assert claimed is not None
    from bot.outbox import compose_note
    from psa.types import NoteType

    provider = await sqlite_runtime.dispatcher.services.registry.for_account(
        str(account.id), await _settings(sqlite_runtime, account.id)
    )
    await provider.post_note(OPEN_TICKET_ID, compose_note(claimed), NoteType.INTERNAL, None)
    sqlite_runtime.outbox.start()

    async def settled() -> str:
        while True:
            async with sqlite_runtime.store.unit() as uow:
                fresh = await uow.ledger.get(row.id)
            assert fresh is not None
            if fresh.state != LedgerState.PENDING.value:
                return fresh.state
            await asyncio.sleep(0.05)

    assert await asyncio.wait_for(settled(), timeout=10) == LedgerState.POSTED.value
    assert len(notes_starting(cw_sandbox, "Killed worker")) == 1


async def _settings(runtime: Runtime, account_id: int):  # type: ignore[no-untyped-def]
    async with runtime.store.unit() as uow:
        row = await uow.connections.get(account_id)
        assert row is not None
        return uow.connections.settings_of(row)


async def test_hundred_notes_under_429_and_500(runtime: Runtime, cw_sandbox: SandboxServer) -> None:
    await _prepare(runtime, cw_sandbox)
    cw_sandbox.faults.configure(rate_429=0.1, rate_500=0.1, retry_after=0)
    slots = asyncio.Semaphore(10)

    async def one(i: int) -> str:
        async with slots:
            reply = await runtime.dispatcher.handle(note_invocation(f"Campaign {i:03d}", f"c{i}"))
            return reply.text

    replies = await asyncio.gather(*(one(i) for i in range(100)))
    rows = {body: state for body, state, _ in await _ledger_rows(runtime)}
    for i, text in enumerate(replies):
        body = f"Campaign {i:03d}"
        count = len(notes_starting(cw_sandbox, body + "\n"))
        if "Note added" in text:
            assert count == 1, body
            assert rows[body] == LedgerState.POSTED.value
        else:
            assert "NOT added" in text
            assert count == 0, body
            assert rows[body] == LedgerState.FAILED.value
    posted = sum("Note added" in t for t in replies)
    assert posted >= 95  # with retries nearly everything gets through
    faults = [r for r in cw_sandbox.requests.records if r.status in (429, 500)]
    assert len(faults) > 10  # the faults really happened


async def test_two_workers_on_postgres_post_each_note_once(
    pg_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    setup = await open_runtime(pg_url, encryption_key, tmp_path / "a", cw_sandbox, start=False)
    await _prepare(setup, cw_sandbox)
    now = utcnow()
    async with setup.store.unit() as uow:
        account = await uow.accounts.find("shell", "acme")
        assert account is not None
        for i in range(40):
            await uow.ledger.record_pending(
                jane_post(account.id, f"w{i}", now, f"Worker note {i:02d}"),
                now,
            )
    await setup.aclose()
    cw_sandbox.faults.configure(latency_ms=20)  # keep both workers busy at the same time
    workers = [
        await open_runtime(pg_url, encryption_key, tmp_path / n, cw_sandbox, start=False)
        for n in ("w1", "w2")
    ]
    try:

        async def drain(rt: Runtime) -> int:
            total = 0
            while n := await rt.outbox.run_due_once():
                total += n
            return total

        done = await asyncio.gather(*(drain(w) for w in workers))
        assert sum(done) == 40
        async with workers[0].store.unit() as uow:
            rows = await uow.ledger.recent(account.id, limit=100)
        assert all(r.state == LedgerState.POSTED.value for r in rows)
        assert all(r.attempts == 1 for r in rows)  # no row was claimed twice
    finally:
        for w in workers:
            await w.aclose()
    for i in range(40):
        assert len(notes_starting(cw_sandbox, f"Worker note {i:02d}\n")) == 1


async def test_serve_re_drives_pending_rows_on_start(
    sqlite_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    """A row left pending by a process that died is posted by the next `psabot serve`."""
    from aiohttp import web
    from conftest import make_settings

    from bot.app import RUNTIME, create_app

    setup = await open_runtime(sqlite_url, encryption_key, tmp_path / "d", cw_sandbox, start=False)
    await _prepare(setup, cw_sandbox)
    await setup.outbox.stop()
    now = utcnow()
    async with setup.store.unit() as uow:
        account = await uow.accounts.find("shell", "acme")
        assert account is not None
        await uow.ledger.record_pending(
            jane_post(account.id, "left-behind", now, "Left behind by a crash"),
            now,
        )
    await setup.aclose()
    settings = make_settings(sqlite_url, encryption_key, tmp_path / "d")
    settings.cw_allowed_hosts = cw_sandbox.host_port
    runner = web.AppRunner(create_app(settings, tuning=FAST_OUTBOX), access_log=None)
    await runner.setup()
    try:
        runtime = runner.app[RUNTIME]

        async def posted() -> None:
            while await _ledger_rows(runtime) and (await _ledger_rows(runtime))[0][1] != "posted":
                await asyncio.sleep(0.05)

        await asyncio.wait_for(posted(), timeout=10)
    finally:
        await runner.cleanup()
    assert len(notes_starting(cw_sandbox, "Left behind by a crash")) == 1


async def test_a_slow_attempt_keeps_its_lease(
    sqlite_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer
) -> None:
    """ConnectWise slower than the lease: the attempt extends its lease, so the background
    worker (polling every 50 ms) never takes the row over and posts a second note."""
    short = OutboxTuning(
        lease=timedelta(seconds=0.3),
        retry_window=timedelta(seconds=20),
        settle_window=timedelta(seconds=0.2),
        base_delay=0.02,
        max_delay=0.1,
        poll_interval=0.05,
    )
    runtime = await open_runtime(
        sqlite_url, encryption_key, tmp_path / "d", cw_sandbox, tuning=short
    )
    try:
        await _prepare(runtime, cw_sandbox)
        cw_sandbox.faults.configure(latency_ms=1200)
        reply = await asyncio.wait_for(
            runtime.dispatcher.handle(note_invocation("Slow but once", "slow-1")), timeout=15
        )
        assert "Note added" in reply.text
        async with runtime.store.unit() as uow:
            account = await uow.accounts.find("shell", "acme")
            assert account is not None
            row = (await uow.ledger.recent(account.id))[0]
        assert row.attempts == 1 and row.state == LedgerState.POSTED.value
    finally:
        await runtime.aclose()
    assert len(notes_starting(cw_sandbox, "Slow but once")) == 1


async def test_a_retried_status_change_never_undoes_a_change_made_meanwhile(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    await _prepare(sqlite_runtime, cw_sandbox)
    await sqlite_runtime.outbox.stop()
    now = utcnow()

    async def retried_status_change(key: str) -> int:
        """A status row whose first attempt (In Progress → Scheduled) had an unknown end."""
        async with sqlite_runtime.store.unit() as uow:
            account = await uow.accounts.find("shell", "acme")
            assert account is not None
            row, _ = await uow.ledger.record_pending(
                jane_post(
                    account.id,
                    key,
                    now,
                    kind=LedgerKind.STATUS,
                    note_type=None,
                    status_id=5,
                    status_name="Scheduled",
                    previous_status_id=3,
                ),
                now,
            )
            row.attempts = 1
        return row.id

    async def settle(ledger_id: int) -> tuple[str, str | None]:
        while await sqlite_runtime.outbox.run_due_once():
            pass
        async with sqlite_runtime.store.unit() as uow:
            row = await uow.ledger.get(ledger_id)
            assert row is not None
            return row.state, row.last_error

    # Someone moved the ticket to Waiting on Customer meanwhile: left alone, reported.
    cw_sandbox.state.patch_ticket(
        OPEN_TICKET_ID, [{"op": "replace", "path": "status", "value": {"id": 4}}], "someone"
    )
    state, error = await settle(await retried_status_change("st-1"))
    assert state == LedgerState.FAILED.value
    assert error is not None and "changed to Waiting on Customer in ConnectWise meanwhile" in error
    assert cw_sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"] == "Waiting on Customer"
    # The first attempt had in fact gone through: settled as posted, nothing sent again.
    cw_sandbox.state.patch_ticket(
        OPEN_TICKET_ID, [{"op": "replace", "path": "status", "value": {"id": 5}}], "psabot"
    )
    cw_sandbox.requests.clear()
    state, _ = await settle(await retried_status_change("st-2"))
    assert state == LedgerState.POSTED.value
    assert [r.method for r in cw_sandbox.requests.records if "/apis/" in r.path] == ["GET"]
