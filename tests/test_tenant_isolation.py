"""Two workspaces on one bot never see, link, map or post through each other's connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import connect_account, open_runtime
from transcript import Chat

from bot.runtime import Runtime
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID, SandboxServer


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
