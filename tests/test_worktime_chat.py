"""Time entries and new tickets over Slack (signed requests) and Teams (activities), against the
sandbox: one entry / one ticket each, the right member, duration and billing, type-ahead."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import test_slack_e2e as slack_e2e
import test_teams_e2e as teams_e2e
from fake_slack import hook_text
from test_slack_e2e import TECH as SLACK_TECH
from test_slack_e2e import bot as slack_bot  # noqa: F401  (fixtures)
from test_slack_e2e import fake as fake
from test_teams_e2e import TECH as TEAMS_TECH
from test_teams_e2e import THREAD, dialog_card, inputs, submit_data

from psa.connectwise.sandbox import OPEN_TICKET_ID


def one_entry(sandbox: Any, ticket_id: int = OPEN_TICKET_ID) -> dict[str, Any]:
    entries = sandbox.state.time_entries_for(ticket_id)
    assert len(entries) == 1, entries
    entry: dict[str, Any] = entries[0]
    return entry


# -- Slack ------------------------------------------------------------------------------------


async def test_slack_time_once_with_member_duration_billing_and_history(
    slack_bot: slack_e2e.Bot,  # noqa: F811
) -> None:
    bot = slack_bot
    await slack_e2e.connect(bot)
    await slack_e2e.link_and_map(bot)
    body = bot.slack.command_body("time 45m --billable Replaced the fuser", user=SLACK_TECH)
    for _ in range(2):  # Slack retries a request it thinks timed out: same trigger_id
        status, _, _ = await bot.slack.post(body, "application/x-www-form-urlencoded")
        assert status == 200
    await bot.fake.wait_hook(lambda h: "Logged 45m" in hook_text(h))
    await bot.runtime.intake.drain()
    entry = one_entry(bot.sandbox)
    assert entry["member"]["identifier"] == "jdoe"
    assert entry["actualHours"] == 0.75 and entry["billableOption"] == "Billable"
    assert entry["notes"].startswith("Replaced the fuser\n\n— posted from Slack by Jane Doe")
    line = await bot.fake.wait_call("chat.postMessage", lambda c: "logged" in c["text"])
    assert "45m (billable)" in line["text"] and line["thread_ts"]


async def test_slack_malformed_duration_gets_the_usage_line(
    slack_bot: slack_e2e.Bot,  # noqa: F811
) -> None:
    bot = slack_bot
    await slack_e2e.connect(bot)
    await slack_e2e.link_and_map(bot)
    await bot.slack.command("time 45 Replaced the fuser", user=SLACK_TECH)
    told = await bot.fake.wait_hook(lambda h: "not a duration" in hook_text(h))
    assert "time <45m|1h30m|1.5h>" in hook_text(told)
    await bot.slack.command("time 30h Migration", user=SLACK_TECH)
    await bot.fake.wait_hook(lambda h: "more than a day" in hook_text(h))
    assert bot.sandbox.state.time_entries_for(OPEN_TICKET_ID) == []


async def test_slack_note_modal_with_time(slack_bot: slack_e2e.Bot) -> None:  # noqa: F811
    bot = slack_bot
    await slack_e2e.connect(bot)
    await slack_e2e.link_and_map(bot)
    await bot.slack.command("time", user=SLACK_TECH)
    opened = await bot.fake.wait_call("views.open", lambda c: c["view"]["callback_id"] == "note")
    blocks = {b.get("block_id") for b in opened["view"]["blocks"]}
    assert {"time", "billing"} <= blocks
    await bot.slack.submit(
        opened["view"],
        {
            "note_type": {"type": "static_select", "selected_option": {"value": "internal"}},
            "text": {"type": "plain_text_input", "value": "Firmware update"},
            "status": {"type": "external_select", "selected_option": None},
            "time": {"type": "plain_text_input", "value": "1h30m"},
            "billing": {"type": "static_select", "selected_option": {"value": "NoCharge"}},
        },
        user=SLACK_TECH,
        view_id="V-note-time",
    )
    await bot.fake.wait_call("views.update", lambda c: "Logged 1h 30m" in json.dumps(c["view"]))
    entry = one_entry(bot.sandbox)
    assert entry["actualHours"] == 1.5 and entry["billableOption"] == "NoCharge"


async def test_slack_new_ticket_shortcut_with_company_type_ahead(
    slack_bot: slack_e2e.Bot,  # noqa: F811
) -> None:
    bot = slack_bot
    await slack_e2e.connect(bot)
    await bot.slack.command("map me", user=SLACK_TECH)
    await bot.fake.wait_hook(lambda h: "jdoe" in hook_text(h))
    await bot.slack.shortcut(
        "Scanner in reception shows error 5\nsince this morning",
        user=SLACK_TECH,
        author=slack_e2e.ADMIN,
        callback_id="new_ticket",
    )
    opened = await bot.fake.wait_call(
        "views.open", lambda c: c["view"]["callback_id"] == "new_ticket"
    )
    view = opened["view"]
    summary = next(b for b in view["blocks"] if b.get("block_id") == "summary")
    assert summary["element"]["initial_value"] == "Scanner in reception shows error 5"
    status, body, elapsed = await bot.slack.suggest(view, "company", "contoso", user=SLACK_TECH)
    assert status == 200 and elapsed < 2.5
    options = json.loads(body)["options"]
    contoso = next(o for o in options if "Contoso" in o["text"]["text"])
    assert 0 < len(options) <= 25
    before = len(bot.sandbox.requests.matching(path_contains="/company/companies"))
    _, again, _ = await bot.slack.suggest(view, "company", "cont", user=SLACK_TECH)
    assert json.loads(again)["options"]
    assert len(bot.sandbox.requests.matching(path_contains="/company/companies")) == before
    values = {
        "summary": {"type": "plain_text_input", "value": "Scanner in reception shows error 5"},
        "company": {"type": "external_select", "selected_option": {"value": contoso["value"]}},
        "board": {"type": "static_select", "selected_option": None},
        "priority": {"type": "static_select", "selected_option": None},
        "note": {"type": "plain_text_input", "value": None},
    }
    for _ in range(2):  # a double click: the same view state twice
        await bot.slack.submit(view, values, user=SLACK_TECH, view_id="V-new")
    await bot.fake.wait_call("views.update", lambda c: "Created #" in json.dumps(c["view"]))
    await bot.runtime.intake.drain()
    made = [
        t
        for t in bot.sandbox.state.tickets.values()
        if t["summary"] == "Scanner in reception shows error 5"
    ]
    assert len(made) == 1
    ticket = made[0]
    assert ticket["company"]["identifier"] == "ContosoDental"
    notes = bot.sandbox.state.notes_for(ticket["id"])
    internal = [n for n in notes if n["internalAnalysisFlag"]]
    assert len(internal) == 1
    assert internal[0]["text"].startswith("Scanner in reception shows error 5\nsince this morning")
    assert "Message from Alice Admin" in internal[0]["text"]
    async with bot.runtime.store.unit() as uow:
        account = await uow.accounts.get_or_create("slack", bot.slack.team, "")
        link = await uow.links.get(account.id, "C1/1583636382.000300")
    assert link is not None and link.ticket_id == ticket["id"]  # the message's thread


# -- Teams ------------------------------------------------------------------------------------


@pytest.fixture
async def teams_bot(
    sqlite_url: str, encryption_key: str, tmp_path: Any, cw_sandbox: Any, teams_fake: Any
) -> Any:
    from fake_connector import TeamsSender

    from bot import teams
    from bot.app import RUNTIME

    settings = teams_e2e.bot_settings(sqlite_url, encryption_key, tmp_path, cw_sandbox)
    async with teams_e2e.serving(settings, teams.TeamsOptions(invoke_budget=5.0)) as (url, app):
        yield teams_e2e.Bot(url, app[RUNTIME], TeamsSender(url, teams_fake), teams_fake, cw_sandbox)


@pytest.fixture
async def teams_fake() -> Any:
    from fake_connector import FakeConnector

    connector = FakeConnector()
    for person in (teams_e2e.OWNER, TEAMS_TECH, teams_e2e.OTHER):
        connector.add_person(person)
    await connector.start()
    try:
        yield connector
    finally:
        await connector.stop()


async def test_teams_time_once_and_usage(teams_bot: teams_e2e.Bot) -> None:
    bot = teams_bot
    await teams_e2e.connect(bot)
    await teams_e2e.link_and_map(bot)
    activity = bot.teams.message(TEAMS_TECH, THREAD, "time 1h30m --no-bill Rebuilt the profile")
    for _ in range(2):  # Teams redelivers the same activity
        status, _ = await bot.teams.send(activity)
        assert status == 202
    await bot.fake.wait_text("Logged 1h 30m")
    await bot.runtime.intake.drain()
    entry = one_entry(bot.sandbox)
    assert entry["member"]["identifier"] == "jdoe"
    assert entry["actualHours"] == 1.5 and entry["billableOption"] == "DoNotBill"
    bad = await teams_e2e.command(bot, TEAMS_TECH, "time 1h30 Rebuilt")
    assert ("not a duration" in bad.text and "time &lt;45m" in bad.text) or "time <45m" in bad.text
    assert len(bot.sandbox.state.time_entries_for(OPEN_TICKET_ID)) == 1


async def test_teams_new_ticket_message_action_with_type_ahead(teams_bot: teams_e2e.Bot) -> None:
    bot = teams_bot
    await teams_e2e.connect(bot)
    await teams_e2e.command(bot, TEAMS_TECH, "map me")
    payload = {
        "linkToMessage": "https://teams.microsoft.com/l/message/19:x/1611060744999",
        "id": "1611060744999",
        "body": {"contentType": "html", "content": "<div>VPN drops every hour</div>"},
        "from": {"user": {"id": teams_e2e.OTHER.aad_id, "displayName": "Olo Brockhouse"}},
    }
    status, fetched = await bot.teams.send(
        bot.teams.invoke(
            TEAMS_TECH,
            THREAD,
            "composeExtension/fetchTask",
            {"commandId": "newTicket", "commandContext": "message", "messagePayload": payload},
        )
    )
    assert status == 200
    card = dialog_card(fetched)
    fields = inputs(card)
    assert fields["summary"]["value"] == "VPN drops every hour"
    assert fields["company"]["choices.data"]["dataset"] == "companies"
    started = time.monotonic()
    status, found = await bot.teams.send(
        bot.teams.invoke(
            TEAMS_TECH, THREAD, "application/search", {"dataset": "companies", "queryText": "north"}
        )
    )
    assert status == 200 and time.monotonic() - started < 5.0  # Teams' limit for the answer
    results = found["value"]["results"]
    northwind = next(r for r in results if "Northwind" in r["title"])
    submit = bot.teams.invoke(
        TEAMS_TECH,
        THREAD,
        "composeExtension/submitAction",
        {
            "commandId": "newTicket",
            "commandContext": "message",
            "data": submit_data(
                card, summary="VPN drops every hour", company=northwind["value"], note=""
            ),
        },
    )
    status, done = await bot.teams.send(submit)
    assert status == 200 and "Created #" in json.dumps(done), done
    status, _ = await bot.teams.send(dict(submit, id="another-delivery"))
    await bot.runtime.intake.drain()
    made = [t for t in bot.sandbox.state.tickets.values() if t["summary"] == "VPN drops every hour"]
    assert len(made) == 1
    internal = [n for n in bot.sandbox.state.notes_for(made[0]["id"]) if n["internalAnalysisFlag"]]
    assert len(internal) == 1 and "Olo Brockhouse" in internal[0]["text"]
    shown = await teams_e2e.command(bot, TEAMS_TECH, "show")
    assert f"#{made[0]['id']}" in shown.text


# -- malformed payloads to the new handlers: 4xx or ignored, never 500 ------------------------


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Records at ERROR or above: a handler that failed in the background (after the ack)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_slack_malformed_new_ticket_payloads_are_never_500(
    slack_bot: slack_e2e.Bot,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = slack_bot
    await slack_e2e.connect(bot)
    await bot.slack.command("map me", user=SLACK_TECH)
    await bot.fake.wait_hook(lambda h: "jdoe" in hook_text(h))
    await bot.slack.shortcut("Printer on fire", user=SLACK_TECH, callback_id="new_ticket")
    opened = await bot.fake.wait_call(
        "views.open", lambda c: c["view"]["callback_id"] == "new_ticket"
    )
    view = opened["view"]
    before = len(bot.sandbox.state.tickets)
    for values in (
        {},  # no block at all
        {"summary": {"type": "plain_text_input", "value": None}},
        {"summary": {"type": "plain_text_input", "value": ["a list"]}},
        {
            "summary": {"type": "plain_text_input", "value": "x"},
            "company": {"type": "external_select", "selected_option": {"value": "not-a-company"}},
        },
        {"company": {"type": "external_select", "selected_option": "a string"}},
    ):
        status, body, _ = await bot.slack.submit(view, values, user=SLACK_TECH)
        assert status < 500, (values, status, body)
    for value in ("", "x" * 5000, "\x00"):
        status, body, _ = await bot.slack.suggest(view, "company", value, user=SLACK_TECH)
        assert status < 500, (value, status, body)
    broken = dict(view, private_metadata="{not json")
    status, body, _ = await bot.slack.submit(broken, {}, user=SLACK_TECH)
    assert status < 500, body
    await bot.runtime.intake.drain()
    assert len(bot.sandbox.state.tickets) == before  # nothing was created from any of them
    for text in ("time", "time 1h", "time ٤٥m notes", "new", "new --company"):
        status, body, _ = await bot.slack.command(text, user=SLACK_TECH)
        assert status == 200, (text, body)
    await bot.transport.drain()
    assert errors_logged(caplog) == []


async def test_teams_malformed_new_ticket_invokes_are_never_500(
    teams_bot: teams_e2e.Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = teams_bot
    await teams_e2e.connect(bot)
    await teams_e2e.command(bot, TEAMS_TECH, "map me")
    before = len(bot.sandbox.state.tickets)
    values: list[tuple[str, Any]] = [
        ("composeExtension/fetchTask", {"commandId": "newTicket"}),
        ("composeExtension/fetchTask", {"commandId": "newTicket", "messagePayload": "x"}),
        ("composeExtension/fetchTask", {"commandId": "newTicket", "messagePayload": {"body": 5}}),
        ("composeExtension/submitAction", {"commandId": "newTicket"}),
        ("composeExtension/submitAction", {"commandId": "newTicket", "data": "summary"}),
        ("composeExtension/submitAction", {"commandId": "newTicket", "data": {"summary": 7}}),
        ("composeExtension/submitAction", {"commandId": "newTicket", "data": {"company": []}}),
        ("application/search", {"dataset": "companies"}),
        ("application/search", {"dataset": "companies", "queryText": {"x": 1}}),
        ("application/search", {"queryText": "north"}),
        ("application/search", {"dataset": "companies", "queryText": "n" * 5000}),
    ]
    for name, value in values:
        status, answer = await bot.teams.send(bot.teams.invoke(TEAMS_TECH, THREAD, name, value))
        assert status < 500, (name, value, status, answer)
    await bot.runtime.intake.drain()
    assert len(bot.sandbox.state.tickets) == before
    assert errors_logged(caplog) == []
