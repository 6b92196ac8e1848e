# ruff: noqa: F811  (pytest fixtures arrive as parameters named like the imported fixtures)
"""Slack unfurls end to end: signed `link_shared` and `message` events to the real app, the
fake Slack Web API recording `chat.unfurl` and `conversations.info`, the ConnectWise sandbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from fake_slack import Call, hook_text
from test_slack_e2e import (  # noqa: F401  (bot and fake: the fixtures, shared)
    ADMIN,
    TECH,
    Bot,
    bot,
    connect,
    fake,
    link_and_map,
)

from bot.core.context import provider_for_account
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID

INTERNAL_NOTE = "Fuser error 50.2"  # OPEN_TICKET_ID's internal note in the sandbox
DISCUSSION = "HP LaserJet M404"  # and its customer-visible discussion note
PAGE = "services/system_io/Service/fv_sr100_request.rails"


async def ticket_url(bot: Bot, ticket_id: int) -> str:
    """The link psabot's own "Open in ConnectWise" button carries for this ticket."""
    async with bot.runtime.store.unit() as uow:
        account = await uow.accounts.find("slack", "T111")
    assert account is not None
    provider = await provider_for_account(bot.runtime.services, account.id)
    return provider.ticket_url(ticket_id)


def link_shared(
    urls: list[str], channel: str = "C1", ts: str = "1700000000.000100", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "link_shared",
        "channel": channel,
        "is_bot_user_member": True,
        "user": TECH,
        "message_ts": ts,
        "unfurl_id": f"{channel}.{ts}.x",
        "source": "conversations_history",
        "links": [{"domain": u.split("/")[2], "url": u} for u in urls],
        **extra,
    }


def message(text: str, channel: str = "C1", ts: str = "1700000001.000200", **extra: Any) -> dict:
    return {"type": "message", "channel": channel, "user": TECH, "text": text, "ts": ts, **extra}


async def unfurled(bot: Bot, channel: str, ts: str) -> Call:
    return await bot.fake.wait_call(
        "chat.unfurl", lambda c: c.get("channel") == channel and c.get("ts") == ts
    )


async def settle(bot: Bot) -> None:
    """Every piece of background work the events started has finished."""
    await asyncio.sleep(0.05)
    await bot.transport.drain()


async def test_a_ticket_link_unfurls_into_a_card_and_a_task_work_object(bot: Bot) -> None:
    await connect(bot)
    url = await ticket_url(bot, OPEN_TICKET_ID)
    status, _, _ = await bot.slack.event(link_shared([url]))
    assert status == 200
    call = await unfurled(bot, "C1", "1700000000.000100")

    blocks = json.dumps(call["unfurls"][url]["blocks"], ensure_ascii=False)
    for shown in ("Front desk printer jams", "In Progress", "Contoso Dental", "Service Desk"):
        assert shown in blocks, shown
    (entity,) = call["metadata"]["entities"]
    assert entity["entity_type"] == "slack#/entities/task"
    assert entity["app_unfurl_url"] == url  # exactly the link that was posted
    assert entity["external_ref"]["id"] == str(OPEN_TICKET_ID)
    assert entity["entity_payload"]["fields"]["status"]["value"] == "In Progress"
    assert "Front desk printer" in entity["entity_payload"]["attributes"]["title"]["text"]
    # the channel's audience was asked for, once, and no note of the ticket went to Slack
    assert [c["channel"] for c in bot.fake.api("conversations.info")] == ["C1"]
    sent = bot.fake.everything_sent()
    assert INTERNAL_NOTE not in sent and DISCUSSION not in sent


async def test_links_of_another_site_or_company_are_never_looked_up(bot: Bot) -> None:
    await connect(bot)
    own = await ticket_url(bot, OPEN_TICKET_ID)
    company = bot.sandbox.credentials.company_id
    host = bot.sandbox.host_port
    path = own.split(host, 1)[1].split("?", 1)[0]
    other = f"service_recid={CLOSED_TICKET_ID}"
    foreign = [
        f"https://na.myconnectwise.net{path}?{other}&companyName={quote(company)}",
        f"http://{host}{path}?{other}&companyName=someoneelse",
        f"http://{host.rsplit(':', 1)[0]}:1{path}?{other}&companyName={quote(company)}",
        f"http://evil.example.com/{PAGE}?{other}&companyName={quote(company)}",
    ]
    bot.sandbox.requests.clear()
    await bot.slack.event(link_shared([*foreign, own]))
    call = await unfurled(bot, "C1", "1700000000.000100")
    assert list(call["unfurls"]) == [own]
    assert len(call["metadata"]["entities"]) == 1
    paths = [r.path for r in bot.sandbox.requests.records]
    assert not any(str(CLOSED_TICKET_ID) in p for p in paths), paths

    # a message with only foreign links gets no unfurl at all
    await bot.slack.event(link_shared(foreign, ts="1700000000.000900"))
    await settle(bot)
    assert not [c for c in bot.fake.api("chat.unfurl") if c.get("ts") == "1700000000.000900"]


async def test_no_unfurl_before_connecting(bot: Bot) -> None:
    url = "http://127.0.0.1:1/v4_6_release/" + PAGE + "?service_recid=48213&companyName=x"
    status, _, _ = await bot.slack.event(link_shared([url]))
    assert status == 200
    await settle(bot)
    assert bot.fake.api("chat.unfurl") == []


async def test_slack_connect_channel_refuses_until_an_owner_allows_it(bot: Bot) -> None:
    await connect(bot)
    bot.fake.ext_shared.add("CSHARED")
    url = await ticket_url(bot, OPEN_TICKET_ID)

    await bot.slack.event(link_shared([url], channel="CSHARED", ts="1.1"))
    await settle(bot)
    assert bot.fake.api("chat.unfurl") == []
    assert [c["channel"] for c in bot.fake.api("conversations.info")] == ["CSHARED"]

    await bot.slack.command("unfurl", user=TECH, channel="CSHARED")
    await bot.fake.wait_hook(lambda h: "Ticket unfurls are off here" in hook_text(h))
    await bot.slack.command("unfurl allow", user=TECH, channel="CSHARED")  # not an owner
    refused = await bot.fake.wait_hook(
        lambda h: "owner" in hook_text(h).lower() and "allow" in hook_text(h)
    )
    assert "are allowed" not in hook_text(refused)
    await bot.slack.event(link_shared([url], channel="CSHARED", ts="1.2"))
    await settle(bot)
    assert bot.fake.api("chat.unfurl") == []

    await bot.slack.command("unfurl allow", user=ADMIN, channel="CSHARED")
    await bot.fake.wait_hook(lambda h: "Ticket unfurls are allowed" in hook_text(h))
    # allowed, but a shared channel not linked to a ticket unfurls nothing
    await bot.slack.event(link_shared([url], channel="CSHARED", ts="1.25"))
    await settle(bot)
    assert bot.fake.api("chat.unfurl") == []
    await bot.slack.command(f"link {OPEN_TICKET_ID}", user=TECH, channel="CSHARED")
    await bot.fake.wait_hook(lambda h: "Linked this channel" in hook_text(h))
    await bot.slack.event(link_shared([url], channel="CSHARED", ts="1.3"))
    call = await unfurled(bot, "CSHARED", "1.3")
    assert list(call["unfurls"]) == [url]
    assert INTERNAL_NOTE not in bot.fake.everything_sent()
    # the customer reading it sees its own company's tickets only: never another customer's
    other_company = await ticket_url(bot, CLOSED_TICKET_ID)  # Northwind, not Contoso
    await bot.slack.event(link_shared([other_company], channel="CSHARED", ts="1.35"))
    await settle(bot)
    assert [c["ts"] for c in bot.fake.api("chat.unfurl")] == ["1.3"]
    same_company = await ticket_url(bot, 48201)  # Contoso, like the linked ticket
    await bot.slack.event(link_shared([same_company], channel="CSHARED", ts="1.36"))
    await unfurled(bot, "CSHARED", "1.36")

    # the choice is per channel: another Slack Connect channel still refuses
    bot.fake.ext_shared.add("COTHER")
    await bot.slack.event(link_shared([url], channel="COTHER", ts="1.4"))
    await settle(bot)
    assert [c["channel"] for c in bot.fake.api("chat.unfurl")] == ["CSHARED", "CSHARED"]

    await bot.slack.command("unfurl deny", user=ADMIN, channel="CSHARED")
    await bot.fake.wait_hook(lambda h: "Ticket unfurls are off in this channel" in hook_text(h))
    await bot.slack.event(link_shared([url], channel="CSHARED", ts="1.5"))
    await settle(bot)
    assert [c["ts"] for c in bot.fake.api("chat.unfurl")] == ["1.3", "1.36"]
    # Slack was asked about each channel once: the answer is cached (5 minutes)
    asked = [c["channel"] for c in bot.fake.api("conversations.info")]
    assert sorted(asked) == ["COTHER", "CSHARED"]


async def test_slack_api_failure_counts_as_shared(bot: Bot) -> None:
    await connect(bot)
    url = await ticket_url(bot, OPEN_TICKET_ID)
    bot.fake.fail["conversations.info"] = "missing_scope"
    await bot.slack.event(link_shared([url], channel="C7", ts="2.1"))
    await settle(bot)
    assert bot.fake.api("chat.unfurl") == []
    # not cached: once Slack answers, the next link unfurls
    del bot.fake.fail["conversations.info"]
    await bot.slack.event(link_shared([url], channel="C7", ts="2.2"))
    await unfurled(bot, "C7", "2.2")


async def test_a_ticket_number_in_a_linked_channel_is_answered_once_in_its_thread(
    bot: Bot,
) -> None:
    await connect(bot)
    await link_and_map(bot)  # links channel C1 to OPEN_TICKET_ID
    first = message(f"is #{CLOSED_TICKET_ID} related?", ts="10.1")
    assert (await bot.slack.event(first))[0] == 200
    post = await bot.fake.wait_call("chat.postMessage", lambda c: c.get("thread_ts") == "10.1")
    assert post["channel"] == "C1"
    shown = json.dumps(post["blocks"], ensure_ascii=False)
    assert "New hire onboarding" in shown and "Northwind" in shown
    assert post["unfurl_links"] is False

    await bot.slack.event(first)  # Slack delivers the same event again
    await bot.slack.event(message(f"again #{CLOSED_TICKET_ID}", ts="10.2"))  # asked again
    await bot.slack.event(message(f"#{CLOSED_TICKET_ID}", ts="10.3", bot_id="B9"))  # a bot
    await bot.slack.event(message(f"#{CLOSED_TICKET_ID}", ts="10.4", subtype="message_changed"))
    await bot.slack.event(message(f"#{OPEN_TICKET_ID} here", channel="C9", ts="10.5"))  # unlinked
    await settle(bot)
    posts = [c for c in bot.fake.api("chat.postMessage") if "New hire" in json.dumps(c.params)]
    assert len(posts) == 1
    assert not [c for c in bot.fake.api("chat.postMessage") if c.get("channel") == "C9"]
    assert INTERNAL_NOTE not in bot.fake.everything_sent()


async def test_a_ticket_number_in_a_linked_slack_connect_channel_is_refused(bot: Bot) -> None:
    await connect(bot)
    bot.fake.ext_shared.add("CSHARED")
    await bot.slack.command(f"link {OPEN_TICKET_ID}", user=TECH, channel="CSHARED")
    await bot.fake.wait_hook(lambda h: "Linked this channel" in hook_text(h))
    await bot.slack.event(message(f"see #{CLOSED_TICKET_ID}", channel="CSHARED", ts="11.1"))
    await settle(bot)
    cards = [c for c in bot.fake.api("chat.postMessage") if c.get("thread_ts") == "11.1"]
    assert cards == []
    assert "New hire onboarding" not in bot.fake.everything_sent()


async def test_malformed_events_are_answered_4xx_or_ignored_never_500(bot: Bot) -> None:
    await connect(bot)
    url = await ticket_url(bot, OPEN_TICKET_ID)
    bad_events: list[dict[str, Any]] = [
        {"type": "link_shared", "channel": "C1", "message_ts": "3.1", "links": "not a list"},
        {"type": "link_shared", "channel": "C1", "message_ts": "3.2", "links": [5, None, "x"]},
        {"type": "link_shared", "links": [{"url": url}]},  # where?
        {"type": "link_shared", "channel": 7, "user": [], "message_ts": {}, "links": [{"url": 1}]},
        {
            "type": "link_shared",
            "channel": "C1",
            "user": TECH,
            "message_ts": "3.3",
            "links": [{"url": "x" * 5000}],
        },
        {"type": "message", "channel": "C1", "user": TECH, "text": 12345, "ts": "3.4"},
        {"type": "message", "channel": None, "text": "#48213", "ts": "3.5"},
        {"type": "message", "channel": "C1", "user": TECH, "text": "#" + "9" * 400, "ts": "3.6"},
    ]
    for event in bad_events:
        status, _, _ = await bot.slack.event(event)
        assert 200 <= status < 500, (status, event)
    for raw in ('{"type": "event_callback", "team_id": "T111", "event": "x"}', "[1, 2]", "{"):
        status, _, _ = await bot.slack.post(raw, "application/json")
        assert 400 <= status < 500, (status, raw)
    await settle(bot)
    assert bot.fake.api("chat.unfurl") == []
    assert bot.fake.api("chat.postMessage") == []
    # and the app still works
    await bot.slack.event(link_shared([url], ts="3.9"))
    await unfurled(bot, "C1", "3.9")
