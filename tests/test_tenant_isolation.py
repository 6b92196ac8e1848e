"""Two workspaces on one bot never see, link, map or post through each other's connection."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bot_process import CHANNEL, SIGNING_SECRET, seed_workspace
from campaign import report, served
from conftest import connect_account, open_runtime
from fake_connector import TENANT, FakeConnector, Person, TeamsSender
from fake_slack import FakeSlack, SlackSender
from transcript import Chat

from bot.runtime import Runtime
from bot.settings import Settings
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID, SandboxServer
from storage import migrate
from storage.engine import create_engine


@pytest.fixture
async def other_sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer(seed=11)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def runtime(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    other_sandbox: SandboxServer,
) -> AsyncIterator[Runtime]:
    """A runtime that may reach both sandboxes (each workspace gets its own)."""
    rt = await open_runtime(
        db_url, encryption_key, tmp_path / "data", cw_sandbox, also_allow=(other_sandbox.host_port,)
    )
    try:
        yield rt
    finally:
        await rt.aclose()


@pytest.fixture
async def chats(runtime: Runtime, cw_sandbox: SandboxServer) -> tuple[Chat, Chat]:
    """`a` (workspace acme, connected and linked) and `b` (workspace globex, same channel id)."""
    await connect_account(runtime, cw_sandbox, "acme")
    a = Chat(runtime, workspace="acme")
    assert "Linked" in await a.say(f"link {OPEN_TICKET_ID}")
    assert "jdoe" in await a.say("map me")
    assert "Note added" in await a.say("note Only for acme")
    b = Chat(runtime, workspace="globex", user="Jane Doe", email="jane.doe@example.com")
    return a, b


async def test_unconnected_workspace_cannot_use_anothers_connection(
    chats: tuple[Chat, Chat],
) -> None:
    _, b = chats
    for command in (f"link {OPEN_TICKET_ID}", "search printer", "map me", "note hi", "status new"):
        out = await b.say(command)
        assert "not connected to ConnectWise yet" in out, command
    assert "Not connected" in await b.say("settings")


async def test_links_mappings_history_owners_stay_per_workspace(
    chats: tuple[Chat, Chat], runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    _, b = chats
    await connect_account(runtime, cw_sandbox, "globex", owner="jane.doe")
    # Same channel id "general", other workspace: not linked, not mapped, no history.
    assert "not linked to a ticket" in await b.say("show")
    await b.say(f"link {CLOSED_TICKET_ID}")
    assert "map me" in await b.say("note hi")
    assert "Nothing has been posted" in await b.say("history")
    assert "Only for acme" not in await b.say(f"history {OPEN_TICKET_ID}")
    b.as_user("Boss", admin=True)
    assert "Nobody is mapped yet" in await b.say("mappings")
    b.as_user("Eve")
    assert "Only owners" in await b.say("connect")


async def test_each_workspace_posts_through_its_own_connection(
    chats: tuple[Chat, Chat],
    runtime: Runtime,
    cw_sandbox: SandboxServer,
    other_sandbox: SandboxServer,
) -> None:
    a, b = chats
    await connect_account(runtime, other_sandbox, "globex")
    await b.say(f"link {OPEN_TICKET_ID}")
    await b.say("map me")
    assert "Note added" in await b.say("note Only for globex")
    assert "Note added" in await a.say("note Second for acme")
    acme_texts = [n["text"] for n in cw_sandbox.state.notes_for(OPEN_TICKET_ID)]
    globex_texts = [n["text"] for n in other_sandbox.state.notes_for(OPEN_TICKET_ID)]
    assert any(t.startswith("Second for acme") for t in acme_texts)
    assert not any(t.startswith("Only for globex") for t in acme_texts)
    assert any(t.startswith("Only for globex") for t in globex_texts)
    assert not any("acme" in t for t in globex_texts)
    # Disconnecting one workspace leaves the other working.
    b.as_user("Jane Doe", email="jane.doe@example.com")
    await b.say("disconnect")
    assert "Disconnected" in await b.say("/press 1")
    assert "Note added" in await a.say("note Still works")
    assert "not connected" in await b.say("note nope")


# -- the matrix: every command, on Slack and on Teams, from a second tenant -------------------
#
# Tenant A (a Slack team, a Teams tenant) is connected to its own sandbox, has a linked
# conversation, mapped users and a posted note. Tenant B uses the *same* conversation ids and
# the *same* user ids, unconnected or connected to a sandbox of its own, and runs every
# command and presses every button with A's ticket id. Nothing B is shown may carry A's note,
# site, mapping or link, and A's ConnectWise must get no request at all while B works.

A_TEAM, B_TEAM = "TAAAA", "TBBBB"
B_TENANT = "bbbbbbbb-597b-41f0-a2a3-ef103fbd91bb"
TEAMS_THREAD = "19:shared@thread.tacv2"  # a channel (a thread would key as channel/thread)
SLACK_USERS = {"U001": "Alice Admin"}
TEAMS_PERSON = Person("29:alice", "aad-alice-1", "Alice Admin", "alice@example.com")
B_ARGS = {  # arguments that name A's ticket and A's people, for the commands that take them
    "link": [f"link {OPEN_TICKET_ID}"],
    "unlink": ["unlink"],
    "show": ["show"],
    "note": ["note from tenant B", "note"],
    "status": ["status", "status New"],
    "search": ["search printer", f"search {OPEN_TICKET_ID}"],
    "map me": ["map me", "map me jdoe"],
    "map": ["map {mention} jdoe"],
    "unmap": ["unmap me", "unmap {mention}"],
    "mappings": ["mappings"],
    "history": ["history", f"history {OPEN_TICKET_ID}"],
    "connect": ["connect"],
    "settings": ["settings"],
    "disconnect": ["disconnect"],
    "owners": ["owners"],
    "owners add": ["owners add {mention}"],
    "owners remove": ["owners remove {mention}"],
    "home": ["home"],
    "help": ["help"],
}


def b_commands() -> list[str]:
    """Every registered command: as in B_ARGS, or bare and with A's ticket id (a command
    added later is in the matrix without a change here)."""
    from handlers import root_router

    lines: list[str] = []
    for words in sorted({" ".join(c.words) for c in root_router().commands}):
        lines += B_ARGS.get(words, [words, f"{words} {OPEN_TICKET_ID}"])
    return lines


def test_the_matrix_arguments_name_only_real_commands() -> None:
    from handlers import root_router

    assert set(B_ARGS) <= {" ".join(c.words) for c in root_router().commands}


@dataclass
class TenantA:
    markers: dict[str, str]  # what of A's must never reach B, by what it is


async def seed_tenant_a(
    db_url: str, key: str, runtime: Runtime, sandbox: SandboxServer, run: str
) -> TenantA:
    """A's Slack team and Teams tenant: connected, linked, mapped, with a note posted."""
    marker_name = f"Alice of A {run}"
    summary = f"A's own summary {run}"
    await seed_workspace(
        db_url, key, sandbox, {"U001": marker_name}, account=A_TEAM, ticket_summary=summary
    )
    await seed_workspace(
        db_url,
        key,
        sandbox,
        {TEAMS_PERSON.aad_id: marker_name},
        platform="teams",
        account=TENANT,
        conversation=TEAMS_THREAD,
        ticket_summary=summary,
    )
    note = f"Only for tenant A {run}"
    async with runtime.store.unit() as uow:
        for platform, account in (("slack", A_TEAM), ("teams", TENANT)):
            row = await uow.accounts.find(platform, account)
            assert row is not None
            await uow.owners.add(row.id, "U001", marker_name)
    return TenantA(
        {
            "A's note": note,
            "A's site": sandbox.host_port,
            "A's mapped name": marker_name,
            "A's link summary": summary,
        }
    )


@dataclass
class Seen:
    """Everything tenant B was shown."""

    texts: list[str] = field(default_factory=list)
    commands: int = 0
    buttons: int = 0

    def leaks(self, a: TenantA) -> list[str]:
        shown = "\n".join(self.texts)
        return [what for what, value in a.markers.items() if value in shown]


async def quiet(runtime: Runtime) -> None:
    """Until nothing stored is left to finish (B's replies are all out)."""
    for _ in range(400):
        await asyncio.sleep(0.025)
        async with runtime.store.unit() as uow:
            if not await uow.intake.pending_count() + await uow.ledger.pending_count():
                break


async def slack_tenant_b(url: str, runtime: Runtime, fake: FakeSlack) -> Seen:
    from handlers import root_router

    seen = Seen()
    sender = SlackSender(url, SIGNING_SECRET, fake, team=B_TEAM)
    start_calls, start_hooks = len(fake.calls), len(fake.hooks)
    for line in b_commands():
        _, body, _ = await sender.command(
            line.format(mention="<@U001|alice>"), user="U001", channel=CHANNEL
        )
        seen.texts.append(body)
        seen.commands += 1
        await quiet(runtime)
    for action_id in sorted(root_router().actions):
        _, body, _ = await sender.click(action_id, str(OPEN_TICKET_ID), user="U001")
        seen.texts.append(body)
        seen.buttons += 1
        await quiet(runtime)
    seen.texts += [c.raw + json.dumps(c.params) for c in fake.calls[start_calls:]]
    seen.texts += [h.raw for h in fake.hooks[start_hooks:]]
    return seen


async def teams_tenant_b(url: str, runtime: Runtime, connector: FakeConnector) -> Seen:
    from handlers import root_router

    seen = Seen()
    sender = TeamsSender(url, connector, tenant=B_TENANT)
    start = len(connector.calls)
    mention = {
        "type": "mention",
        "text": "<at>Alice Admin</at>",
        "mentioned": {"id": TEAMS_PERSON.teams_id, "name": TEAMS_PERSON.name},
    }
    for line in b_commands():
        text = line.format(mention="<at>Alice Admin</at>")
        entities = [mention] if "<at>" in text else None
        activity = sender.message(TEAMS_PERSON, TEAMS_THREAD, text, entities=entities)
        _, answer = await sender.send(activity)
        seen.texts.append(json.dumps(answer))
        seen.commands += 1
        await quiet(runtime)
    for action_id in sorted(root_router().actions):
        data = {"psabot": "action", "action": action_id, "value": str(OPEN_TICKET_ID)}
        for name, value in (("message", None), ("task/fetch", {"data": data})):
            if value is None:
                activity = sender.activity("message", TEAMS_PERSON, TEAMS_THREAD, value=data)
            else:
                activity = sender.invoke(TEAMS_PERSON, TEAMS_THREAD, name, value)
            _, answer = await sender.send(activity)
            seen.texts.append(json.dumps(answer))
        seen.buttons += 1
        await quiet(runtime)
    seen.texts += [c.text for c in connector.calls[start:]]
    return seen


async def connect_tenant_b(db_url: str, key: str, sandbox: SandboxServer) -> None:
    """B connected to a ConnectWise of its own (same ticket ids, other data)."""
    await seed_workspace(db_url, key, sandbox, {}, account=B_TEAM, conversation="C-elsewhere")
    await seed_workspace(
        db_url, key, sandbox, {}, platform="teams", account=B_TENANT, conversation="19:x@thread"
    )


async def tenant_matrix(
    db_url: str,
    key: str,
    tmp_path: Path,
    sandbox: SandboxServer,
    other: SandboxServer,
    *,
    b_connected: bool,
) -> None:
    run = uuid.uuid4().hex[:6]
    slack = FakeSlack()
    slack.add_user("U001", "Alice Admin", email="alice@example.com", admin=True)
    connector = FakeConnector()
    connector.add_person(TEAMS_PERSON)
    await slack.start()
    await connector.start()
    settings = Settings(
        PSABOT_DATABASE_URL=db_url,
        PSABOT_ENCRYPTION_KEYS=key,
        PSABOT_DATA_DIR=str(tmp_path / "data"),
        PSABOT_CW_ALLOWED_HOSTS=f"{sandbox.host_port},{other.host_port}",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_API_URL=slack.api_url,
    )
    engine = create_engine(db_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    try:
        async with served(settings) as (url, runtime):
            a = await seed_tenant_a(db_url, key, runtime, sandbox, run)
            # A posts its note through Slack and Teams, and hears it was added.
            a_slack = SlackSender(url, SIGNING_SECRET, slack, team=A_TEAM)
            note = a.markers["A's note"]
            await a_slack.command(f"note {note}", user="U001", channel=CHANNEL)
            a_teams = TeamsSender(url, connector)
            await a_teams.send(a_teams.message(TEAMS_PERSON, TEAMS_THREAD, f"note {note}"))
            await quiet(runtime)
            posted = [n for n in sandbox.state.notes_for(OPEN_TICKET_ID) if note in str(n["text"])]
            assert len(posted) == 2, "tenant A's notes were not both posted"
            if b_connected:
                await connect_tenant_b(db_url, key, other)
            sandbox.requests.clear()
            seen_slack = await slack_tenant_b(url, runtime, slack)
            seen_teams = await teams_tenant_b(url, runtime, connector)
    finally:
        await connector.stop()
        await slack.stop()
    report(
        "tenant isolation matrix" + (" (B connected)" if b_connected else " (B unconnected)"),
        database=db_url.split("+")[0],
        commands=seen_slack.commands + seen_teams.commands,
        buttons=seen_slack.buttons + seen_teams.buttons,
        slack_leaks=seen_slack.leaks(a),
        teams_leaks=seen_teams.leaks(a),
        requests_to_a=len(sandbox.requests),
        requests_to_b=len(other.requests),
    )
    assert seen_slack.leaks(a) == [] and seen_teams.leaks(a) == []
    assert len(sandbox.requests) == 0, [r.path for r in sandbox.requests]
    if b_connected:
        assert len(other.requests) > 0  # B's commands really reached B's ConnectWise
        assert not any("tenant A" in str(n["text"]) for n in other.state.notes_for(OPEN_TICKET_ID))


@pytest.mark.parametrize("b_connected", [True, False], ids=["b-connected", "b-unconnected"])
async def test_tenant_b_never_sees_tenant_a_on_slack_or_teams(
    db_url: str,
    encryption_key: str,
    tmp_path: Path,
    cw_sandbox: SandboxServer,
    other_sandbox: SandboxServer,
    b_connected: bool,
) -> None:
    """The whole matrix is a few seconds: it runs in full by default (no `slow` variant)."""
    await tenant_matrix(
        db_url, encryption_key, tmp_path, cw_sandbox, other_sandbox, b_connected=b_connected
    )
