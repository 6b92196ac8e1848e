"""ConnectWise requests per status change, counted in the sandbox's request log, on Slack as a
user changes a status (picker then choice, or the status named in the command), on SQLite and
PostgreSQL: the picker lists cached board statuses, a change reads the ticket once and patches
it, and a retry after an unknown outcome reads the ticket again before patching, leaving alone
a status someone set in ConnectWise meanwhile."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fake_slack import FakeSlack, Hook, hook_text
from test_slack_e2e import TECH, Bot, connect, link_and_map, running_bot
from test_slack_e2e import fake as fake  # the fake Slack Web API, a fixture

from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from storage import migrate
from storage.engine import create_engine
from storage.models import LedgerState, TicketLink

TICKET = f"service/tickets/{OPEN_TICKET_ID}"
SERVICE_DESK_STATUSES = "service/boards/1/statuses"
ESCALATIONS_STATUSES = "service/boards/3/statuses"
READ_AND_PATCH = [f"GET {TICKET}", f"PATCH {TICKET}"]


@pytest.fixture
async def bot(
    db_url: str, encryption_key: str, tmp_path: Path, cw_sandbox: SandboxServer, fake: FakeSlack
) -> AsyncIterator[Bot]:
    """The Slack bot on SQLite and on PostgreSQL, connected, linked to the open ticket (In
    Progress on Service Desk) and Jane mapped; the request log starts empty."""
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)  # `psabot migrate`, as an operator runs it
    finally:
        await engine.dispose()
    async with running_bot(db_url, encryption_key, tmp_path, cw_sandbox, fake) as started:
        await connect(started)
        await link_and_map(started)
        cw_sandbox.requests.clear()
        yield started


def api_calls(sandbox: SandboxServer) -> list[str]:
    """The ConnectWise API requests since the log was last cleared, as `METHOD path`."""
    return [
        f"{r.method} {r.path.split('/apis/3.0/', 1)[1]}"
        for r in sandbox.requests.records
        if "/apis/3.0/" in r.path
    ]


def taken(sandbox: SandboxServer) -> list[str]:
    calls = api_calls(sandbox)
    sandbox.requests.clear()
    return calls


def status_of(sandbox: SandboxServer) -> str:
    name: str = sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"]
    return name


async def open_picker(bot: Bot) -> dict[str, Any]:
    """`/ticket status` with no name: the modal with the status picker."""
    seen = len(bot.fake.api("views.open"))
    await bot.slack.command("status", user=TECH)
    opened = await bot.fake.wait_call(
        "views.open",
        lambda c: (
            c["view"]["callback_id"] == "status" and bot.fake.api("views.open").index(c) >= seen
        ),
    )
    view: dict[str, Any] = opened["view"]
    return view


async def choose(bot: Bot, view: dict[str, Any], typed: str, name: str) -> None:
    """Type into the picker, choose `name` among its options and submit the modal."""
    _, body, _ = await bot.slack.suggest(view, "status", typed, user=TECH)
    options = json.loads(body)["options"]
    value = next(o["value"] for o in options if o["text"]["text"] == name)
    await bot.slack.submit(
        view,
        {"status": {"type": "external_select", "selected_option": {"value": value}}},
        user=TECH,
        view_id=f"V-status-{len(bot.fake.api('views.open'))}",  # one modal, one submission
    )


async def pick(bot: Bot, view: dict[str, Any], typed: str, name: str) -> None:
    """Choose `name` in the picker and wait for the modal to say it is set."""
    await choose(bot, view, typed, name)
    await bot.fake.wait_call(
        "views.update", lambda c: f"now *{name}*" in json.dumps(c["view"], ensure_ascii=False)
    )


async def say_status(bot: Bot, text: str, answered: Callable[[str], bool]) -> Hook:
    """`/ticket status <text>` in the channel, and the answer it got."""
    seen = len(bot.fake.hooks)
    await bot.slack.command(f"status {text}", user=TECH)
    return await bot.fake.wait_hook(
        lambda h: bot.fake.hooks.index(h) >= seen and answered(hook_text(h))
    )


async def test_picker_then_choice_reads_the_ticket_once(bot: Bot) -> None:
    # The first picker of this board lists its statuses (then cached), not the ticket.
    view = await open_picker(bot)
    assert taken(bot.sandbox) == []  # opening the modal asks ConnectWise nothing
    await pick(bot, view, "sched", "Scheduled")
    assert taken(bot.sandbox) == [f"GET {SERVICE_DESK_STATUSES}", *READ_AND_PATCH]
    assert status_of(bot.sandbox) == "Scheduled"
    # Warm: two requests from opening the picker to the status being set.
    view = await open_picker(bot)
    await pick(bot, view, "wait", "Waiting on Customer")
    assert taken(bot.sandbox) == READ_AND_PATCH
    assert status_of(bot.sandbox) == "Waiting on Customer"


async def test_status_named_in_the_command_reads_the_ticket_once(bot: Bot) -> None:
    await say_status(bot, "waiting", lambda t: "now *Waiting on Customer*" in t)
    assert taken(bot.sandbox) == [
        f"GET {TICKET}",
        f"GET {SERVICE_DESK_STATUSES}",
        f"PATCH {TICKET}",
    ]
    await say_status(bot, "in progress", lambda t: "now *In Progress*" in t)
    assert taken(bot.sandbox) == READ_AND_PATCH
    # Already there: read, nothing patched.
    await say_status(bot, "in progress", lambda t: "already *In Progress*" in t)
    assert taken(bot.sandbox) == [f"GET {TICKET}"]
    async with bot.runtime.store.unit() as uow:
        account = await uow.accounts.find("slack", "T111")
        assert account is not None
        rows = await uow.ledger.recent(account.id)
    assert [(r.status_name, r.attempts, r.state) for r in rows] == [
        ("In Progress", 1, LedgerState.POSTED.value),
        ("Waiting on Customer", 1, LedgerState.POSTED.value),
    ]


async def test_retry_after_a_dropped_patch_reads_before_patching_again(bot: Bot) -> None:
    await say_status(bot, "scheduled", lambda t: "now *Scheduled*" in t)  # warms the cache
    taken(bot.sandbox)
    # The connection drops before ConnectWise handled the PATCH: the outcome is unknown.
    bot.sandbox.faults.script(["drop"], method="PATCH")
    await say_status(bot, "waiting", lambda t: "now *Waiting on Customer*" in t)
    # the first attempt (read, patch); the retry reads again, finds it unchanged, patches once
    assert taken(bot.sandbox) == READ_AND_PATCH + [f"GET {TICKET}", f"PATCH {TICKET}"]
    assert status_of(bot.sandbox) == "Waiting on Customer"


async def test_retry_after_an_applied_but_unanswered_patch_only_reads(bot: Bot) -> None:
    await say_status(bot, "scheduled", lambda t: "now *Scheduled*" in t)
    taken(bot.sandbox)
    # ConnectWise applied the PATCH, then the connection dropped before its answer.
    bot.sandbox.faults.script(["drop_after_write"], method="PATCH")
    await say_status(bot, "waiting", lambda t: "now *Waiting on Customer*" in t)
    assert taken(bot.sandbox) == READ_AND_PATCH + [f"GET {TICKET}"]  # found done: not sent again
    assert status_of(bot.sandbox) == "Waiting on Customer"


async def test_retry_never_undoes_a_status_set_in_connectwise_meanwhile(bot: Bot) -> None:
    await say_status(bot, "scheduled", lambda t: "now *Scheduled*" in t)
    taken(bot.sandbox)
    # ConnectWise holds the PATCH without applying it, then drops the connection; meanwhile
    # someone moves the ticket to Assigned in ConnectWise.
    bot.sandbox.faults.configure(hang_seconds=2.0)
    bot.sandbox.faults.script(["timeout"], method="PATCH")
    answer = asyncio.create_task(
        say_status(bot, "waiting", lambda t: "NOT changed to Waiting on Customer" in t)
    )
    for _ in range(1000):  # the PATCH is held for a second once it arrives
        if bot.sandbox.requests.matching("PATCH"):
            break
        await asyncio.sleep(0.01)
    assert bot.sandbox.requests.matching("PATCH"), "the PATCH never reached the sandbox"
    bot.sandbox.state.patch_ticket(
        OPEN_TICKET_ID, [{"op": "replace", "path": "status", "value": {"id": 2}}], "someone"
    )
    told = hook_text(await asyncio.wait_for(answer, timeout=15))
    assert "changed to Assigned in ConnectWise meanwhile" in told
    assert status_of(bot.sandbox) == "Assigned"  # left as the other person set it
    assert taken(bot.sandbox) == READ_AND_PATCH + [f"GET {TICKET}"]  # the retry did not patch


async def test_old_links_and_moved_tickets_cost_one_read_once(bot: Bot) -> None:
    async def set_link_board(board_id: int | None) -> int | None:
        """Set the board the channel's link keeps; the one it kept before."""
        async with bot.runtime.store.unit() as uow:
            account = await uow.accounts.find("slack", "T111")
            assert account is not None
            link = await uow.links.get(account.id, "C1")
            assert isinstance(link, TicketLink)
            kept, link.board_id = link.board_id, board_id
        return kept

    async def options(typed: str) -> list[str]:
        _, body, _ = await bot.slack.suggest(view, "status", typed, user=TECH)
        return [o["text"]["text"] for o in json.loads(body)["options"]]

    # Slack keeps a type-ahead answer a little while: each step types something new.
    view = await open_picker(bot)
    assert await options("sch") == ["Scheduled"]
    taken(bot.sandbox)
    # A link made before links kept their board: the ticket is read once, and its board kept.
    assert await set_link_board(None) == 1  # kept when the ticket was linked
    assert await options("sche") == ["Scheduled"]
    assert taken(bot.sandbox) == [f"GET {TICKET}"]
    assert await options("sched") == ["Scheduled"]
    assert taken(bot.sandbox) == []
    # The link still names the board the ticket was on before it moved: the picker offers
    # that board's statuses; choosing one is refused and the link learns the ticket's board.
    assert await set_link_board(3) == 1  # kept by the read just before
    assert await options("engineering") == ["Engineering Review"]
    assert taken(bot.sandbox) == [f"GET {ESCALATIONS_STATUSES}"]
    await choose(bot, view, "engineering", "Engineering Review")
    await bot.fake.wait_call(
        "views.update", lambda c: "not on Service Desk any more" in json.dumps(c["view"])
    )
    assert taken(bot.sandbox) == [f"GET {TICKET}"]
    assert status_of(bot.sandbox) == "In Progress"
    assert await options("schedu") == ["Scheduled"]
    assert taken(bot.sandbox) == []
    assert await set_link_board(1) == 1  # learnt when the choice read the ticket
