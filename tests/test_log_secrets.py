"""No secret in any log record at any level: the redacting filter, and the real bot at DEBUG
taking a ConnectWise setup form with a bad signature and with a good one."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bot_process import CHANNEL, TEAM, BotProcess
from campaign import report
from fake_connector import FakeConnector, Person, TeamsSender
from fake_slack import FakeSlack, SlackSender
from test_slack_e2e import ADMIN, SECRET, Bot, running_bot

from bot import logs
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.connectwise.sandbox.auth import ApiKey
from psa.connectwise.sandbox.catalog import API_MEMBER_IDENTIFIER
from psa.connectwise.sandbox.server import DEMO_CLIENT_ID
from storage import migrate
from storage.crypto import generate_key
from storage.engine import create_engine

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


# -- the campaign: `psabot serve` at DEBUG over a full run, stdout and stderr captured --------


@dataclass
class Secrets:
    """Every secret the run handles, each one of its own (so any hit is a leak)."""

    cw_public: str = field(default_factory=lambda: "pub" + secrets.token_hex(8))
    cw_private: str = field(default_factory=lambda: "priv" + secrets.token_hex(8))
    cw_wrong_private: str = field(default_factory=lambda: "typo" + secrets.token_hex(8))
    bot_token: str = field(default_factory=lambda: "xoxb-" + secrets.token_hex(12))
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    app_password: str = field(default_factory=lambda: "pw~" + secrets.token_hex(12))
    fernet_old: str = field(default_factory=generate_key)
    fernet_new: str = field(default_factory=generate_key)

    def named(self, company_id: str) -> dict[str, str]:
        basic = base64.b64encode(
            f"{company_id}+{self.cw_public}:{self.cw_private}".encode()
        ).decode()
        return {
            "ConnectWise public key": self.cw_public,
            "ConnectWise private key": self.cw_private,
            "a mistyped ConnectWise private key": self.cw_wrong_private,
            "Basic-auth value": basic,
            "Basic-auth header": f"Basic {basic}",
            "Slack bot token": self.bot_token,
            "Slack signing secret": self.signing_secret,
            "Teams app password": self.app_password,
            "Fernet key (current)": self.fernet_new,
            "Fernet key (previous)": self.fernet_old,
        }


async def settled(fake: FakeSlack, connector: FakeConnector, quiet: float = 0.2) -> None:
    """Until nothing new reached Slack or Teams for `quiet` seconds (at most 15 s)."""
    deadline = time.monotonic() + 15
    seen = -1
    while time.monotonic() < deadline:
        now = len(fake.calls) + len(fake.hooks) + len(connector.calls)
        if now == seen:
            return
        seen = now
        await asyncio.sleep(quiet)


async def drained(bot: BotProcess, timeout: float) -> None:
    """Until the process has no stored write or ledger row left (its /metrics says so)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(bot.url + "/metrics") as resp:
                text = await resp.text()
            pending = [
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith(("psabot_ledger_pending ", "psabot_intake_pending "))
            ]
            if pending and not any(pending):
                return
            await asyncio.sleep(0.2)


def form_values(site: str, company: str, public: str, private: str) -> dict[str, Any]:
    fields = {"site": site, "company_id": company, "public_key": public, "private_key": private}
    fields["client_id"] = DEMO_CLIENT_ID
    return {k: {"type": "plain_text_input", "value": v} for k, v in fields.items()}


async def slack_run(
    sender: SlackSender,
    fake: FakeSlack,
    sandbox: SandboxServer,
    s: Secrets,
    connector: FakeConnector,
    notes: int,
    bot: BotProcess,
) -> int:
    """Every kind of Slack request psabot takes; returns how many were sent."""
    sent = 0
    company = sandbox.credentials.company_id
    await sender.command("connect", user=ADMIN)
    opened = await fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "connect")
    for private, view_id in ((s.cw_wrong_private, "V-wrong"), (s.cw_private, "V-right")):
        values = form_values(sandbox.host_port, company, s.cw_public, private)
        await sender.submit(opened["view"], values, user=ADMIN, view_id=view_id)
        await settled(fake, connector)
        sent += 1
    for line in (
        "help",
        "settings",
        "owners",
        f"link {OPEN_TICKET_ID}",
        "show",
        "map me",
        "mappings",
        "note a first note",
        "status",
        "search printer",
        "history",
        f"history {OPEN_TICKET_ID}",
        "home",
        "note",
    ):
        await sender.command(line, user=ADMIN, channel=CHANNEL)
        await settled(fake, connector, quiet=0.15)  # in order: link, then map, then note
        sent += 1
    note_form = fake.api("views.open")[-1]["view"]
    text_block = next(b for b in note_form["blocks"] if b.get("type") == "input")
    await sender.submit(
        note_form,
        {text_block["block_id"]: {"type": "plain_text_input", "value": "from the note form"}},
        user=ADMIN,
        view_id="V-note",
    )
    await sender.click("note_open", str(OPEN_TICKET_ID), user=ADMIN, channel=CHANNEL)
    await sender.shortcut("a message to post", user=ADMIN, channel=CHANNEL)
    await sender.event({"type": "app_home_opened", "user": ADMIN, "tab": "home", "channel": "D1"})
    sent += 4
    # A forged request, and a failing ConnectWise: errors, rate limits, timeouts, dropped
    # connections and a proxy page that echoes the Authorization header back.
    sender.secret, real = "forged-" + s.signing_secret[:4], sender.secret
    await sender.command("note forged", user=ADMIN, channel=CHANNEL)
    sender.secret = real
    sandbox.faults.configure(
        rate_500=0.05,
        rate_429=0.05,
        rate_timeout=0.05,
        rate_drop=0.05,
        retry_after="1",
        hang_seconds=3.0,
    )
    for i in range(notes):
        kind = ("echo_headers", "500", "429", "drop_after_write")[i % 4]
        sandbox.faults.script([kind], method="POST", path_contains="/notes")
        await sender.command(f"note failing {i}", user=ADMIN, channel=CHANNEL)
        await settled(fake, connector, quiet=0.15)  # one scripted fault per note
    sandbox.faults.script(["echo_headers"], method="GET")
    await sender.command("search printer", user=ADMIN, channel=CHANNEL)
    sent += notes + 2
    await drained(bot, timeout=60 + notes)  # every failing note retried to its end
    await settled(fake, connector)
    sandbox.faults.clear()
    return sent


async def teams_run(
    sender: TeamsSender,
    connector: FakeConnector,
    sandbox: SandboxServer,
    s: Secrets,
    fake: FakeSlack,
) -> int:
    """The Teams side: the setup dialog (keys typed into a Teams form), commands, a note."""
    from test_teams_e2e import dialog_card, opener_data, submit_data

    person = TEAMS_OWNER
    activity = sender.message(person, TEAMS_CONVERSATION, "connect")
    await sender.send(activity)
    card = await connector.wait_post(
        lambda c: c.activity_id == activity["id"] and "⏳" not in c.text
    )
    _, answer = await sender.send(
        sender.invoke(person, TEAMS_CONVERSATION, "task/fetch", {"data": opener_data(card)})
    )
    dialog = dialog_card(answer)
    values = {
        "site": sandbox.host_port,
        "company_id": sandbox.credentials.company_id,
        "public_key": s.cw_public,
        "private_key": s.cw_private,
        "client_id": DEMO_CLIENT_ID,
    }
    data = submit_data(dialog, **values)
    await sender.send(sender.invoke(person, TEAMS_CONVERSATION, "task/submit", {"data": data}))
    sent = 3
    for line in (
        "help",
        f"link {OPEN_TICKET_ID}",
        "map me",
        "note from Teams",
        "settings",
        "search printer",
    ):
        await sender.send(sender.message(person, TEAMS_CONVERSATION, line))
        await settled(fake, connector)
        sent += 1
    return sent


TEAMS_CONVERSATION = "19:logs@thread.tacv2"
TEAMS_OWNER = Person("29:owner", "aad-owner-1", "Jane Doe", "jane.doe@example.com")


async def serve_at_debug(db_url: str, tmp_path: Path, *, notes: int, name: str) -> None:
    s = Secrets()
    sandbox = SandboxServer(
        api_keys=[ApiKey(s.cw_public, s.cw_private, API_MEMBER_IDENTIFIER, full_access=True)]
    )
    fake, connector = FakeSlack(), FakeConnector()
    fake.add_user(ADMIN, "Jane Doe", email="jane.doe@example.com", admin=True)
    connector.add_person(TEAMS_OWNER)
    await sandbox.start()
    await fake.start()
    await connector.start()
    engine = create_engine(db_url)
    await migrate.upgrade(engine)  # `psabot migrate`, as an operator runs it
    await engine.dispose()
    bot = BotProcess(
        {
            "PSABOT_DATABASE_URL": db_url,
            # rotated keys: the new one encrypts, the old one still decrypts
            "PSABOT_ENCRYPTION_KEYS": f"{s.fernet_new},{s.fernet_old}",
            "PSABOT_DATA_DIR": str(tmp_path / "data"),
            "PSABOT_CW_ALLOWED_HOSTS": sandbox.host_port,
            "PSABOT_LOG_LEVEL": "DEBUG",
            "SLACK_SIGNING_SECRET": s.signing_secret,
            "SLACK_BOT_TOKEN": s.bot_token,
            "SLACK_API_URL": fake.api_url,
            "MICROSOFT_APP_PASSWORD": s.app_password,
            "PSABOT_SETTLE_SECONDS": "0.5",
        },
        tmp_path,
        name="debug",
    )
    try:
        await bot.start()
        slack_sender = SlackSender(bot.url, s.signing_secret, fake, team=TEAM)
        sent = await slack_run(slack_sender, fake, sandbox, s, connector, notes, bot)
        sent += await teams_run(TeamsSender(bot.url, connector), connector, sandbox, s, fake)
    finally:
        bot.stop()
        await connector.stop()
        await fake.stop()
        await sandbox.stop()
    logged = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("debug-*.log"))
    leaks = sorted(
        what for what, value in s.named(sandbox.credentials.company_id).items() if value in logged
    )
    faults = sum(1 for r in sandbox.requests.records if r.fault)
    report(
        name,
        database=db_url.split("+")[0],
        requests_sent=sent,
        log_lines=logged.count("\n"),
        debug_lines=logged.count("level=DEBUG"),
        connectwise_requests=len(sandbox.requests),
        faults_injected=faults,
        secrets_checked=len(s.named("")),
        leaks=leaks,
    )
    assert leaks == [], leaks
    assert logged.count("level=DEBUG") > 50, "DEBUG was not on"
    assert "Connected" in fake.everything_sent() and "Note added" in fake.everything_sent()
    assert "Note added" in connector.everything_sent()
    assert faults >= notes


async def test_serve_at_debug_over_a_full_run_logs_no_secret(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The fast variant on SQLite (its driver logs every statement at DEBUG); the long one
    runs on both databases."""
    await serve_at_debug(sqlite_url, tmp_path, notes=8, name="log capture at DEBUG (fast)")


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_serve_at_debug_over_a_long_failing_run_logs_no_secret(
    db_url: str, tmp_path: Path
) -> None:
    await serve_at_debug(db_url, tmp_path, notes=200, name="log capture at DEBUG")
