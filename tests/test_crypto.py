"""Credentials at rest: encryption, rotation, tamper detection, key file, nothing in clear."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from psa.types import ConnectionSettings
from storage import migrate
from storage.crypto import (
    CredentialCipher,
    CredentialDecryptError,
    InvalidEncryptionKey,
    generate_key,
    load_or_create_key_file,
    mask,
)
from storage.engine import create_engine
from storage.store import Store

PRIVATE = "Pr1vate-K3y-Nobody-Should-See-9xq"
PUBLIC = "PublicKey-7777"


def test_encrypt_with_newest_decrypt_with_any() -> None:
    old, new = generate_key(), generate_key()
    token_old = CredentialCipher([old]).encrypt(b"secret")
    both = CredentialCipher([new, old])
    assert both.decrypt(token_old) == b"secret"
    rotated = both.rotate(token_old)
    assert CredentialCipher([new]).decrypt(rotated) == b"secret"
    with pytest.raises(CredentialDecryptError):
        CredentialCipher([old]).decrypt(rotated)


def test_tampered_ciphertext_raises_clear_error() -> None:
    cipher = CredentialCipher([generate_key()])
    token = cipher.encrypt(b"secret")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(CredentialDecryptError, match="could not be decrypted"):
        cipher.decrypt(tampered)


def test_bad_key_is_reported_without_echoing_it() -> None:
    with pytest.raises(InvalidEncryptionKey) as info:
        CredentialCipher(["not-a-key-ABCDEF"])
    assert "not-a-key-ABCDEF" not in str(info.value)
    assert "#1" in str(info.value)


def test_mask_shows_only_the_tail() -> None:
    assert mask("abcdefghij") == "••••••ghij"
    assert mask("short") == "••••••"


def test_key_file_generated_once_with_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    with caplog.at_level(logging.WARNING):
        first = load_or_create_key_file(data)
    assert "generated an encryption key" in caplog.text
    assert first[0] not in caplog.text
    mode = stat.S_IMODE((data / "encryption.key").stat().st_mode)
    assert mode == 0o600
    assert load_or_create_key_file(data) == first
    CredentialCipher(first)  # a valid key


def _dump_all(conn: Connection) -> str:
    chunks: list[str] = []
    for table in inspect(conn).get_table_names():
        for row in conn.execute(text(f'SELECT * FROM "{table}"')):
            chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


async def _save_connection(store: Store) -> None:
    async with store.unit() as uow:
        account = await uow.accounts.get_or_create("slack", "T1")
        await uow.connections.save(
            account.id,
            ConnectionSettings("connectwise", "na.myconnectwise.net", "acme", PUBLIC, PRIVATE, "c"),
            saved_by="U1",
        )


async def test_private_key_not_in_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(engine)
    store = Store(engine, CredentialCipher([generate_key()]))
    await _save_connection(store)
    await store.aclose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite3*"))
    assert b"connectwise" in raw  # the row is there ...
    assert PRIVATE.encode() not in raw  # ... but not the key
    assert PUBLIC.encode() not in raw


async def test_private_key_not_in_postgres_tables(pg_url: str) -> None:
    engine = create_engine(pg_url)
    await migrate.upgrade(engine)
    store = Store(engine, CredentialCipher([generate_key()]))
    try:
        await _save_connection(store)
        async with engine.connect() as conn:
            dump = await conn.run_sync(_dump_all)
        assert "na.myconnectwise.net" in dump
        assert PRIVATE not in dump
        assert PUBLIC not in dump
    finally:
        await store.aclose()


async def test_rotate_all_re_encrypts_every_connection(store: Store) -> None:
    await _save_connection(store)
    new_key = generate_key()
    old_cipher = store.cipher
    store.cipher = CredentialCipher([new_key, *old_cipher_keys(old_cipher)])
    async with store.unit() as uow:
        assert await uow.connections.rotate_all() == 1
    store.cipher = CredentialCipher([new_key])
    async with store.unit() as uow:
        account = await uow.accounts.get_or_create("slack", "T1")
        row = await uow.connections.get(account.id)
        assert row is not None
        assert uow.connections.settings_of(row).private_key == PRIVATE


def old_cipher_keys(cipher: CredentialCipher) -> list[str]:
    return list(cipher.keys)


async def test_rotate_all_covers_slack_tokens(store: Store) -> None:
    from datetime import datetime

    from sqlalchemy import insert, select

    from storage.slack_tables import slack_bots

    old_token = store.cipher.encrypt(b"xoxb-secret-token")
    async with store.unit() as uow:
        await uow.session.execute(
            insert(slack_bots).values(
                client_id="1.2",
                app_id="A1",
                team_id="T1",
                bot_token=old_token,
                is_enterprise_install=False,
                installed_at=datetime(2026, 1, 1),
            )
        )
    new_key = generate_key()
    store.cipher = CredentialCipher([new_key, *store.cipher.keys])
    async with store.unit() as uow:
        assert await uow.slack_tokens.rotate_all() == 1
        stored = (await uow.session.execute(select(slack_bots.c.bot_token))).scalar_one()
    assert CredentialCipher([new_key]).decrypt(stored) == b"xoxb-secret-token"
