# ruff: noqa: F811  (pytest fixtures arrive as parameters named like the imported fixtures)
"""Teams unfurls end to end: `composeExtension/queryLink` invokes posted to /api/messages, the
answer read from the HTTP response, the ConnectWise sandbox behind it."""

from __future__ import annotations

import json
from typing import Any

from fake_connector import TENANT, Person
from test_teams_e2e import (  # noqa: F401  (bot and fake: the fixtures, shared)
    CHANNEL,
    OWNER,
    TECH,
    Bot,
    bot,
    command,
    connect,
    fake,
)

from bot.core.context import provider_for_account
from bot.teams.sharing import TeamsSharingProbe, external
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID

INTERNAL_NOTE = "Fuser error 50.2"
DISCUSSION = "HP LaserJet M404"
SHARED = "19:shared0123456789abcdef@thread.tacv2"
FOREIGN_TENANT = "7e57c0de-0000-4000-8000-000000000042"


def shared_channel(conversation: str = SHARED) -> dict[str, Any]:
    return {"tenant": {"id": TENANT}, "channel": {"id": conversation, "type": "shared"}}


async def ticket_url(bot: Bot, ticket_id: int) -> str:
    async with bot.runtime.store.unit() as uow:
        account = await uow.accounts.find("teams", TENANT)
    assert account is not None
    provider = await provider_for_account(bot.runtime.services, account.id)
    return provider.ticket_url(ticket_id)


async def query_link(
    bot: Bot, url: Any, conversation: str = CHANNEL, person: Person = TECH, **kw: Any
) -> tuple[int, Any]:
    activity = bot.teams.invoke(person, conversation, "composeExtension/queryLink", {"url": url})
    activity.update(kw)
    return await bot.teams.send(activity)


def attachments(answer: Any) -> list[dict[str, Any]]:
    assert answer["composeExtension"]["type"] == "result", answer
    found: list[dict[str, Any]] = answer["composeExtension"]["attachments"]
    return found


async def connected(bot: Bot) -> str:
    done = await connect(bot)
    assert done["task"]["type"] == "message", done
    return await ticket_url(bot, OPEN_TICKET_ID)


async def test_a_ticket_link_unfurls_into_a_card(bot: Bot) -> None:
    url = await connected(bot)
    status, answer = await query_link(bot, url)
    assert status == 200
    (card,) = attachments(answer)
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    shown = json.dumps(card, ensure_ascii=False)
    for text in ("Front desk printer jams", "In Progress", "Contoso Dental", "Service Desk"):
        assert text in shown, text
    assert "Front desk printer" in card["preview"]["content"]["title"]
    assert INTERNAL_NOTE not in shown and DISCUSSION not in shown
    assert not any(INTERNAL_NOTE in a for a in bot.teams.answers)


async def test_links_of_another_site_or_company_get_no_card(bot: Bot) -> None:
    own = await connected(bot)
    host = bot.sandbox.host_port
    bot.sandbox.requests.clear()
    for url in (
        own.replace(host, "na.myconnectwise.net").replace("http://", "https://"),
        own.split("&companyName=")[0] + "&companyName=someoneelse",
        own.split("&companyName=")[0],  # no company named on a host that is ours: still ours
    ):
        status, answer = await query_link(
            bot, url.replace(str(OPEN_TICKET_ID), str(CLOSED_TICKET_ID))
        )
        assert status == 200
        if "companyName" in url:
            assert attachments(answer) == [], url
    # only the last one (our host, no company named) was looked up
    lookups = [r.path for r in bot.sandbox.requests.records if str(CLOSED_TICKET_ID) in r.path]
    assert len(lookups) == 1, lookups


async def test_a_shared_channel_gets_no_card_until_an_owner_allows_it(bot: Bot) -> None:
    url = await connected(bot)
    status, answer = await query_link(bot, url, SHARED, channelData=shared_channel())
    assert status == 200 and attachments(answer) == []

    refused = await command(bot, TECH, "unfurl allow", SHARED, channelData=shared_channel())
    assert "owner" in refused.text.lower() and "are allowed" not in refused.text
    status, answer = await query_link(bot, url, SHARED, channelData=shared_channel())
    assert attachments(answer) == []

    allowed = await command(bot, OWNER, "unfurl allow", SHARED, channelData=shared_channel())
    assert "Ticket unfurls are allowed" in allowed.text, allowed.text
    # allowed, but a shared channel not linked to a ticket gets no card
    status, answer = await query_link(bot, url, SHARED, channelData=shared_channel())
    assert attachments(answer) == []
    channel_data = shared_channel()
    linked = await command(bot, TECH, f"link {OPEN_TICKET_ID}", SHARED, channelData=channel_data)
    assert "Linked this" in linked.text, linked.text
    status, answer = await query_link(bot, url, SHARED, channelData=shared_channel())
    (card,) = attachments(answer)
    assert INTERNAL_NOTE not in json.dumps(card)
    # another customer's ticket (Northwind, not the linked Contoso) never shows there
    other = url.replace(str(OPEN_TICKET_ID), str(CLOSED_TICKET_ID))
    status, answer = await query_link(bot, other, SHARED, channelData=shared_channel())
    assert status == 200 and attachments(answer) == []

    denied = await command(bot, OWNER, "unfurl deny", SHARED, channelData=shared_channel())
    assert "off in this channel" in denied.text
    status, answer = await query_link(bot, url, SHARED, channelData=shared_channel())
    assert attachments(answer) == []


async def test_a_member_of_another_tenant_or_a_group_chat_means_no_card(bot: Bot) -> None:
    url = await connected(bot)
    foreign = {"tenant": {"id": TENANT}, "membershipSource": {"tenantId": FOREIGN_TENANT}}
    other_channel = "19:mixed000000000000000000@thread.tacv2"
    status, answer = await query_link(bot, url, other_channel, channelData=foreign)
    assert attachments(answer) == []
    # an internal member's activity later does not make the channel internal again
    status, answer = await query_link(bot, url, other_channel)
    assert attachments(answer) == []
    group = "19:groupchat0000000000@thread.v2"
    activity = bot.teams.invoke(TECH, group, "composeExtension/queryLink", {"url": url})
    activity["conversation"]["conversationType"] = "groupChat"
    status, answer = await bot.teams.send(activity)
    assert status == 200 and attachments(answer) == []
    # a standard channel of the own tenant still unfurls
    status, answer = await query_link(bot, url, CHANNEL)
    assert len(attachments(answer)) == 1


async def test_malformed_query_link_invokes_are_4xx_or_empty_never_500(bot: Bot) -> None:
    url = await connected(bot)
    for value in (None, 5, "", ["x"], "x" * 5000, "not a url", {"url": url}):
        status, answer = await query_link(bot, value)
        assert status == 200 and attachments(answer) == [], value
    no_tenant = bot.teams.invoke(TECH, CHANNEL, "composeExtension/queryLink", {"url": url})
    no_tenant["channelData"] = {}
    no_tenant["conversation"].pop("tenantId")
    status, _ = await bot.teams.send(no_tenant)
    assert status == 400
    bad_value = bot.teams.invoke(TECH, CHANNEL, "composeExtension/queryLink", {})
    bad_value["value"] = "a string"
    status, _ = await bot.teams.send(bad_value)
    assert 200 <= status < 500


async def test_unknown_conversations_count_as_shared() -> None:
    probe = TeamsSharingProbe()
    assert await probe.shared_externally(TENANT, "19:never-seen@thread.tacv2") is True
    activity = {
        "conversation": {"id": f"{CHANNEL};messageid=1", "conversationType": "channel"},
        "channelData": {"tenant": {"id": TENANT}},
    }
    probe.observe(activity, TENANT)
    assert await probe.shared_externally(TENANT, CHANNEL) is False
    assert await probe.shared_externally("another-tenant", CHANNEL) is True  # per tenant
    personal = {"conversation": {"id": "a:1", "conversationType": "personal"}}
    assert external(personal, TENANT) is False
    teams_shared = {
        "conversation": {"id": CHANNEL, "conversationType": "channel"},
        "channelData": {"sharedWithTeams": [{"id": "t", "tenantId": FOREIGN_TENANT}]},
    }
    assert external(teams_shared, TENANT) is True
