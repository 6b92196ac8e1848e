"""Slack end to end: the real aiohttp app, requests signed like Slack signs them, a fake Slack
Web API that records every call, and the ConnectWise sandbox behind it all."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import FAST_OUTBOX
from fake_slack import Call, FakeSlack, SlackSender, hook_text

from bot.app import RUNTIME, create_app
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.app import SLACK
from bot.slack.transport import SlackTransport
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer

SECRET = "slack-signing-secret"
ADMIN, TECH, OTHER = "U1", "U2", "U3"


@dataclass
class Bot:
    url: str
    runtime: Runtime
    slack: SlackSender
    fake: FakeSlack
    sandbox: SandboxServer
    transport: SlackTransport


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    slack.add_user(ADMIN, "Alice Admin", email="alice@example.com", admin=True)
    slack.add_user(TECH, "Jane Doe", email="jane.doe@example.com")
    slack.add_user(OTHER, "Mallory", email="mallory@example.com")
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[str, web.Application]]:
    """psabot's aiohttp app on an ephemeral loopback port, as `psabot serve` runs it."""
    runner = web.AppRunner(create_app(settings, tuning=FAST_OUTBOX), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}", runner.app
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running_bot(
    db_url: str, key: str, data_dir: Path, sandbox: SandboxServer, fake: FakeSlack, **env: str
) -> AsyncIterator[Bot]:
    values = {
        "PSABOT_DATABASE_URL": db_url,
        "PSABOT_ENCRYPTION_KEYS": key,
        "PSABOT_DATA_DIR": str(data_dir),
        "PSABOT_CW_ALLOWED_HOSTS": sandbox.host_port,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "SLACK_BOT_TOKEN": "xoxb-single-token",
    }
    async with serving(Settings(**(values | env))) as (url, app):
        yield Bot(
            url, app[RUNTIME], SlackSender(url, SECRET, fake), fake, sandbox, app[SLACK].transport
        )


@pytest.fixture
async def bot(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
) -> AsyncIterator[Bot]:
    async with running_bot(sqlite_url, encryption_key, tmp_path, cw_sandbox, fake) as started:
        yield started
    # Whatever a test did, the ConnectWise private key never went to Slack.
    assert cw_sandbox.credentials.private_key not in fake.everything_sent()


async def connect(bot: Bot) -> None:
    """Run the real connect flow: command → modal → submission → tested and saved."""
    status, _, _ = await bot.slack.command("connect", user=ADMIN)
    assert status == 200
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "connect")
    creds = bot.sandbox.credentials
    await bot.slack.submit(
        opened["view"],
        {
            "site": {"type": "plain_text_input", "value": bot.sandbox.host_port},
            "company_id": {"type": "plain_text_input", "value": creds.company_id},
            "public_key": {"type": "plain_text_input", "value": creds.public_key},
            "private_key": {"type": "plain_text_input", "value": creds.private_key},
            "client_id": {"type": "plain_text_input", "value": creds.client_id},
        },
        user=ADMIN,
        view_id="V-connect",
    )
    await bot.fake.wait_call("views.update", lambda c: "Connected" in json.dumps(c["view"]))


async def link_and_map(bot: Bot, user: str = TECH) -> None:
    await bot.slack.command(f"link {OPEN_TICKET_ID}", user=user)
    await bot.fake.wait_hook(lambda h: "Linked this channel" in hook_text(h))
    await bot.slack.command("map me", user=user)
    await bot.fake.wait_hook(lambda h: "jdoe" in hook_text(h))


def texts(bot: Bot, method: str) -> list[str]:
    return [json.dumps(c.params, ensure_ascii=False) for c in bot.fake.api(method)]


# -- signatures and configuration -----------------------------------------------------------


async def test_bad_signature_and_stale_timestamp_are_401(bot: Bot) -> None:
    body = bot.slack.command_body("help")
    assert (await bot.slack.post(body, "application/x-www-form-urlencoded", secret="wrong"))[
        0
    ] == 401
    import time

    stale = int(time.time()) - 600
    assert (await bot.slack.post(body, "application/x-www-form-urlencoded", timestamp=stale))[
        0
    ] == 401
    assert bot.fake.hooks == []


async def test_unconfigured_slack_answers_503(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
) -> None:
    settings = Settings(
        PSABOT_DATABASE_URL=sqlite_url,
        PSABOT_ENCRYPTION_KEYS=encryption_key,
        PSABOT_DATA_DIR=str(tmp_path),
    )
    async with serving(settings) as (url, _):
        sender = SlackSender(url, SECRET, fake)
        status, body, _ = await sender.command("help")
        assert status == 503 and "SLACK_SIGNING_SECRET" in body


# -- commands -------------------------------------------------------------------------------


async def test_help_is_acked_then_answered_by_response_url(bot: Bot) -> None:
    status, body, _ = await bot.slack.command("help")
    assert status == 200 and body == ""
    hook = await bot.fake.wait_hook()
    assert hook.body["response_type"] == "ephemeral"
    assert "/ticket note" in hook_text(hook)


async def test_connect_modal_tests_then_saves_and_never_leaks_the_key(bot: Bot) -> None:
    await bot.slack.command("connect", user=ADMIN)
    opened = await bot.fake.wait_call("views.open")
    creds = bot.sandbox.credentials
    status, ack, elapsed = await bot.slack.submit(
        opened["view"],
        {
            "site": {"type": "plain_text_input", "value": bot.sandbox.host_port},
            "company_id": {"type": "plain_text_input", "value": creds.company_id},
            "public_key": {"type": "plain_text_input", "value": creds.public_key},
            "private_key": {"type": "plain_text_input", "value": creds.private_key},
            "client_id": {"type": "plain_text_input", "value": creds.client_id},
        },
        user=ADMIN,
        view_id="V-c",
    )
    # The ack itself replaces the modal with "Testing the connection…"; the test comes after.
    assert status == 200 and elapsed < 1.0
    working = json.loads(ack)
    assert working["response_action"] == "update"
    assert "Testing the connection" in json.dumps(working["view"])
    await bot.fake.wait_call("views.update", lambda c: "Connected" in json.dumps(c["view"]))
    done = await bot.fake.wait_hook(lambda h: "Connected" in hook_text(h))
    assert "••••••" in hook_text(done)
    sent = bot.fake.everything_sent()
    assert creds.private_key not in sent and creds.public_key not in sent
    basic = base64.b64encode(
        f"{creds.company_id}+{creds.public_key}:{creds.private_key}".encode()
    ).decode()
    assert basic not in sent


async def test_connect_field_errors_come_back_on_the_form(bot: Bot) -> None:
    await bot.slack.command("connect", user=ADMIN)
    opened = await bot.fake.wait_call("views.open")
    creds = bot.sandbox.credentials
    await bot.slack.submit(
        opened["view"],
        {
            "site": {"type": "plain_text_input", "value": bot.sandbox.host_port},
            "company_id": {"type": "plain_text_input", "value": creds.company_id},
            "public_key": {"type": "plain_text_input", "value": creds.public_key},
            "private_key": {"type": "plain_text_input", "value": "wrong-key-123"},
            "client_id": {"type": "plain_text_input", "value": creds.client_id},
        },
        user=ADMIN,
        view_id="V9",
    )
    form = await bot.fake.wait_call(
        "views.update", lambda c: c["view"].get("callback_id") == "connect"
    )
    blocks = {b.get("block_id"): b for b in form["view"]["blocks"]}
    assert "rejected these keys" in blocks["private_key"]["hint"]["text"]
    assert form["view_id"] == "V9"
    assert "wrong-key-123" not in bot.fake.everything_sent()
    await bot.slack.submit(
        form["view"],
        {
            "site": {"type": "plain_text_input", "value": "evil.example.com"},
            "company_id": {"type": "plain_text_input", "value": creds.company_id},
            "public_key": {"type": "plain_text_input", "value": creds.public_key},
            "private_key": {"type": "plain_text_input", "value": creds.private_key},
            "client_id": {"type": "plain_text_input", "value": creds.client_id},
        },
        user=ADMIN,
        view_id="V9",
        view_hash="h2",
    )
    again = await bot.fake.wait_call(
        "views.update",
        lambda c: "not a ConnectWise cloud site" in json.dumps(c["view"]),
    )
    site = next(b for b in again["view"]["blocks"] if b.get("block_id") == "site")
    assert "not a ConnectWise cloud site" in site["hint"]["text"]


async def test_non_admin_cannot_connect(bot: Bot) -> None:
    await bot.slack.command("connect", user=OTHER)
    hook = await bot.fake.wait_hook()
    assert "Only owners can connect ConnectWise" in hook_text(hook)
    assert bot.fake.api("views.open") == []


async def test_link_posts_history_root_and_notes_land_in_its_thread(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    root = await bot.fake.wait_call("chat.postMessage", lambda c: "ticket linked" in c["text"])
    assert root["channel"] == "C1" and "service_recid=48213" in root["text"]
    await bot.slack.command("note Replaced the toner, printing OK", user=TECH)
    added = await bot.fake.wait_hook(lambda h: "Note added" in hook_text(h))
    assert "Open in ConnectWise" in hook_text(added)
    notes = bot.sandbox.state.notes_for(OPEN_TICKET_ID)
    assert notes[-1]["text"].startswith("Replaced the toner, printing OK\n\n— posted from Slack")
    assert notes[-1]["member"]["identifier"] == "jdoe"
    root_ts = await bot.fake.wait_call("chat.postMessage", lambda c: "ticket linked" in c["text"])
    entry = await bot.fake.wait_call("chat.postMessage", lambda c: "internal note" in c["text"])
    assert entry["thread_ts"] and entry["channel"] == "C1"
    assert "Jane Doe" in entry["text"] and "Replaced the toner" in entry["text"]
    assert root_ts is not None
    await bot.slack.command("status waiting", user=TECH)
    status = await bot.fake.wait_call(
        "chat.postMessage", lambda c: "Waiting on Customer" in c["text"]
    )
    assert status["thread_ts"] == entry["thread_ts"]


async def test_link_picker_with_type_ahead(bot: Bot) -> None:
    await connect(bot)
    await bot.slack.command("link", user=TECH)
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "link")
    status, body, elapsed = await bot.slack.suggest(
        opened["view"], "ticket", "front desk printer", user=TECH
    )
    assert status == 200 and elapsed < 2.5
    options = json.loads(body)["options"]
    assert any(o["value"] == str(OPEN_TICKET_ID) for o in options)
    # the same query again is served from the cache
    before = len(bot.sandbox.requests.records)
    await bot.slack.suggest(opened["view"], "ticket", "front desk printer", user=TECH)
    assert len(bot.sandbox.requests.records) == before
    await bot.slack.submit(
        opened["view"],
        {
            "ticket_id": {"type": "plain_text_input", "value": None},
            "ticket": {
                "type": "external_select",
                "selected_option": {
                    "value": str(OPEN_TICKET_ID),
                    "text": {"type": "plain_text", "text": "x"},
                },
            },
        },
        user=TECH,
        view_id="V-link",
    )
    result = await bot.fake.wait_call("views.update", lambda c: "Linked" in json.dumps(c["view"]))
    assert result["view_id"] == "V-link"


async def test_note_modal_and_status_options(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    await bot.slack.command("note", user=TECH)
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "note")
    _, body, _ = await bot.slack.suggest(opened["view"], "status", "resol", user=TECH)
    resolved = next(o for o in json.loads(body)["options"] if o["text"]["text"] == "Resolved")
    await bot.slack.submit(
        opened["view"],
        {
            "note_type": {"type": "static_select", "selected_option": {"value": "resolution"}},
            "text": {"type": "plain_text_input", "value": "Fuser replaced"},
            "status": {"type": "external_select", "selected_option": {"value": resolved["value"]}},
        },
        user=TECH,
        view_id="V-note",
    )
    await bot.fake.wait_call("views.update", lambda c: "Note added" in json.dumps(c["view"]))
    assert bot.sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"] == "Resolved"
    assert bot.sandbox.state.notes_for(OPEN_TICKET_ID)[-1]["resolutionFlag"] is True


async def test_search_and_link_button(bot: Bot) -> None:
    await connect(bot)
    await bot.slack.command('search printer company:"Contoso Dental" status:any', user=TECH)
    hook = await bot.fake.wait_hook(lambda h: "ticket(s) found" in hook_text(h))
    buttons = [e for b in hook.body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    link = next(
        e
        for e in buttons
        if e["action_id"].startswith("link_ticket:") and e["value"] == str(OPEN_TICKET_ID)
    )
    await bot.slack.click(link["action_id"], link["value"], user=TECH)
    await bot.fake.wait_hook(lambda h: "Linked this channel" in hook_text(h))


async def test_settings_buttons(bot: Bot) -> None:
    await connect(bot)
    await bot.slack.command("settings", user=ADMIN)
    hook = await bot.fake.wait_hook(lambda h: "ConnectWise connection" in hook_text(h))
    ids = [
        e["action_id"] for b in hook.body["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert [i.split(":")[0] for i in ids] == [
        "connection_test",
        "connection_edit",
        "connection_disconnect",
    ]
    await bot.slack.click(ids[0], "-", user=ADMIN)
    await bot.fake.wait_hook(lambda h: "The connection works" in hook_text(h))
    await bot.slack.click(ids[1], "-", user=ADMIN)
    edit = await bot.fake.wait_call(
        "views.open", lambda c: "Edit ConnectWise" in json.dumps(c["view"])
    )
    assert bot.sandbox.credentials.private_key not in json.dumps(edit["view"])
    await bot.slack.click(ids[2], "-", user=ADMIN)
    confirm = await bot.fake.wait_hook(lambda h: "Disconnect ConnectWise?" in hook_text(h))
    yes = next(
        e
        for b in confirm.body["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("disconnect_confirm")
    )
    await bot.slack.click(yes["action_id"], "-", user=OTHER)
    await bot.fake.wait_hook(lambda h: "Only owners can disconnect" in hook_text(h))


async def test_post_to_ticket_shortcut(bot: Bot) -> None:
    await connect(bot)
    # Not linked yet: the link picker opens first, then the message is posted.
    await bot.slack.command("map me", user=TECH)
    await bot.fake.wait_hook(lambda h: "jdoe" in hook_text(h))
    await bot.slack.shortcut("Customer says it works again", user=TECH, author=ADMIN)
    opened = await bot.fake.wait_call(
        "views.open", lambda c: c["view"]["callback_id"] == "link_then_post"
    )
    await bot.slack.submit(
        opened["view"],
        {
            "ticket_id": {"type": "plain_text_input", "value": str(OPEN_TICKET_ID)},
            "ticket": {"type": "external_select", "selected_option": None},
        },
        user=TECH,
        view_id="V-sc",
    )
    await bot.fake.wait_call("views.update", lambda c: "Note added" in json.dumps(c["view"]))
    note = bot.sandbox.state.notes_for(OPEN_TICKET_ID)[-1]
    assert note["text"].startswith(
        "Customer says it works again\n\n(Message from Alice Admin "
        "https://acme.slack.com/archives/C1/p"
    )
    # Linked now: the shortcut posts straight away.
    await bot.slack.shortcut("Second message", user=TECH, author=TECH)
    await bot.fake.wait_hook(
        lambda h: "Note added" in hook_text(h) and "Second message" in hook_text(h)
    )
    assert bot.sandbox.state.notes_for(OPEN_TICKET_ID)[-1]["text"].startswith("Second message")


async def test_retried_command_and_double_submitted_modal_post_once(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    body = bot.slack.command_body("note Only once please", user=TECH, trigger="77.1.retry")
    await bot.slack.command("", body=body)
    await bot.slack.command("", body=body, retry=1)  # while the first is at work: silent
    await bot.fake.wait_hook(lambda h: "Note added" in hook_text(h))
    await bot.transport.drain()  # the outcome is told just before the row is marked done
    status, answer, _ = await bot.slack.command("", body=body, retry=2)
    assert status == 200 and "already handled" in answer
    await bot.slack.command("note", user=TECH)
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "note")
    values: dict[str, Any] = {
        "note_type": {"type": "static_select", "selected_option": {"value": "internal"}},
        "text": {"type": "plain_text_input", "value": "Submitted twice"},
        "status": {"type": "external_select", "selected_option": None},
    }
    await bot.slack.submit(opened["view"], values, user=TECH, view_id="V-dbl", view_hash="hx")
    await bot.fake.wait_call(
        "views.update",
        lambda c: c["view_id"] == "V-dbl" and "Note added" in json.dumps(c["view"]),
    )
    status, answer, _ = await bot.slack.submit(
        opened["view"], values, user=TECH, view_id="V-dbl", view_hash="hx"
    )
    assert status == 200
    assert "already handled" in answer or "already submitted" in answer
    texts_ = [n["text"] for n in bot.sandbox.state.notes_for(OPEN_TICKET_ID)]
    assert sum(t.startswith("Only once please") for t in texts_) == 1
    assert sum(t.startswith("Submitted twice") for t in texts_) == 1


async def test_app_home(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    await bot.slack.command("note Home note", user=TECH)
    await bot.fake.wait_hook(lambda h: "Note added" in hook_text(h))
    await bot.slack.event(
        {"type": "app_home_opened", "user": TECH, "channel": "D1", "tab": "home", "event_ts": "1.1"}
    )
    home = await bot.fake.wait_call("views.publish")
    text = json.dumps(home["view"], ensure_ascii=False)
    assert home["user_id"] == TECH and home["view"]["type"] == "home"
    assert "You post as Jane Doe (jdoe)" in text and "Home note" in text
    assert "Connected to psabot" in text


async def test_ack_and_modal_do_not_wait_for_a_slow_connectwise(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    bot.sandbox.faults.configure(latency_ms=2000)
    _, _, ack = await bot.slack.command("note Slow ConnectWise", user=TECH)
    assert ack < 1.0
    import time

    started = time.perf_counter()
    await bot.slack.command("link", user=TECH)
    await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "link")
    assert time.perf_counter() - started < 1.0
    await bot.fake.wait_hook(lambda h: "Note added" in hook_text(h), timeout=15)


async def test_calls_use_the_bot_token(bot: Bot) -> None:
    await bot.slack.command("help")
    await bot.fake.wait_hook()
    calls: list[Call] = bot.fake.calls
    assert calls and all(c.token == "xoxb-single-token" for c in calls)


# -- the rest of the grammar over Slack ------------------------------------------------------


async def say(bot: Bot, text: str, user: str = TECH, expect: str = "") -> str:
    """Send a command and return the text of its (first matching) response_url answer."""
    before = len(bot.fake.hooks)
    await bot.slack.command(text, user=user)
    hook = await bot.fake.wait_hook(
        lambda h: bot.fake.hooks.index(h) >= before and expect in hook_text(h)
    )
    return hook_text(hook)


async def test_remaining_commands_over_slack(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    assert "Contoso Dental Group" in await say(bot, "", expect="Contoso")  # bare /ticket
    assert "Nothing has been posted" in await say(bot, "history", expect="posted")
    assert "Jane Doe is now an owner" in await say(
        bot, f"owners add <@{TECH}|Jane Doe>", user=ADMIN, expect="owner"
    )
    assert "Jane Doe" in await say(bot, "owners", expect="Owners")
    assert "Jane Doe is no longer an owner" in await say(
        bot, f"owners remove <@{TECH}|Jane Doe>", user=ADMIN, expect="owner"
    )
    assert "Only owners can map another chat user" in await say(
        bot, f"map <@{OTHER}|Mallory> jdoe", user=OTHER, expect="owners"
    )
    assert "Mallory now posts to ConnectWise as Priya Nguyen" in await say(
        bot, f"map <@{OTHER}|Mallory> pnguyen", user=ADMIN, expect="posts"
    )
    assert "Priya Nguyen (pnguyen)" in await say(bot, "mappings", user=ADMIN, expect="mapping")
    assert "Mapping removed" in await say(bot, "unmap me", user=OTHER, expect="apping")
    assert "is not yours" in await say(bot, "map me jdoe", user=OTHER, expect="yours")
    assert "Unlinked from #48213" in await say(bot, "unlink", expect="nlinked")
    unlinked = await bot.fake.wait_call("chat.postMessage", lambda c: "Unlinked" in c["text"])
    assert unlinked["thread_ts"]
    assert "Usage: `/ticket link <ticket id>`" in await say(bot, "link abc", expect="Usage")
    assert "I don't know `frob`" in await say(bot, "frob", expect="know")
    assert "Disconnect ConnectWise?" in await say(bot, "disconnect", user=ADMIN, expect="?")


async def test_mentions_and_links_in_notes_become_plain_text(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    await bot.slack.command(
        f"note Called <@{ADMIN}|Alice Admin> re &lt;printer&gt; &amp; see "
        "<https://kb.example.com/x|the KB> in <#C9|ops>",
        user=TECH,
    )
    await bot.fake.wait_hook(lambda h: "Note added" in hook_text(h))
    text = bot.sandbox.state.notes_for(OPEN_TICKET_ID)[-1]["text"]
    assert text.startswith(
        "Called @Alice Admin re <printer> & see the KB (https://kb.example.com/x) in #ops\n\n"
    )


async def test_modal_field_errors_for_link_note_and_status(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    await bot.slack.command("note", user=TECH)
    note = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "note")
    await bot.slack.submit(
        note["view"],
        {
            "note_type": {"type": "static_select", "selected_option": {"value": "internal"}},
            "text": {"type": "plain_text_input", "value": "   "},
            "status": {"type": "external_select", "selected_option": None},
        },
        user=TECH,
        view_id="V-n",
    )
    form = await bot.fake.wait_call(
        "views.update", lambda c: c["view_id"] == "V-n" and c["view"].get("callback_id") == "note"
    )
    text_block = next(b for b in form["view"]["blocks"] if b.get("block_id") == "text")
    assert "Write the note" in text_block["hint"]["text"]

    await bot.slack.command("link", user=TECH)
    link = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "link")
    await bot.slack.submit(
        link["view"],
        {
            "ticket_id": {"type": "plain_text_input", "value": "12ab"},
            "ticket": {"type": "external_select", "selected_option": None},
        },
        user=TECH,
        view_id="V-l",
    )
    form = await bot.fake.wait_call(
        "views.update", lambda c: c["view_id"] == "V-l" and c["view"].get("callback_id") == "link"
    )
    assert "is not a ticket number" in json.dumps(form["view"])

    await bot.slack.command("status", user=TECH)
    status = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "status")
    await bot.slack.submit(
        status["view"],
        {
            "status": {"type": "external_select", "selected_option": None},
        },
        user=TECH,
        view_id="V-s",
    )
    form = await bot.fake.wait_call(
        "views.update", lambda c: c["view_id"] == "V-s" and c["view"].get("callback_id") == "status"
    )
    assert "Pick a status" in json.dumps(form["view"])
    _, body, _ = await bot.slack.suggest(status["view"], "status", "sched", user=TECH)
    scheduled = json.loads(body)["options"][0]
    await bot.slack.submit(
        status["view"],
        {
            "status": {"type": "external_select", "selected_option": {"value": scheduled["value"]}},
        },
        user=TECH,
        view_id="V-s",
        view_hash="h2",
    )
    await bot.fake.wait_call("views.update", lambda c: "now *Scheduled*" in json.dumps(c["view"]))
    assert bot.sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"] == "Scheduled"


async def test_unknown_slack_user_is_no_admin(bot: Bot) -> None:
    await bot.slack.command("connect", user="U404")  # users.info says user_not_found
    assert "Only owners" in hook_text(await bot.fake.wait_hook())


async def test_oauth_install_stores_an_encrypted_token_and_uses_it(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
) -> None:
    import aiohttp

    async with running_bot(
        sqlite_url,
        encryption_key,
        tmp_path,
        cw_sandbox,
        fake,
        SLACK_BOT_TOKEN="",
        SLACK_CLIENT_ID="111.222",
        SLACK_CLIENT_SECRET="client-secret",
    ) as bot:
        async with aiohttp.ClientSession() as session:
            async with session.get(bot.url + "/slack/install", allow_redirects=False) as resp:
                page = await resp.text()
                assert resp.status == 200
                assert "slack.com/oauth/v2/authorize" in page and "client_id=111.222" in page
                state = page.split("state=")[1].split("&")[0].split('"')[0]
                # The state cookie is marked Secure; a browser on https would send it back.
                cookie = resp.headers["Set-Cookie"].split(";")[0]
            async with session.get(
                bot.url + f"/slack/oauth_redirect?code=abc&state={state}",
                headers={"Cookie": cookie},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 200, await resp.text()
        exchange = await fake.wait_call("oauth.v2.access")
        assert exchange["code"] == "abc"
        db = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///")).read_bytes()
        assert b"xoxb-oauth-T222-secret" not in db  # stored encrypted
        auth_tests_at_install = len(fake.api("auth.test"))
        sender = SlackSender(bot.url, SECRET, fake, team="T222")
        await sender.command("help", user=TECH)
        await fake.wait_hook()
        users_info = await fake.wait_call("users.info")
        assert users_info.token == "xoxb-oauth-T222-secret"
        # Authorizing a request reads the stored bot, without an auth.test round trip.
        assert len(fake.api("auth.test")) == auth_tests_at_install


async def test_socket_mode(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeSlack,
) -> None:
    async with running_bot(
        sqlite_url,
        encryption_key,
        tmp_path,
        cw_sandbox,
        fake,
        SLACK_APP_TOKEN="xapp-1-socket",
        SLACK_SIGNING_SECRET="",
    ) as bot:
        opened = await fake.wait_call("apps.connections.open")
        assert opened.token == "xapp-1-socket"
        payload = json.loads(
            (Path(__file__).parent / "data/slack/payloads/slash_command.parsed.json").read_text()
        )
        payload.update(
            command="/ticket", text="help", team_id="T111", response_url=fake.hook_url("socket")
        )
        ack = await fake.socket_send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "payload": payload,
                "accepts_response_payload": True,
            }
        )
        assert ack["envelope_id"] == "env-1"
        hook = await fake.wait_hook(lambda h: "/hooks/socket" in h.path)
        assert "/ticket note" in hook_text(hook)
        # Without a signing secret nothing can verify an HTTP request: the route refuses all.
        status, body, _ = await bot.slack.command("help")
        assert status == 503 and "Socket Mode only" in body


async def test_non_owner_cannot_submit_the_connect_form_or_press_owner_buttons(bot: Bot) -> None:
    await connect(bot)
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "connect")
    await bot.slack.submit(
        opened["view"],
        {
            "site": {"type": "plain_text_input", "value": "na.myconnectwise.net"},
            "company_id": {"type": "plain_text_input", "value": "evil"},
            "public_key": {"type": "plain_text_input", "value": "p"},
            "private_key": {"type": "plain_text_input", "value": "q"},
            "client_id": {"type": "plain_text_input", "value": "c"},
        },
        user=OTHER,
        view_id="V-evil",
    )
    await bot.fake.wait_call(
        "views.update",
        lambda c: c["view_id"] == "V-evil" and "Only owners" in json.dumps(c["view"]),
    )
    for action in ("connection_test:0", "connection_edit:1", "disconnect_confirm:0"):
        await bot.slack.click(action, "-", user=OTHER)
    await bot.fake.wait_hook(lambda h: "Only owners can test" in hook_text(h))
    await bot.fake.wait_hook(lambda h: "Only owners can edit" in hook_text(h))
    await bot.fake.wait_hook(lambda h: "Only owners can disconnect" in hook_text(h))
    await bot.slack.command("settings", user=ADMIN)
    settings = await bot.fake.wait_hook(lambda h: "Company id" in hook_text(h))
    assert "psabot" in hook_text(settings)  # still the sandbox company, not "evil"


async def test_long_message_shortcut_survives_type_ahead(bot: Bot) -> None:
    """A message too long for private_metadata is kept aside; the link picker's type-ahead
    reads the same metadata before the submission, and the whole message is still posted."""
    await connect(bot)
    await bot.slack.command("map me", user=TECH)
    await bot.fake.wait_hook(lambda h: "jdoe" in hook_text(h))
    long_text = "Long log excerpt: " + "x" * 3500
    await bot.slack.shortcut(long_text, user=TECH, author=ADMIN)
    opened = await bot.fake.wait_call(
        "views.open", lambda c: c["view"]["callback_id"] == "link_then_post"
    )
    assert len(opened["view"]["private_metadata"]) <= 3000
    await bot.slack.suggest(opened["view"], "ticket", "printer", user=TECH)
    await bot.slack.suggest(opened["view"], "ticket", "printer jams", user=TECH)
    await bot.slack.submit(
        opened["view"],
        {
            "ticket_id": {"type": "plain_text_input", "value": str(OPEN_TICKET_ID)},
            "ticket": {"type": "external_select", "selected_option": None},
        },
        user=TECH,
        view_id="V-long",
    )
    await bot.fake.wait_call(
        "views.update", lambda c: c["view_id"] == "V-long" and "Note added" in json.dumps(c["view"])
    )
    assert bot.sandbox.state.notes_for(OPEN_TICKET_ID)[-1]["text"].startswith(long_text)


async def test_note_form_keeps_the_note_when_the_status_change_fails(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    await bot.slack.command("note", user=TECH)
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "note")
    bot.sandbox.faults.configure(retry_after=0)
    bot.sandbox.faults.script(["500"] * 30, method="GET", path_contains="/service/tickets/")
    await bot.slack.submit(
        opened["view"],
        {
            "note_type": {"type": "static_select", "selected_option": {"value": "internal"}},
            "text": {"type": "plain_text_input", "value": "Kept although the status failed"},
            "status": {"type": "external_select", "selected_option": {"value": "6"}},
        },
        user=TECH,
        view_id="V-ns",
    )
    result = await bot.fake.wait_call(
        "views.update", lambda c: c["view_id"] == "V-ns" and "Note added" in json.dumps(c["view"])
    )
    assert "The status was NOT changed" in json.dumps(result["view"], ensure_ascii=False)
    texts_ = [n["text"] for n in bot.sandbox.state.notes_for(OPEN_TICKET_ID)]
    assert sum(t.startswith("Kept although the status failed") for t in texts_) == 1
