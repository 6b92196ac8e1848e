"""Repositories round-trip on SQLite and PostgreSQL; constraints and tenant scoping hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from psa.types import ConnectionSettings
from storage.models import LedgerKind, LedgerState, PostLedger, PsaConnection, TicketLink
from storage.repositories import NewPost
from storage.store import Store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def settings(private: str = "private-key-abcdefghij") -> ConnectionSettings:
    return ConnectionSettings(
        provider="connectwise",
        site="na.myconnectwise.net",
        company_id="acme",
        public_key="public-key-1234",
        private_key=private,
        client_id="11111111-2222-3333-4444-555555555555",
    )


def post(account_id: int, key: str = "req-1", **over: object) -> NewPost:
    fields: dict[str, object] = {
        "account_id": account_id,
        "idempotency_key": key,
        "kind": LedgerKind.NOTE,
        "ticket_id": 48213,
        "platform": "slack",
        "chat_user_id": "U1",
        "chat_user_name": "Jane Doe",
        "give_up_at": NOW + timedelta(minutes=5),
        "conversation_key": "C1",
        "body": "Replaced the toner",
        "note_type": "internal",
    }
    fields.update(over)
    return NewPost(**fields)  # type: ignore[arg-type]


async def test_accounts_get_or_create_is_idempotent(store: Store) -> None:
    async with store.unit() as uow:
        a = await uow.accounts.get_or_create("slack", "T1", "Acme")
        b = await uow.accounts.get_or_create("slack", "T1")
        c = await uow.accounts.get_or_create("teams", "T1")
    assert a.id == b.id
    assert c.id != a.id


async def test_connection_round_trip_and_one_per_account(store: Store) -> None:
    async with store.unit() as uow:
        account = await uow.accounts.get_or_create("slack", "T1")
        await uow.connections.save(account.id, settings(), saved_by="U1")
    async with store.unit() as uow:
        row = await uow.connections.get(account.id)
        assert row is not None
        assert row.private_key_hint == "••••••ghij"
        assert uow.connections.settings_of(row) == settings()
        # Saving again replaces the one connection instead of adding a second.
        await uow.connections.save(account.id, settings("another-private-key-wxyz"), saved_by="U2")
    async with store.unit() as uow:
        row = await uow.connections.get(account.id)
        assert row is not None
        assert uow.connections.settings_of(row).private_key == "another-private-key-wxyz"
        assert row.created_by == "U1"
    with pytest.raises(IntegrityError):
        async with store.unit() as uow:
            await uow.session.execute(
                insert(PsaConnection).values(
                    account_id=account.id,
                    provider="connectwise",
                    site="x",
                    company_id="x",
                    client_id="x",
                    credentials="x",
                    public_key_hint="x",
                    private_key_hint="x",
                    created_by="x",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def test_links_one_per_conversation_and_per_account(store: Store) -> None:
    async with store.unit() as uow:
        a = await uow.accounts.get_or_create("slack", "T1")
        b = await uow.accounts.get_or_create("slack", "T2")
        await uow.links.set(
            a.id,
            "C1",
            channel_id="C1",
            thread_id=None,
            ticket_id=1,
            ticket_summary="x",
            linked_by="U1",
        )
        await uow.links.set(
            a.id,
            "C1",
            channel_id="C1",
            thread_id=None,
            ticket_id=2,
            ticket_summary="y",
            linked_by="U1",
        )
        # Same channel id in another workspace is a different conversation.
        await uow.links.set(
            b.id,
            "C1",
            channel_id="C1",
            thread_id=None,
            ticket_id=3,
            ticket_summary="z",
            linked_by="U9",
        )
    async with store.unit() as uow:
        link_a = await uow.links.get(a.id, "C1")
        link_b = await uow.links.get(b.id, "C1")
        assert link_a is not None and link_a.ticket_id == 2
        assert link_b is not None and link_b.ticket_id == 3
    with pytest.raises(IntegrityError):
        async with store.unit() as uow:
            await uow.session.execute(
                insert(TicketLink).values(
                    account_id=a.id,
                    conversation_key="C1",
                    channel_id="C1",
                    ticket_id=9,
                    ticket_summary="",
                    linked_by="",
                    created_at=NOW,
                )
            )
    async with store.unit() as uow:
        assert await uow.links.delete(a.id, "C1")
        assert await uow.links.get(a.id, "C1") is None
        assert await uow.links.get(b.id, "C1") is not None


async def test_mappings_and_owners_round_trip(store: Store) -> None:
    async with store.unit() as uow:
        a = await uow.accounts.get_or_create("teams", "tenant-1")
        await uow.mappings.set(
            a.id,
            "U1",
            chat_user_name="Jane",
            member_id=5,
            member_identifier="jdoe",
            member_name="Jane Doe",
            member_email="jane@example.com",
            mapped_by="U1",
        )
        await uow.mappings.set(
            a.id,
            "U1",
            chat_user_name="Jane",
            member_id=6,
            member_identifier="jdoe2",
            member_name="Jane Doe",
            member_email="jane@example.com",
            mapped_by="U1",
        )
        assert await uow.owners.add(a.id, "U1", "Jane")
        assert not await uow.owners.add(a.id, "U1", "Jane")
    async with store.unit() as uow:
        mapping = await uow.mappings.get(a.id, "U1")
        assert mapping is not None and mapping.member_identifier == "jdoe2"
        assert len(await uow.mappings.list(a.id)) == 1
        assert await uow.owners.is_owner(a.id, "U1")
        assert not await uow.owners.is_owner(a.id, "U2")
        assert await uow.owners.count(a.id) == 1


async def test_ledger_one_row_per_idempotency_key(store: Store) -> None:
    async with store.unit() as uow:
        a = await uow.accounts.get_or_create("slack", "T1")
        first, created = await uow.ledger.record_pending(post(a.id), NOW)
        again, created_again = await uow.ledger.record_pending(post(a.id, body="other"), NOW)
    assert created and not created_again
    assert again.id == first.id and again.body == "Replaced the toner"
    assert len(first.ref) == 8
    with pytest.raises(IntegrityError):
        async with store.unit() as uow:
            await uow.session.execute(
                insert(PostLedger).values(
                    account_id=a.id,
                    idempotency_key="req-1",
                    ref="x",
                    kind="note",
                    ticket_id=1,
                    platform="slack",
                    chat_user_id="U",
                    chat_user_name="",
                    body="",
                    state="pending",
                    attempts=0,
                    created_at=NOW,
                    updated_at=NOW,
                    next_attempt_at=NOW,
                    give_up_at=NOW,
                )
            )


async def test_ledger_claim_lease_and_settle(store: Store) -> None:
    lease = timedelta(seconds=30)
    async with store.unit() as uow:
        a = await uow.accounts.get_or_create("slack", "T1")
        row, _ = await uow.ledger.record_pending(post(a.id), NOW)
    async with store.unit() as uow:
        claimed = await uow.ledger.claim(row.id, "w1", NOW, lease)
        assert claimed is not None and claimed.attempts == 1
    async with store.unit() as uow:
        assert await uow.ledger.claim(row.id, "w2", NOW, lease) is None  # lease held
        assert await uow.ledger.claim_due("w2", NOW, lease) == []
        assert not await uow.ledger.mark_posted(row.id, "w2", "99", NOW)  # not the holder
    async with store.unit() as uow:
        # After the lease expires another worker may take over (a crashed process).
        later = NOW + timedelta(seconds=31)
        taken = await uow.ledger.claim_due("w2", later, lease)
        assert [r.id for r in taken] == [row.id] and taken[0].attempts == 2
        assert await uow.ledger.mark_posted(row.id, "w2", "99", later)
    async with store.unit() as uow:
        done = await uow.ledger.get(row.id)
        assert done is not None and done.state == LedgerState.POSTED.value
        assert done.psa_object_id == "99" and done.lease_owner is None
        assert not await uow.ledger.mark_failed(row.id, "w2", "x", "y", NOW)  # settled stays


async def test_ledger_history_is_per_account(store: Store) -> None:
    async with store.unit() as uow:
        a = await uow.accounts.get_or_create("slack", "T1")
        b = await uow.accounts.get_or_create("slack", "T2")
        for i in range(3):
            await uow.ledger.record_pending(post(a.id, f"a{i}"), NOW + timedelta(seconds=i))
        await uow.ledger.record_pending(post(b.id, "b0"), NOW)
    async with store.unit() as uow:
        rows = await uow.ledger.recent(a.id, conversation_key="C1")
        assert [r.idempotency_key for r in rows] == ["a2", "a1", "a0"]
        assert [r.idempotency_key for r in await uow.ledger.recent(b.id, ticket_id=48213)] == ["b0"]
        assert [r.idempotency_key for r in await uow.ledger.recent(b.id)] == ["b0"]


async def test_conversation_refs_round_trip(store: Store) -> None:
    async with store.unit() as uow:
        a = await uow.accounts.get_or_create("teams", "tenant")
        await uow.refs.save_reference(a.id, "19:c;messageid=1", "teams", '{"x": 1}')
        await uow.refs.set_history_thread(
            a.id, "19:c;messageid=1", "teams", thread_id="ts-1", ticket_id=5
        )
    async with store.unit() as uow:
        ref = await uow.refs.get(a.id, "19:c;messageid=1")
        assert ref is not None
        assert (ref.reference, ref.history_thread_id, ref.history_ticket_id) == (
            '{"x": 1}',
            "ts-1",
            5,
        )


async def test_claims_skip_rows_locked_by_another_transaction(pg_url: str) -> None:
    """On PostgreSQL a second worker's claim neither waits for nor takes the rows a first
    worker is claiming in a transaction that has not committed yet (FOR UPDATE SKIP LOCKED)."""
    import asyncio

    from storage import migrate
    from storage.crypto import CredentialCipher, generate_key
    from storage.engine import create_engine

    engine = create_engine(pg_url)
    await migrate.upgrade(engine)
    store = Store(engine, CredentialCipher([generate_key()]))
    lease = timedelta(seconds=30)
    try:
        async with store.unit() as uow:
            a = await uow.accounts.get_or_create("slack", "T1")
            for i in range(10):
                await uow.ledger.record_pending(post(a.id, f"k{i}"), NOW)
        first_claimed = asyncio.Event()
        release_first = asyncio.Event()

        async def first_worker() -> list[int]:
            async with store.unit() as uow:
                rows = await uow.ledger.claim_due("w1", NOW, lease, limit=5)
                first_claimed.set()
                await release_first.wait()  # hold the row locks, uncommitted
                return [r.id for r in rows]

        task = asyncio.create_task(first_worker())
        await first_claimed.wait()
        async with store.unit() as uow:
            second = await asyncio.wait_for(uow.ledger.claim_due("w2", NOW, lease, limit=5), 5)
        release_first.set()
        first = await task
        assert len(first) == 5 and len(second) == 5
        assert set(first).isdisjoint(r.id for r in second)
    finally:
        await store.aclose()


async def test_intake_records_a_batch_in_one_statement_and_spots_repeats(store: Store) -> None:
    from storage.repositories import NewIntake

    def item(key: str) -> NewIntake:
        return NewIntake("slack", "T1", key, '{"invocation": {}}', "{}")

    lease = timedelta(seconds=30)
    async with store.unit() as uow:
        first = await uow.intake.record_many(
            [(item("a"), "w1"), (item("b"), "w1"), (item("a"), "w2")], NOW, lease
        )
    assert [fresh for _, fresh, _ in first] == [True, True, False]
    assert first[0][0] == first[2][0] and first[0][0] != first[1][0]  # the repeat gets row a
    async with store.unit() as uow:
        await uow.intake.finish(first[1][0], "w1", NOW)
        again = await uow.intake.record_many([(item("b"), "w3"), (item("c"), "w3")], NOW, lease)
    assert again[0] == (first[1][0], False, True)  # stored before, and finished
    assert again[1][1] is True
