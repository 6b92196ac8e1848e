"""Teams end to end: the real aiohttp app, activities shaped like Teams sends them posted to
/api/messages, `serviceUrl` pointing at a fake Bot Framework connector that records every
call, and the ConnectWise sandbox behind it all."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import FAST_OUTBOX
from fake_connector import TENANT, Call, FakeConnector, Person, TeamsSender

from bot import teams
from bot.app import RUNTIME, create_app
from bot.runtime import Runtime
from bot.settings import Settings
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer

CHANNEL = "19:6decf54d86d945e4b3924b63a9161a78@thread.tacv2"
THREAD = f"{CHANNEL};messageid=1611060744833"
OWNER = Person("29:owner", "aad-owner-1", "Alice Owner", "alice@example.com")
TECH = Person("29:tech", "aad-tech-2", "Jane Doe", None, upn="jane.doe@example.com")
OTHER = Person("29:other", "aad-other-3", "Mallory", "mallory@example.com")


@dataclass
class Bot:
    url: str
    runtime: Runtime
    teams: TeamsSender
    fake: FakeConnector
    sandbox: SandboxServer


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, options: teams.TeamsOptions | None = None
) -> AsyncIterator[tuple[str, web.Application]]:
    app = create_app(settings, tuning=FAST_OUTBOX)
    if options is not None:
        app[teams.OPTIONS] = options
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}", runner.app
    finally:
        await runner.cleanup()


def bot_settings(
    db_url: str, key: str, data_dir: Path, sandbox: SandboxServer, **env: str
) -> Settings:
    values = {
        "PSABOT_DATABASE_URL": db_url,
        "PSABOT_ENCRYPTION_KEYS": key,
        "PSABOT_DATA_DIR": str(data_dir),
        "PSABOT_CW_ALLOWED_HOSTS": sandbox.host_port,
    }
    return Settings(**(values | env))


@pytest.fixture
async def fake() -> AsyncIterator[FakeConnector]:
    connector = FakeConnector()
    for person in (OWNER, TECH, OTHER):
        connector.add_person(person)
    await connector.start()
    try:
        yield connector
    finally:
        await connector.stop()


@pytest.fixture
async def bot(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeConnector,
) -> AsyncIterator[Bot]:
    settings = bot_settings(sqlite_url, encryption_key, tmp_path, cw_sandbox)
    async with serving(settings, teams.TeamsOptions(invoke_budget=5.0)) as (url, app):
        started = Bot(url, app[RUNTIME], TeamsSender(url, fake), fake, cw_sandbox)
        yield started
    # Whatever a test did, the ConnectWise private key went to Teams in no connector call
    # and in no invoke answer.
    key = cw_sandbox.credentials.private_key
    assert key not in fake.everything_sent()
    assert not any(key in answer for answer in started.teams.answers)


def card_of(call: Call) -> dict[str, Any]:
    return call.body["attachments"][0]["content"]


# -- the smoke path -------------------------------------------------------------------------


async def test_help_in_a_channel_thread_is_acked_then_posted_to_the_thread(bot: Bot) -> None:
    status, _ = await bot.teams.send(bot.teams.message(TECH, THREAD, "help"))
    assert status == 202
    call = await bot.fake.wait_text("note")
    assert call.conversation_id == THREAD
    card = card_of(call)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert call.body["text"]  # the text fallback


# -- helpers that drive the real flows -------------------------------------------------------


def opener_data(call: Call) -> dict[str, Any]:
    """The Action.Submit (task/fetch) data of the form opener on a posted card."""
    for block in card_of(call)["body"]:
        for item in block.get("items", []):
            for action in item.get("actions", []):
                if action["data"].get("psabot") == "open":
                    return dict(action["data"])
    raise AssertionError(f"no form opener in {call.text[:500]}")


def dialog_card(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["task"]["type"] == "continue", answer
    return answer["task"]["value"]["card"]["content"]


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in card["body"] if e.get("type", "").startswith("Input.")}


def submit_data(card: dict[str, Any], **values: str) -> dict[str, Any]:
    data = dict(card["actions"][0]["data"])
    data.update(values)
    return data


async def open_dialog(bot: Bot, person: Person, conversation: str, words: str) -> dict[str, Any]:
    """`@psabot <words>` posts a card whose button opens the form as a dialog (task/fetch)."""
    call = await command(bot, person, words, conversation)
    assert "task/fetch" in call.text, call.text
    status, answer = await bot.teams.send(
        bot.teams.invoke(person, conversation, "task/fetch", {"data": opener_data(call)})
    )
    assert status == 200
    return answer


async def connect(bot: Bot, person: Person = OWNER, **override: str) -> dict[str, Any]:
    answer = await open_dialog(bot, person, THREAD, "connect")
    card = dialog_card(answer)
    creds = bot.sandbox.credentials
    values = {
        "site": bot.sandbox.host_port,
        "company_id": creds.company_id,
        "public_key": creds.public_key,
        "private_key": creds.private_key,
        "client_id": creds.client_id,
    } | override
    status, result = await bot.teams.send(
        bot.teams.invoke(person, THREAD, "task/submit", {"data": submit_data(card, **values)})
    )
    assert status == 200
    return result


async def command(
    bot: Bot, person: Person, words: str, conversation: str = THREAD, **kw: Any
) -> Call:
    activity = bot.teams.message(person, conversation, words, **kw)
    status, _ = await bot.teams.send(activity)
    assert status == 202
    # the answer is a reply to this very activity
    return await bot.fake.wait_post(
        lambda c: c.activity_id == activity["id"] and "⏳" not in c.text
    )


async def link_and_map(bot: Bot, person: Person = TECH) -> None:
    linked = await command(bot, person, f"link {OPEN_TICKET_ID}")
    assert "Linked this thread" in linked.text
    mapped = await command(bot, person, "map me")
    assert "jdoe" in mapped.text, mapped.text


# -- the owner's setup dialog ----------------------------------------------------------------


async def test_setup_dialog_wrong_keys_errors_then_connected_and_second_user_refused(
    bot: Bot,
) -> None:
    answer = await open_dialog(bot, OWNER, THREAD, "connect")
    card = dialog_card(answer)
    fields = inputs(card)
    assert set(fields) == {"site", "company_id", "public_key", "private_key", "client_id"}
    assert fields["private_key"]["style"] == "Password"

    wrong = await connect(bot, private_key="not-the-key")
    again = dialog_card(wrong)  # the dialog stays open with the errors under the key fields
    assert "rejected these keys" in json.dumps(again)
    assert "value" not in inputs(again)["private_key"]  # a secret is never sent back

    done = await connect(bot)
    assert done["task"]["type"] == "message" and "Connected" in done["task"]["value"]
    posted = await bot.fake.wait_text("Connected")
    assert "Test" in posted.text and "Disconnect" in posted.text  # settings buttons

    refused = await command(bot, OTHER, "connect")
    assert "owner" in refused.text.lower()
    assert "task/fetch" not in refused.text


async def test_owner_adds_another_owner_by_mention(bot: Bot) -> None:
    await connect(bot)
    mention = {
        "type": "mention",
        "text": "<at>Jane Doe</at>",
        "mentioned": {"id": TECH.teams_id, "name": TECH.name},
    }
    added = await command(bot, OWNER, "owners add <at>Jane Doe</at>", entities=[mention])
    assert "Jane Doe is now an owner" in added.text
    listed = await command(bot, TECH, "settings")
    assert "Disconnect" in listed.text  # Jane now sees the owner's buttons


# -- commands --------------------------------------------------------------------------------


async def test_link_map_me_by_upn_note_exactly_once_including_a_redelivery(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    before = len(bot.sandbox.state.notes_for(OPEN_TICKET_ID))
    activity = bot.teams.message(TECH, THREAD, "note Replaced the toner, printing OK")
    status, _ = await bot.teams.send(activity)
    assert status == 202
    posted = await bot.fake.wait_text("Note added")
    assert posted.conversation_id == THREAD
    status, _ = await bot.teams.send(activity)  # Teams redelivers the same activity
    assert status == 202
    await bot.runtime.intake.drain()
    notes = bot.sandbox.state.notes_for(OPEN_TICKET_ID)
    assert len(notes) == before + 1
    assert notes[-1]["text"].startswith("Replaced the toner, printing OK")
    assert notes[-1]["member"]["identifier"] == "jdoe"
    assert sum("Note added" in c.text for c in bot.fake.posts()) == 1


async def test_a_note_from_a_linked_thread_appears_in_its_post_history(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    # the link's root entry, posted into the linked thread (proactively, not as a reply)
    root = await bot.fake.wait_text("ticket linked by Jane Doe")
    assert root.conversation_id == THREAD and root.activity_id is None
    assert "🔗" in root.text and "service_recid=" in root.text
    activity = bot.teams.message(TECH, THREAD, "note Toner & drum replaced <ok>")
    status, _ = await bot.teams.send(activity)
    assert status == 202
    await bot.fake.wait_text("Note added")
    entry = await bot.fake.wait_text("added an internal note")
    assert entry.conversation_id == THREAD and entry.activity_id is None
    assert "✅" in entry.text and "Jane Doe" in entry.text
    # the user's words as typed, not escaped for another platform's markup
    assert "Toner & drum replaced <ok>" in entry.text and "&amp;" not in entry.text
    assert f"#{OPEN_TICKET_ID}" in entry.text
    await bot.runtime.intake.drain()
    await bot.runtime.services.events.drain()
    entries = [c for c in bot.fake.posts() if "added an internal note" in c.text]
    assert len(entries) == 1


async def test_post_history_in_a_group_chat_and_its_unlink(bot: Bot) -> None:
    chat = "19:b3c5a6e2d21f4f7e9a1c0d2e3f4a5b6c@thread.v2"
    await connect(bot)
    linked = await command(bot, TECH, f"link {OPEN_TICKET_ID}", chat, conversation_type="groupChat")
    assert "Linked" in linked.text, linked.text
    root = await bot.fake.wait_text("ticket linked by Jane Doe")
    assert root.conversation_id == chat
    await command(bot, TECH, "map me", chat, conversation_type="groupChat")
    await command(bot, TECH, "status waiting", chat, conversation_type="groupChat")
    entry = await bot.fake.wait_text("changed the status to")
    assert entry.conversation_id == chat and "Waiting on Customer" in entry.text
    await command(bot, TECH, "unlink", chat, conversation_type="groupChat")
    # besides the command's own answer, the history entry (posted, not a reply)
    gone = await bot.fake.wait_post(lambda c: "Unlinked from" in c.text and c.activity_id is None)
    assert gone.conversation_id == chat and "✖️" in gone.text and "Jane Doe" in gone.text


async def test_ticket_prefix_in_a_personal_chat_without_mention(bot: Bot) -> None:
    personal = "a:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHo"
    call = await command(
        bot, TECH, "ticket help", personal, mention_bot=False, conversation_type="personal"
    )
    assert call.conversation_id == personal and "search" in call.text


async def test_status_picker_and_change_and_history(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    answer = await open_dialog(bot, TECH, THREAD, "status")
    card = dialog_card(answer)
    choice = inputs(card)["status"]
    assert choice["type"] == "Input.ChoiceSet" and choice["choices"]
    resolved = next(c["value"] for c in choice["choices"] if c["title"] == "Resolved")
    status, done = await bot.teams.send(
        bot.teams.invoke(TECH, THREAD, "task/submit", {"data": submit_data(card, status=resolved)})
    )
    assert status == 200 and "Resolved" in done["task"]["value"]
    assert bot.sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"] == "Resolved"
    history = await command(bot, TECH, "history")
    assert "Resolved" in history.text and "posted" in history.text


async def test_search_buttons_via_action_execute_and_action_submit(bot: Bot) -> None:
    await connect(bot)
    found = await command(bot, TECH, "search printer")
    card = card_of(found)
    actions = [a for b in card["body"] for i in b.get("items", []) for a in i.get("actions", [])]
    link = next(a for a in actions if a["type"] == "Action.Execute")
    assert link["verb"] == "link_ticket"
    assert any(a["type"] == "Action.OpenUrl" for a in actions)
    # Action.Execute → adaptiveCard/action invoke, answered with the replacement card
    status, answer = await bot.teams.send(
        bot.teams.invoke(
            TECH,
            THREAD,
            "adaptiveCard/action",
            {"action": {"type": "Action.Execute", "verb": link["verb"], "data": link["data"]}},
        )
    )
    assert status == 200 and answer["statusCode"] == 200
    assert "Linked this thread" in json.dumps(answer["value"])
    # Action.Submit → a message activity carrying `value`
    other_thread = f"{CHANNEL};messageid=222"
    status, _ = await bot.teams.send(
        bot.teams.activity("message", TECH, other_thread, text="", value=link["data"])
    )
    assert status == 202
    linked = await bot.fake.wait_post(lambda c: c.conversation_id == other_thread)
    assert "Linked this thread" in linked.text


async def test_search_extension_answers_cards_and_caches(bot: Bot) -> None:
    await connect(bot)
    query = bot.teams.invoke(
        TECH,
        CHANNEL,
        "composeExtension/query",
        {
            "commandId": "searchTickets",
            "parameters": [{"name": "query", "value": "printer"}],
            "queryOptions": {"skip": 0, "count": 25},
        },
    )
    status, answer = await bot.teams.send(query)
    assert status == 200
    result = answer["composeExtension"]
    assert result["type"] == "result" and result["attachments"]
    first = result["attachments"][0]
    assert first["preview"]["content"]["title"].startswith("#")
    assert first["content"]["type"] == "AdaptiveCard"
    searches = len(bot.sandbox.requests) if hasattr(bot.sandbox, "requests") else None
    status, again = await bot.teams.send(query)
    assert status == 200 and again == answer
    if searches is not None:
        assert len(bot.sandbox.requests) == searches  # served from the cache


async def test_message_action_posts_once_to_the_linked_ticket(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    payload = {
        "linkToMessage": "https://teams.microsoft.com/l/message/19:x/1611060744833",
        "id": "1611060744833",
        "body": {
            "contentType": "html",
            "content": "<div><div>Printer <strong>back</strong> online &amp; tested</div></div>",
        },
        "from": {"user": {"id": OTHER.aad_id, "displayName": "Olo Brockhouse"}},
    }
    status, fetched = await bot.teams.send(
        bot.teams.invoke(
            TECH,
            THREAD,
            "composeExtension/fetchTask",
            {"commandId": "postToTicket", "commandContext": "message", "messagePayload": payload},
        )
    )
    assert status == 200
    card = dialog_card(fetched)
    assert "Printer back online & tested" in json.dumps(card)
    before = len(bot.sandbox.state.notes_for(OPEN_TICKET_ID))
    submit = bot.teams.invoke(
        TECH,
        THREAD,
        "composeExtension/submitAction",
        {"commandId": "postToTicket", "commandContext": "message", "data": submit_data(card)},
    )
    status, done = await bot.teams.send(submit)
    assert status == 200 and "Note added" in done["task"]["value"]
    status, repeat = await bot.teams.send(dict(submit, id="another-delivery"))
    # told it is a repeat (the first may still be being marked done: "is on its way")
    assert status == 200 and "posted twice" in repeat["task"]["value"]
    notes = bot.sandbox.state.notes_for(OPEN_TICKET_ID)
    assert len(notes) == before + 1
    assert notes[-1]["text"].startswith("Printer back online & tested")
    assert "Olo Brockhouse" in notes[-1]["text"] and payload["linkToMessage"] in notes[-1]["text"]


async def test_message_action_without_link_offers_the_link_picker(bot: Bot) -> None:
    await connect(bot)
    await command(bot, TECH, "map me")
    payload = {
        "linkToMessage": "https://teams.microsoft.com/l/message/19:x/55",
        "id": "55",
        "body": {"contentType": "html", "content": "<p>Disk replaced</p>"},
        "from": {"user": {"displayName": "Jane Doe"}},
    }
    _, fetched = await bot.teams.send(
        bot.teams.invoke(
            TECH,
            THREAD,
            "composeExtension/fetchTask",
            {"commandContext": "message", "messagePayload": payload},
        )
    )
    _, picker = await bot.teams.send(
        bot.teams.invoke(
            TECH,
            THREAD,
            "composeExtension/submitAction",
            {"data": submit_data(dialog_card(fetched))},
        )
    )
    card = dialog_card(picker)
    assert "ticket_id" in inputs(card)
    _, done = await bot.teams.send(
        bot.teams.invoke(
            TECH,
            THREAD,
            "composeExtension/submitAction",
            {"data": submit_data(card, ticket_id=str(OPEN_TICKET_ID))},
        )
    )
    assert "Note added" in done["task"]["value"]
    assert bot.sandbox.state.notes_for(OPEN_TICKET_ID)[-1]["text"].startswith("Disk replaced")


async def test_a_second_tenant_sees_nothing_of_the_first(bot: Bot) -> None:
    await connect(bot)
    await link_and_map(bot)
    stranger = TeamsSender(bot.url, bot.fake, tenant="11111111-2222-3333-4444-555555555555")
    bot.teams, original = stranger, bot.teams
    try:
        shown = await command(bot, TECH, "show")
        assert str(OPEN_TICKET_ID) not in shown.text and "link" in shown.text
        settings = await command(bot, TECH, "settings")
        assert "Not connected" in settings.text
    finally:
        bot.teams = original


async def test_malformed_activities_are_4xx_and_unknown_invokes_200(bot: Bot) -> None:
    assert (await bot.teams.send("not json"))[0] == 400
    assert (await bot.teams.send("[1, 2]"))[0] == 400
    no_tenant = bot.teams.message(TECH, THREAD, "help")
    no_tenant.pop("channelData")
    no_tenant["conversation"].pop("tenantId")
    assert (await bot.teams.send(no_tenant))[0] == 400
    assert (await bot.teams.send({"type": "message", "conversation": "x"}))[0] == 400
    status, body = await bot.teams.send(bot.teams.invoke(TECH, THREAD, "config/fetch", {}))
    assert status == 200
    status, body = await bot.teams.send(bot.teams.invoke(TECH, THREAD, "task/submit", {}))
    assert status == 200 and body["task"]["type"] == "message"


# -- authentication --------------------------------------------------------------------------


def _rsa_token(claims: dict[str, Any]) -> str:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "psabot-test"})


async def test_with_an_app_id_no_token_and_a_forged_token_are_401_and_nothing_is_sent(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeConnector,
    unused_tcp_port: int,
) -> None:
    import time

    settings = bot_settings(
        sqlite_url,
        encryption_key,
        tmp_path,
        cw_sandbox,
        MICROSOFT_APP_ID="00000000-1111-2222-3333-444444444444",
        MICROSOFT_APP_PASSWORD="app-secret",
        MICROSOFT_APP_TENANT_ID=TENANT,
    )
    # Microsoft's signing keys can't be fetched: a closed local port stands in for them.
    options = teams.TeamsOptions(jwks_url=f"http://127.0.0.1:{unused_tcp_port}/keys")
    async with serving(settings, options) as (url, _):
        sender = TeamsSender(url, fake)
        assert (await sender.send(sender.message(TECH, THREAD, "help")))[0] == 401
        now = int(time.time())
        sender.token = _rsa_token(
            {
                "iss": "https://api.botframework.com",
                "aud": settings.microsoft_app_id,
                "serviceurl": fake.url,
                "iat": now,
                "nbf": now,
                "exp": now + 600,
            }
        )
        assert (await sender.send(sender.message(TECH, THREAD, "help")))[0] == 401
        assert (await sender.send(sender.invoke(TECH, THREAD, "task/fetch", {})))[0] == 401
        sender.token = "not.a.jwt"
        assert (await sender.send(sender.message(TECH, THREAD, "help")))[0] == 401
        status, _ = await sender.send(
            sender.message(TECH, THREAD, "help"), headers={"Authorization": "Basic abc"}
        )
        assert status == 401
    assert fake.calls == []


def test_serving_without_an_app_id_is_refused_off_loopback(tmp_path: Path) -> None:
    settings = Settings(PSABOT_DATA_DIR=str(tmp_path))
    assert teams.check_bind(settings, "127.0.0.1") is None
    assert teams.check_bind(settings, "localhost") is None
    problem = teams.check_bind(settings, "0.0.0.0")
    assert problem is not None and "MICROSOFT_APP_ID" in problem
    single = Settings(
        PSABOT_DATA_DIR=str(tmp_path), MICROSOFT_APP_ID="a", MICROSOFT_APP_PASSWORD="p"
    )
    assert "MICROSOFT_APP_TENANT_ID" in (teams.check_bind(single, "0.0.0.0") or "")
    multi = Settings(
        PSABOT_DATA_DIR=str(tmp_path),
        MICROSOFT_APP_ID="a",
        MICROSOFT_APP_PASSWORD="p",
        MICROSOFT_APP_TYPE="MultiTenant",
    )
    assert teams.check_bind(multi, "0.0.0.0") is None


async def test_slow_connectwise_closes_the_setup_dialog_with_testing_then_posts_the_result(
    sqlite_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    fake: FakeConnector,
) -> None:
    settings = bot_settings(sqlite_url, encryption_key, tmp_path, cw_sandbox)
    async with serving(settings, teams.TeamsOptions(invoke_budget=0.3)) as (url, app):
        bot = Bot(url, app[RUNTIME], TeamsSender(url, fake), fake, cw_sandbox)
        answer = await open_dialog(bot, OWNER, THREAD, "connect")
        cw_sandbox.faults.configure(latency_ms=400)
        creds = cw_sandbox.credentials
        values = {
            "site": cw_sandbox.host_port,
            "company_id": creds.company_id,
            "public_key": creds.public_key,
            "private_key": creds.private_key,
            "client_id": creds.client_id,
        }
        status, result = await bot.teams.send(
            bot.teams.invoke(
                OWNER, THREAD, "task/submit", {"data": submit_data(dialog_card(answer), **values)}
            )
        )
        assert status == 200 and result["task"]["type"] == "message"
        assert "Testing the connection" in result["task"]["value"]
        posted = await fake.wait_text("Connected", timeout=15)
        assert posted.conversation_id == THREAD
        assert creds.private_key not in fake.everything_sent()
        assert not any(creds.private_key in a for a in bot.teams.answers)
