"""No secret in any log record at any level: the redacting filter, and the real bot at DEBUG
taking a ConnectWise setup form with a bad signature and with a good one."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fake_slack import FakeSlack
from test_slack_e2e import ADMIN, SECRET, Bot, running_bot

from bot import logs
from psa.connectwise.sandbox import SandboxServer

BOT_TOKEN = "xoxb-single-token"


@pytest.fixture
def registry() -> logs.SecretRegistry:
    return logs.SecretRegistry()


def run_filter(registry: logs.SecretRegistry, record: logging.LogRecord) -> str | None:
    """The line a handler with the filter would write, or None when the record is dropped."""
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.addFilter(logs.RedactingFilter(registry))
    if not handler.filter(record):
        return None
    return handler.format(record)


def record(name: str, level: int, msg: str, *args: Any, exc: BaseException | None = None) -> Any:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_registered_values_are_redacted_in_message_arguments_and_tracebacks(
    registry: logs.SecretRegistry,
) -> None:
    registry.add("pk-Secret/Value+1=")
    registry.add_basic_auth("acme+pub", "priv-key-42")
    basic = base64.b64encode(b"acme+pub:priv-key-42").decode()
    try:
        raise RuntimeError("upstream said: Authorization: Basic " + basic)
    except RuntimeError as exc:
        error = exc
    lines = [
        run_filter(registry, record("psa", logging.INFO, "key=%s", "pk-Secret/Value+1=")),
        run_filter(registry, record("psa", logging.INFO, "form k=pk-Secret%2FValue%2B1%3D")),
        run_filter(registry, record("psa", logging.INFO, '{"k": "pk-Secret/Value+1="}')),
        run_filter(registry, record("psa", logging.ERROR, "failed", exc=error)),
        run_filter(registry, record("psa", logging.DEBUG, "password priv-key-42")),
    ]  # fmt: skip
    text = "\n".join(line or "" for line in lines)
    for secret in ("pk-Secret/Value+1=", "pk-Secret%2FValue%2B1%3D", "priv-key-42", basic):
        assert secret not in text
    assert text.count(logs.REDACTED) == 5
    assert "Traceback" in text  # the traceback is kept, only the value is gone


def test_short_values_are_not_registered(registry: logs.SecretRegistry) -> None:
    registry.add("ab")  # would redact every "ab" in every line
    registry.add(None)
    assert run_filter(registry, record("bot", logging.INFO, "tab about ab")) == "bot tab about ab"


def test_slack_library_debug_records_are_dropped(registry: logs.SecretRegistry) -> None:
    debug = record("slack_sdk.web.async_base_client", logging.DEBUG, "Sending a request - data: x")
    assert run_filter(registry, debug) is None
    bolt = record("slack_bolt.AsyncApp", logging.DEBUG, "body: {...}")
    assert run_filter(registry, bolt) is None
    warning = record("slack_sdk.socket_mode", logging.WARNING, "reconnecting")
    assert run_filter(registry, warning) == "slack_sdk.socket_mode reconnecting"


def test_install_puts_the_filter_on_every_root_handler() -> None:
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        installed = logs.install()
        assert installed in handler.filters
        logs.install()
        assert handler.filters.count(installed) == 1
    finally:
        root.removeHandler(handler)


def test_settings_secrets_and_every_encryption_key_are_registered() -> None:
    from bot.settings import Settings

    logs.add_settings(
        Settings(
            SLACK_SIGNING_SECRET="settings-signing-secret",
            SLACK_CLIENT_SECRET="settings-client-secret",
            PSABOT_ENCRYPTION_KEYS="first-fernet-key-value, second-fernet-key-value",
            PSABOT_DATABASE_URL="postgresql+asyncpg://psabot:db-pass%2Fword@db:5432/psabot",
        )
    )
    for value in (
        "db-pass/word",
        "settings-signing-secret",
        "settings-client-secret",
        "first-fernet-key-value",
        "second-fernet-key-value",
    ):
        assert value in logs.secrets


# -- the real bot, logging at DEBUG --------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_user(ADMIN, "Alice Admin", email="alice@example.com", admin=True)
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


@pytest.fixture
async def bot(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Bot]:
    # As `psabot serve` with PSABOT_LOG_LEVEL=DEBUG: logging is configured before the app is
    # built (bolt copies the root level into its loggers then), and the filter installed.
    caplog.set_level(logging.DEBUG)
    logs.install()
    async with running_bot(sqlite_url, encryption_key, tmp_path, cw_sandbox, fake) as started:
        yield started


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(r) + (r.exc_text or "") for r in caplog.records)


async def test_setup_form_with_bad_and_good_signature_logs_no_secret_at_debug(
    bot: Bot, caplog: pytest.LogCaptureFixture, encryption_key: str
) -> None:
    creds = bot.sandbox.credentials
    await bot.slack.command("connect", user=ADMIN)
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "connect")
    values = {
        "site": {"type": "plain_text_input", "value": bot.sandbox.host_port},
        "company_id": {"type": "plain_text_input", "value": creds.company_id},
        "public_key": {"type": "plain_text_input", "value": creds.public_key},
        "private_key": {"type": "plain_text_input", "value": creds.private_key},
        "client_id": {"type": "plain_text_input", "value": creds.client_id},
    }
    # A forged (or mis-signed) submission: refused, and its body — the keys — never logged.
    real_secret = bot.slack.secret
    bot.slack.secret = "not-the-signing-secret"
    status, _, _ = await bot.slack.submit(opened["view"], values, user=ADMIN, view_id="V-bad")
    bot.slack.secret = real_secret
    assert status == 401
    # The genuine one: tested against ConnectWise and saved.
    await bot.slack.submit(opened["view"], values, user=ADMIN, view_id="V-connect")
    await bot.fake.wait_call("views.update", lambda c: "Connected" in json.dumps(c["view"]))

    logged = everything_logged(caplog)
    assert "slack request rejected reason=bad_signature" in logged  # the one line it leaves
    basic = base64.b64encode(
        f"{creds.company_id}+{creds.public_key}:{creds.private_key}".encode()
    ).decode()
    leaks = {
        "ConnectWise private key": creds.private_key,
        "ConnectWise public key": creds.public_key,
        "Basic-auth value": basic,
        "Slack signing secret": SECRET,
        "Slack bot token": BOT_TOKEN,
        "Fernet key": encryption_key,
    }
    assert {name for name, value in leaks.items() if value in logged} == set()
    assert len(caplog.records) > 50  # DEBUG really was on (the database logs every statement)


async def test_connectwise_keys_are_registered_once_a_provider_is_built(
    sqlite_runtime: Any, cw_sandbox: SandboxServer
) -> None:
    """The keys of every connection the bot uses, and their Basic-auth form, are redacted."""
    from conftest import connect_account

    from bot.core.context import provider_for_account

    logs.secrets.clear()
    await connect_account(sqlite_runtime, cw_sandbox)
    async with sqlite_runtime.store.unit() as uow:
        account = await uow.accounts.find("shell", "acme")
    await provider_for_account(sqlite_runtime.services, account.id)
    creds = cw_sandbox.credentials
    basic = base64.b64encode(
        f"{creds.company_id}+{creds.public_key}:{creds.private_key}".encode()
    ).decode()
    line = run_filter(
        logs.secrets,
        record(
            "psa",
            logging.DEBUG,
            "auth %s key %s pub %s",
            basic,
            creds.private_key,
            creds.public_key,
        ),
    )
    assert line is not None
    for secret in (basic, creds.private_key, creds.public_key):
        assert secret not in line
