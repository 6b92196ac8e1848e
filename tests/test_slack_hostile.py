"""Hostile and broken requests against the real /slack/events: 4xx with one log line, never a
500 or a traceback; rejections logged rate-limited; replies never POSTed outside Slack."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from aiohttp import web
from fake_slack import FakeSlack, hook_text, load
from test_slack_e2e import ADMIN, TECH, Bot, running_bot

from bot import logs
from bot.slack.gate import MAX_BODY, REJECT_LOG_WINDOW
from bot.slack.replies import response_url_allowed
from psa.connectwise.sandbox import SandboxServer

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TS, SIG = "X-Slack-Request-Timestamp", "X-Slack-Signature"
STALE = str(int(time.time()) - 600)
EVENT_NO_TYPE = b'{"type":"event_callback","team_id":"T111","event":{}}'
MB = 1024 * 1024


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_user(ADMIN, "Alice Admin", email="alice@example.com", admin=True)
    slack.add_user(TECH, "Jane Doe", email="jane.doe@example.com")
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
    caplog.set_level(logging.DEBUG)  # before the app is built: bolt copies the level then
    async with running_bot(sqlite_url, encryption_key, tmp_path, cw_sandbox, fake) as started:
        yield started


def interactive(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def actions_as_string() -> bytes:
    payload = load("block_actions.json")
    payload["actions"] = "approve"
    return interactive(payload)


def view_without_type() -> bytes:
    payload = load("view_submission.json")
    del payload["view"]["type"]
    return interactive(payload)


def team_as_number() -> bytes:
    payload = load("block_actions.json")
    payload["team"] = 7
    return interactive(payload)


# name → (body, content type, header overrides, status when signed, status when not signed)
CASES: dict[str, tuple[bytes, str, dict[str, str], int, int]] = {
    "broken JSON": (b"payload=%7Bbroken", FORM, {}, 400, 401),
    "payload null": (b"payload=null", FORM, {}, 400, 401),
    "payload list": (b"payload=%5B%5D", FORM, {}, 400, 401),
    "invalid UTF-8": (b"payload=\xff\xfe\xfa", FORM, {}, 400, 401),
    "actions as a string": (actions_as_string(), FORM, {}, 400, 401),
    "view without type": (view_without_type(), FORM, {}, 400, 401),
    "team as a number": (team_as_number(), FORM, {}, 400, 401),
    "nested 50k deep": (b"payload=" + b"%5B" * 50_000, FORM, {}, 400, 401),
    "JSON null event body": (b"null", JSON, {}, 400, 401),
    "event without type": (EVENT_NO_TYPE, JSON, {}, 400, 401),
    "command without user": (b"command=%2Fticket&team_id=T111&text=help", FORM, {}, 400, 401),
    "plain text": (b"hello", "text/plain", {}, 400, 401),
    "form that looks like JSON": (b"{=1&command=%2Fticket", FORM, {}, 400, 401),
    "timestamp abc": (b"command=%2Fticket", FORM, {TS: "abc"}, 401, 401),
    "no headers": (b"command=%2Fticket", FORM, {TS: "", SIG: ""}, 401, 401),
    "stale timestamp": (b"command=%2Fticket", FORM, {TS: STALE}, 401, 401),
    "huge body": (b"payload=" + b"a" * (MAX_BODY + 1), FORM, {}, 413, 413),
}  # fmt: skip


def problems(records: list[logging.LogRecord]) -> list[str]:
    """A traceback at INFO and above, or more than one line at INFO and above."""
    found = [
        r.getMessage()
        for r in records
        if (r.exc_info or r.exc_text or r.stack_info) and r.levelno >= logging.INFO
    ]
    loud = [r for r in records if r.levelno >= logging.INFO]
    if len(loud) != 1:
        found.append(f"{len(loud)} lines at INFO and above: {[r.getMessage() for r in loud]}")
    return found


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("case", list(CASES))
async def test_malformed_request_is_4xx_with_one_log_line(
    bot: Bot, caplog: pytest.LogCaptureFixture, case: str, signed: bool
) -> None:
    body, content_type, headers, when_signed, when_not = CASES[case]
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    status, text = await bot.slack.post_raw(
        body, content_type, signed=signed, headers=headers, chunked=case == "huge body"
    )
    assert status == (when_signed if signed else when_not), text
    assert json.loads(text)["error"]  # one sentence saying what is wrong
    assert problems(caplog.records) == []
    # The bot is unharmed: the next good request is answered.
    assert (await bot.slack.command("help", user=TECH))[0] == 200
    await bot.fake.wait_hook(lambda h: "/ticket" in hook_text(h))


async def test_huge_body_with_a_length_is_refused_before_it_is_read(bot: Bot) -> None:
    status, text = await bot.slack.post_raw(b"payload=" + b"a" * 2 * MB)
    assert status == 413 and "1.5 MB" in json.loads(text)["error"]


async def test_ssl_check_is_answered_without_work(bot: Bot) -> None:
    status, _ = await bot.slack.post_raw(b"ssl_check=1&token=x", signed=False)
    assert status == 200
    assert bot.fake.calls == [] and bot.fake.hooks == []


async def test_a_command_mentioning_payload_is_still_a_command(bot: Bot) -> None:
    # bolt alone reads any form body containing "payload" as an interactive one (body {}).
    status, _, _ = await bot.slack.command("payload", user=TECH)
    assert status == 200
    await bot.fake.wait_hook(lambda h: "cmd" in h.path)


async def test_a_command_form_starting_with_a_brace_is_still_a_command(bot: Bot) -> None:
    # bolt alone takes a body starting with "{" for JSON and fails with a traceback.
    body = "%7B=1&" + bot.slack.command_body("help", user=TECH)
    body = "{" + body[3:]
    status, _ = await bot.slack.post_raw(body.encode())
    assert status == 200
    await bot.fake.wait_hook(lambda h: "/ticket" in hook_text(h))


async def test_listener_failure_is_400_with_one_line_and_no_traceback(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.slack.transport import SlackTransport

    async def broken(self: SlackTransport, ack: Any) -> None:
        raise KeyError("view")  # a listener bug, before its ack

    monkeypatch.setattr(SlackTransport, "_on_view_closed", broken)
    caplog.set_level(logging.DEBUG)
    async with running_bot(sqlite_url, encryption_key, tmp_path, cw_sandbox, fake) as bot:
        payload = load("view_submission.json")
        payload["type"] = "view_closed"
        caplog.clear()
        status, _ = await bot.slack.post_raw(interactive(payload))
        assert status == 400  # bolt alone answers 500 and logs the traceback
        assert problems(caplog.records) == []
        # At DEBUG the traceback is there for the operator, but nothing of the body.
        debug = "\n".join(logging.Formatter().format(r) for r in caplog.records)
        assert "Traceback" in debug
        for part in (payload["token"], payload["view"]["id"], json.dumps(payload)[:40]):
            assert part not in debug


# -- rate-limited rejection log ---------------------------------------------------------------


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything the root logger writes at psabot's default level (INFO), as `serve` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logs.install()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


LOG_BOUND = 4 * 1024  # bytes of log for any burst inside one window (one line per reason)


async def flood(bot: Bot, count: int, size: int) -> tuple[set[int], float]:
    """`count` unsigned bodies of `size` bytes, 16 at a time; half chunked (no length)."""
    body = interactive(load("block_actions.json"))
    body += b"&pad=" + b"y" * (size - len(body) - 5)
    gate = asyncio.Semaphore(16)
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> int:
            async with gate:
                status, _ = await bot.slack.post_raw(
                    body, signed=False, chunked=i % 2 == 1, session=session
                )
                return status

        statuses = await asyncio.gather(*(one(i) for i in range(count)))
    return set(statuses), time.perf_counter() - started


async def test_thousand_unsigned_1mb_bodies_grow_the_log_by_under_4kb(
    bot: Bot, log_text: io.StringIO
) -> None:
    before = len(log_text.getvalue())
    statuses, elapsed = await flood(bot, 1000, MB)
    assert statuses == {401}  # under the cap: read, then refused on the signature
    grown = log_text.getvalue()[before:]
    assert len(grown) < LOG_BOUND, grown
    if elapsed < REJECT_LOG_WINDOW:  # all inside one window: exactly one line
        assert grown.count("reason=bad_signature") == 1, grown
    # Over the cap: refused unread (with a length) or at the cap (chunked); one line again.
    before = len(log_text.getvalue())
    statuses, elapsed = await flood(bot, 200, 2 * MB)
    assert statuses == {413}
    grown = log_text.getvalue()[before:]
    assert len(grown) < LOG_BOUND, grown
    if elapsed < REJECT_LOG_WINDOW:
        assert grown.count("reason=too_large") == 1, grown


async def test_a_maximal_emoji_message_shortcut_is_accepted(bot: Bot) -> None:
    # Slack's largest request: "Post to ticket" on a 40,000-character message (Slack's limit),
    # its text twice (text, rich_text blocks), JSON-escaped and form-encoded: about 1.25 MB.
    text = "\N{GRINNING FACE}" * 40_000
    payload = load("message_action.json")
    payload.update(
        team={"id": "T111", "domain": "acme"},
        user={"id": TECH, "name": "jane"},
        channel={"id": "C1", "name": "general"},
        callback_id="post_to_ticket",
        trigger_id="9.9.trigger",
        response_url=bot.fake.hook_url("sc"),
    )
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    payload["message"].update(
        text=text, user=ADMIN, blocks=[{"type": "rich_text", "elements": [section]}]
    )
    assert MAX_BODY > len(interactive(payload)) > MB
    status, _ = await bot.slack.post_raw(interactive(payload))
    assert status == 200
    await bot.fake.wait_hook(lambda h: "/hooks/sc" in h.path)  # handled and answered


def test_rate_limited_log_counts_what_it_left_out() -> None:
    now = [0.0]
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test.ratelimit")
    logger.addHandler(Keep())
    logger.propagate = False
    limited = logs.RateLimitedLog(logger, window=10.0, clock=lambda: now[0])
    for _ in range(500):
        limited.log("bad_signature", "rejected reason=%s", "bad_signature")
    limited.log("too_large", "rejected reason=%s", "too_large")
    now[0] = 10.5
    limited.log("bad_signature", "rejected reason=%s", "bad_signature")
    assert records == [
        "rejected reason=bad_signature suppressed=0",
        "rejected reason=too_large suppressed=0",
        "rejected reason=bad_signature suppressed=499",
    ]


# -- Socket Mode ------------------------------------------------------------------------------


async def test_malformed_socket_mode_payload_is_acked_with_one_line(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot(
        sqlite_url, encryption_key, tmp_path, cw_sandbox, fake, SLACK_APP_TOKEN="xapp-1-socket"
    ):
        payload = load("block_actions.json")
        payload["actions"] = "approve"
        caplog.clear()
        ack = await fake.socket_send(
            {"envelope_id": "env-1", "type": "interactive", "payload": payload}
        )
        assert ack["envelope_id"] == "env-1"
        assert problems([r for r in caplog.records if r.name.startswith("bot.")]) == []
        assert all(not r.exc_info for r in caplog.records)
        assert fake.hooks == []


# -- outbound hosts ---------------------------------------------------------------------------


@pytest.fixture
async def trap() -> AsyncIterator[tuple[str, list[str]]]:
    """A listening loopback server that records anything POSTed to it."""
    got: list[str] = []

    async def record(request: web.Request) -> web.Response:
        got.append(await request.text())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", got
    finally:
        await runner.cleanup()


async def test_response_url_off_slack_is_never_posted_to(
    bot: Bot, trap: tuple[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    url, got = trap
    fields = dict(parse_qsl(bot.slack.command_body("help", user=TECH)))
    fields["response_url"] = f"{url}/hooks/steal"
    caplog.set_level(logging.INFO)
    status, _ = await bot.slack.post_raw(urlencode(fields).encode())
    assert status == 200
    sent = await bot.fake.wait_call("chat.postEphemeral", lambda c: c["user"] == TECH)
    assert "/ticket" in json.dumps(sent.params)  # the help text, by the chat API
    assert got == []
    assert bot.fake.hooks == []
    lines = [r.getMessage() for r in caplog.records if "response_url is not Slack's" in r.message]
    assert len(lines) == 1, lines


@pytest.mark.parametrize(
    ("url", "api", "allowed"),
    [
        ("https://hooks.slack.com/commands/T1/1/x", "https://slack.com/api/", True),
        ("https://HOOKS.slack.com:443/actions/T1/1/x", "https://slack.com/api/", True),
        ("http://hooks.slack.com/commands/T1/1/x", "https://slack.com/api/", False),
        ("https://hooks.slack.com:8443/commands/T1", "https://slack.com/api/", False),
        ("https://hooks.slack.com.evil.test/commands", "https://slack.com/api/", False),
        ("https://hooks.slack.com@evil.test/commands", "https://slack.com/api/", False),
        ("https://user:pw@hooks.slack.com/commands", "https://slack.com/api/", False),
        ("https://slack.com/api/chat.postMessage", "https://slack.com/api/", False),
        ("http://127.0.0.1:9/hooks/x", "https://slack.com/api/", False),
        ("http://127.0.0.1:5000/hooks/x", "http://127.0.0.1:5000/api/", True),
        ("http://127.0.0.1:5001/hooks/x", "http://127.0.0.1:5000/api/", False),
        ("https://127.0.0.1:5000/hooks/x", "http://127.0.0.1:5000/api/", False),
        ("http://localhost/hooks/x", "http://localhost:8080/api/", False),
        ("http://127.0.0.1:99999/hooks/x", "http://127.0.0.1:5000/api/", False),
        ("javascript:alert(1)", "http://127.0.0.1:5000/api/", False),
        ("", "https://slack.com/api/", False),
    ],
)
def test_response_url_allowed(url: str, api: str, allowed: bool) -> None:
    assert response_url_allowed(url, api) is allowed
