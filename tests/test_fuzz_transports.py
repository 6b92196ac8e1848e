"""Hypothesis fuzzing of the chat grammar and of every Slack and Teams payload field psabot
reads, against the real aiohttp app with the ConnectWise sandbox behind it.

* The grammar (bot/core/router.py and each command's parsing): any text after `/ticket`, and
  command words followed by any arguments, answer one non-empty message; never an internal
  error; only a command registered as a write sends anything to ConnectWise.
* Slack (bot/slack/gate.py, bot/slack/inbound.py and the listeners): correctly signed requests
  built from real payloads (slash command, block_actions, block_suggestion, view_submission,
  view_closed, message_action, shortcut, Events API) with fields replaced by any JSON value or
  removed: never a 5xx; a refusal is JSON with one sentence; a slash command always gets an
  answer; nothing reaches ConnectWise unless its author was told it was added.
* Teams (bot/teams/service.py, bot/teams/inbound.py, the SDK's activity model): activities
  (message, task/fetch, task/submit, message-extension query) with fields replaced or removed,
  posted to /api/messages (authentication off, as on loopback): never a 5xx, refusals are one
  sentence, nothing written unless told.

The app, the sandbox and the fakes run on an event loop in a thread of their own, so
hypothesis drives plain functions. Fast: 50 examples per property, derandomized;
PSABOT_SLOW_TESTS=1: 1,000 per property, random.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import pytest
from bot_process import CHANNEL, SIGNING_SECRET, TEAM, seed_account, seed_workspace
from campaign import report, served
from fake_connector import TENANT, FakeConnector, Person, TeamsSender
from fake_slack import FakeSlack, SlackSender, load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.invocation import ChatUser, Command, Conversation, Invocation, Platform
from bot.settings import Settings
from handlers import root_router
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from storage.crypto import generate_key

T = TypeVar("T")
FAST, LONG = 50, 1000  # examples per property: the default run, and PSABOT_SLOW_TESTS=1


def fuzz(examples: int) -> settings:
    """The default run is derandomized (the same examples every time); the long one is not."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=examples <= FAST,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


USERS = {"U001": "Tech One", "U002": "Tech Two"}
TEAMS_CHANNEL = "19:fuzz@thread.tacv2"
TEAMS_THREAD = TEAMS_CHANNEL  # seeded as linked (a thread would key as channel/thread)
TECH = Person("29:tech", "aad-tech-2", "Jane Doe", None, upn="jane.doe@example.com")
WRITES = ("POST", "PATCH", "PUT", "DELETE")
INTERNAL = "Something went wrong on our side"

# -- the bot, on a loop of its own ------------------------------------------------------------


# A listener or turn that raised: the payload passed the shape checks with a field the code
# then could not use. (bolt answers 400 then, the SDK 500; either way the case is unhandled.)
FAILURES = ("slack request failed", "teams turn failed")


class ErrorRecords(logging.Handler):
    """Every traceback logged by psabot's own code, and every failed listener or turn."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        ours = record.name.split(".")[0] in ("bot", "handlers", "psa", "storage")
        failed = record.getMessage().startswith(FAILURES)
        if ours and (failed or (record.exc_info and record.levelno >= logging.ERROR)):
            self.records.append(record)


@dataclass
class Harness:
    root: Path
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    sandbox: SandboxServer = field(default_factory=SandboxServer)
    slack: FakeSlack = field(default_factory=FakeSlack)
    connector: FakeConnector = field(default_factory=FakeConnector)
    errors: ErrorRecords = field(default_factory=ErrorRecords)
    url: str = ""
    runtime: Any = None
    note_view: dict[str, Any] = field(default_factory=dict)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def run(self, work: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        async def wrapped() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    async def _start(self) -> None:
        await self.sandbox.start()
        for user_id, name in USERS.items():
            self.slack.add_user(user_id, name, email=f"{user_id.lower()}@example.com")
        await self.slack.start()
        self.connector.add_person(TECH)
        await self.connector.start()
        db = f"sqlite+aiosqlite:///{self.root / 'psabot.sqlite3'}"
        key = generate_key()
        await seed_workspace(db, key, self.sandbox, USERS)
        await seed_workspace(
            db,
            key,
            self.sandbox,
            {TECH.aad_id: TECH.name},
            platform="teams",
            account=TENANT,
            conversation=TEAMS_THREAD,
        )
        settings = Settings(
            PSABOT_DATABASE_URL=db,
            PSABOT_ENCRYPTION_KEYS=key,
            PSABOT_DATA_DIR=str(self.root / "data"),
            PSABOT_CW_ALLOWED_HOSTS=self.sandbox.host_port,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_API_URL=self.slack.api_url,
        )
        self.url, self.runtime = await self._stack.enter_async_context(served(settings))
        # a real note form, as psabot opens it, for view_submission templates
        sender = SlackSender(self.url, SIGNING_SECRET, self.slack, team=TEAM)
        await sender.command("note", user="U001", channel=CHANNEL)
        opened = await self.slack.wait_call("views.open")
        self.note_view = opened["view"]

    async def _stop(self) -> None:
        await self._stack.aclose()
        await self.connector.stop()
        await self.slack.stop()
        await self.sandbox.stop()

    async def idle(self, timeout: float = 20) -> None:
        """Until the bot has nothing stored left to finish or post."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.runtime.store.unit() as uow:
                busy = await uow.intake.pending_count() + await uow.ledger.pending_count()
            if not busy:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)

    async def restore(self) -> None:
        """Connected, linked and mapped again: an example may have unlinked, unmapped or
        disconnected, and the next one should still reach the handlers behind those."""
        await seed_account(self.runtime.store, self.sandbox, USERS)
        await seed_account(
            self.runtime.store,
            self.sandbox,
            {TECH.aad_id: TECH.name},
            platform="teams",
            account=TENANT,
            conversation=TEAMS_THREAD,
        )

    def writes(self) -> int:
        return sum(r.method in WRITES for r in self.sandbox.requests.records)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("fuzz"))
    thread = threading.Thread(target=harness.loop.run_forever, daemon=True)
    thread.start()
    logging.getLogger().addHandler(harness.errors)
    try:
        harness.run(harness._start)
        yield harness
    finally:
        logging.getLogger().removeHandler(harness.errors)
        harness.run(harness._stop)
        harness.loop.call_soon_threadsafe(harness.loop.stop)
        thread.join(10)


@pytest.fixture(autouse=True)
def no_unhandled_errors(bot: Harness) -> Iterator[None]:
    bot.errors.records.clear()
    yield
    assert not bot.errors.records, [r.getMessage() for r in bot.errors.records]


# -- strategies -------------------------------------------------------------------------------

TEXT = st.text(max_size=60)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
REMOVE = object()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (its keys and list indexes), the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def mutate(data: st.DataObject, payload: dict[str, Any], times: int) -> list[str]:
    """Replace (or remove) `times` fields of `payload` in place; returns what was changed."""
    changed = []
    for _ in range(times):
        where = data.draw(st.sampled_from(paths(payload)[1:]))
        value = data.draw(st.one_of(st.just(REMOVE), JSON_VALUE))
        parent: Any = payload
        with contextlib.suppress(KeyError, IndexError, TypeError):
            for step in where[:-1]:
                parent = parent[step]
            if value is REMOVE:
                del parent[where[-1]]
            else:
                parent[where[-1]] = value
            changed.append("/".join(map(str, where)))
    return changed


@dataclass
class Outcomes:
    """What each fuzzed request got back, by status."""

    statuses: dict[int, int] = field(default_factory=dict)
    refusals: set[str] = field(default_factory=set)
    not_subscribed: int = 0  # bolt's 404 for a kind psabot never subscribes to (see below)

    def add(self, status: int, body: str) -> None:
        assert status < 500, f"HTTP {status}: {body[:300]}"
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status < 400:
            return
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {"error": body}  # a plain-text sentence
        if not isinstance(answer, dict):
            answer = {"error": str(answer)}
        if status == 404 and answer == {"error": "unhandled request"}:
            # A command, shortcut, view_closed or event psabot registers no listener for:
            # Slack sends none of these to psabot's app (manifest.yml), so no person reads it.
            self.not_subscribed += 1
            return
        message = str(answer.get("error") or "")
        assert message.endswith(".") and len(message) < 300, answer
        self.refusals.add(message)


def told_added(fake_text: str, marker: str) -> bool:
    return marker in fake_text and "Note added" in fake_text


# -- the grammar ------------------------------------------------------------------------------

ROUTER = root_router()
WORDS = sorted({" ".join(spec.words) for spec in ROUTER.commands})
WRITE_WORDS = ["note", "note --internal", "note --discussion", "note --resolution", "status"]
ARGS = st.one_of(
    TEXT,
    st.lists(
        st.one_of(
            st.sampled_from(["me", "@U002", "<@U002>", "new", "in progress", "all", "#5", "-1"]),
            st.integers(-(2**70), 2**70).map(str),
            TEXT,
        ),
        max_size=4,
    ).map(" ".join),
)


def grammar_property(bot: Harness, examples: int) -> None:
    """Any text after `/ticket` gets one clear answer and writes only as a write command."""
    seen: dict[str, int] = {"examples": 0, "writes": 0}

    def say(text: str) -> Any:
        seen["examples"] += 1
        invocation = Invocation(
            platform=Platform.SLACK,
            account_external_id=TEAM,
            user=ChatUser("U001", "Tech One", "u001@example.com"),
            conversation=Conversation(CHANNEL),
            action=Command(text),
            idempotency_key=f"grammar-{seen['examples']}-{time.monotonic_ns()}",
        )
        bot.run(bot.restore)
        reply = bot.run(lambda: bot.runtime.dispatcher.handle(invocation))
        bot.run(bot.idle)
        return reply

    # The probe: a real write is seen as one (so the check below can fail).
    before = bot.writes()
    assert "Note added" in say("note grammar probe").text
    assert bot.writes() == before + 1

    @fuzz(examples)
    @given(
        text=st.one_of(
            TEXT,
            st.tuples(st.sampled_from(WORDS), ARGS).map(" ".join),
            st.sampled_from(WORDS),
            # the write commands, with any words after them (some of which do write)
            st.tuples(st.sampled_from(WRITE_WORDS), ARGS).map(" ".join),
        )
    )
    def check(text: str) -> None:
        before = bot.writes()
        reply = say(text)
        assert reply.text.strip() or reply.cards or reply.form is not None, text
        assert INTERNAL not in reply.text, (text, reply.text)
        if bot.writes() > before:
            seen["writes"] += 1
            matched = ROUTER.match(text)
            assert matched is not None and matched[0].writes and matched[1].strip(), text

    check()
    report("fuzz: chat grammar", examples=seen["examples"], sent_to_connectwise=seen["writes"])


def test_any_text_after_ticket_gets_one_clear_answer_and_writes_only_as_a_write(
    bot: Harness,
) -> None:
    grammar_property(bot, FAST)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_chat_grammar_over_a_thousand_examples(bot: Harness) -> None:
    grammar_property(bot, LONG)


# -- Slack ------------------------------------------------------------------------------------


def slack_templates(bot: Harness, sender: SlackSender, marker: str) -> dict[str, Any]:
    """Real requests (a slash command's form fields, or an interactive/Events API JSON body)."""
    user = {"id": "U001", "username": "u001", "name": "u001", "team_id": TEAM}
    team = {"id": TEAM, "domain": "acme"}
    actions = load("block_actions.json")
    actions.update(user=user, team=team, response_url=sender.fake.hook_url("act"))
    actions["channel"] = {"id": CHANNEL, "name": "general"}
    actions["container"]["channel_id"] = CHANNEL
    action_id = sorted(ROUTER.actions)[len(marker) % len(ROUTER.actions)]
    actions["actions"] = [
        {"action_id": action_id, "block_id": "b", "type": "button", "value": "1", "action_ts": "1"}
    ]
    view = copy.deepcopy(bot.note_view)
    view.update(id="V1", hash="h1", team_id=TEAM, app_id="A111", bot_id="B111")
    blocks = [b for b in view.get("blocks", []) if b.get("type") == "input"]
    view["state"] = {
        "values": {
            b["block_id"]: {
                b["element"]["action_id"]: {"type": "plain_text_input", "value": marker}
            }
            for b in blocks
        }
    }
    submission = load("view_submission.json") | {"user": user, "team": team, "view": view}
    closed = submission | {"type": "view_closed"}
    suggestion = load("block_suggestion.json") | {"user": user, "team": team}
    suggestion.update(action_id="ticket", block_id="ticket", value=marker, view=view)
    shortcut = load("message_action.json") | {"user": user, "team": team}
    shortcut.update(
        callback_id="post_to_ticket",
        channel={"id": CHANNEL, "name": "general"},
        response_url=sender.fake.hook_url("sc"),
    )
    shortcut["message"]["text"] = marker
    event = {
        "token": "t",
        "team_id": TEAM,
        "api_app_id": "A111",
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": 1,
        "event": {"type": "app_home_opened", "user": "U001", "channel": "D1", "tab": "home",
                  "event_ts": "1.1"},
    }  # fmt: skip
    command = dict(parse_qsl(sender.command_body(f"note {marker}", user="U001", channel=CHANNEL)))
    return {
        "command": command,
        "block_actions": actions,
        "view_submission": submission,
        "view_closed": closed,
        "block_suggestion": suggestion,
        "message_action": shortcut,
        "shortcut": load("global_shortcut.json") | {"user": user, "team": team},
        "event": event,
    }


def slack_property(bot: Harness, examples: int) -> None:
    """Fuzzed signed Slack requests: never a 5xx, refusals one sentence, nothing untold."""
    sender = SlackSender(bot.url, SIGNING_SECRET, bot.slack, team=TEAM)
    outcomes = Outcomes()
    markers: dict[str, int] = {}  # marker → status
    kinds: dict[str, int] = {}

    @fuzz(examples)
    @given(data=st.data(), kind=st.sampled_from(sorted(slack_templates(bot, sender, "x"))))
    def check(data: st.DataObject, kind: str) -> None:
        marker = f"fz{len(markers):05d}x{time.monotonic_ns() % 10**6}"
        payload = slack_templates(bot, sender, marker)[kind]
        mutate(data, payload, data.draw(st.integers(1, 3)))
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "command":
            fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}
            body, content_type = urlencode(fields), "application/x-www-form-urlencoded"
        elif kind == "event":
            body, content_type = json.dumps(payload), "application/json"
        else:
            body = urlencode({"payload": json.dumps(payload)})
            content_type = "application/x-www-form-urlencoded"
        bot.run(bot.restore)
        status, text, _ = bot.run(lambda: sender.post(body, content_type))
        outcomes.add(status, text)
        markers[marker] = status

    check()
    bot.run(bot.idle)
    told = bot.slack.everything_sent()
    on_ticket = "\n".join(str(n["text"]) for n in bot.sandbox.state.notes_for(OPEN_TICKET_ID))
    untold = [m for m in markers if m in on_ticket and not told_added(told, m)]
    refused_but_written = [m for m, s in markers.items() if s >= 400 and m in on_ticket]
    report(
        "fuzz: Slack payloads",
        examples=len(markers),
        by_kind=kinds,
        statuses=outcomes.statuses,
        refusal_sentences=len(outcomes.refusals),
        not_subscribed_404=outcomes.not_subscribed,
        notes_posted=sum(m in on_ticket for m in markers),
        written_untold=len(untold),
    )
    assert not refused_but_written and not untold, (refused_but_written, untold)
    assert INTERNAL not in told


def test_fuzzed_slack_payloads_never_fail_and_write_nothing_untold(bot: Harness) -> None:
    slack_property(bot, FAST)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fuzzed_slack_payloads_over_a_thousand_examples(bot: Harness) -> None:
    slack_property(bot, LONG)


# -- Teams ------------------------------------------------------------------------------------


def teams_templates(teams: TeamsSender, marker: str) -> dict[str, dict[str, Any]]:
    return {
        "message": teams.message(TECH, TEAMS_THREAD, f"note {marker}"),
        "personal": teams.message(TECH, "a:1personal", "help", conversation_type="personal"),
        "task/fetch": teams.invoke(
            TECH, TEAMS_THREAD, "task/fetch", {"data": {"psabot": "open", "form": "note"}}
        ),
        "task/submit": teams.invoke(
            TECH, TEAMS_THREAD, "task/submit", {"data": {"psabot": "note", "text": marker}}
        ),
        "query": teams.invoke(
            TECH,
            TEAMS_THREAD,
            "composeExtension/query",
            {"commandId": "searchTickets", "parameters": [{"name": "query", "value": marker}]},
        ),
        "action": teams.invoke(
            TECH,
            TEAMS_THREAD,
            "composeExtension/fetchTask",
            {"commandId": "postToTicket", "messagePayload": {"body": {"content": marker}}},
        ),
    }


def teams_property(bot: Harness, examples: int) -> None:
    """Fuzzed Teams activities: never a 5xx, refusals one sentence, nothing untold."""
    teams = TeamsSender(bot.url, bot.connector)
    outcomes = Outcomes()
    markers: dict[str, int] = {}
    kinds: dict[str, int] = {}

    @fuzz(examples)
    @given(data=st.data(), kind=st.sampled_from(sorted(teams_templates(teams, "x"))))
    def check(data: st.DataObject, kind: str) -> None:
        marker = f"tz{len(markers):05d}x{time.monotonic_ns() % 10**6}"
        activity = teams_templates(teams, marker)[kind]
        mutate(data, activity, data.draw(st.integers(1, 3)))
        kinds[kind] = kinds.get(kind, 0) + 1
        bot.run(bot.restore)
        status, answer = bot.run(lambda: teams.send(activity))
        outcomes.add(status, json.dumps(answer) if isinstance(answer, dict) else str(answer))
        markers[marker] = status

    check()
    bot.run(bot.idle)
    told = bot.connector.everything_sent() + "\n".join(teams.answers)
    on_ticket = "\n".join(str(n["text"]) for n in bot.sandbox.state.notes_for(OPEN_TICKET_ID))
    untold = [m for m in markers if m in on_ticket and not told_added(told, m)]
    refused_but_written = [m for m, s in markers.items() if s >= 400 and m in on_ticket]
    report(
        "fuzz: Teams activities",
        examples=len(markers),
        by_kind=kinds,
        statuses=outcomes.statuses,
        refusal_sentences=len(outcomes.refusals),
        notes_posted=sum(m in on_ticket for m in markers),
        written_untold=len(untold),
    )
    assert not refused_but_written and not untold, (refused_but_written, untold)
    assert INTERNAL not in told


def test_fuzzed_teams_activities_never_fail_and_write_nothing_untold(bot: Harness) -> None:
    teams_property(bot, FAST)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fuzzed_teams_activities_over_a_thousand_examples(bot: Harness) -> None:
    teams_property(bot, LONG)


def test_an_activity_without_a_recipient_is_refused_with_a_sentence(bot: Harness) -> None:
    """Found by the long Teams campaign: an invoke without `recipient` left the SDK unable to
    build the conversation reference its answer needs, and Teams got a 501."""
    teams = TeamsSender(bot.url, bot.connector)
    for kind, activity in teams_templates(teams, "no-recipient").items():
        del activity["recipient"]
        status, answer = bot.run(lambda a=activity: teams.send(a))
        assert status == 400, (kind, status, answer)
        assert answer == {"error": "The activity names no recipient (the bot's account)."}


@pytest.mark.parametrize(
    ("field_name", "value", "reason"),
    [
        ("user", 5, "event.user must be"),
        ("user", True, "event.user must be"),
        ("channel", 1.5, "event.channel must be"),
        ("team", 7, "event.team must be"),
        ("item", {"channel": 5}, "event.item.channel must be"),
        ("message", {"user": 5}, "event.message.user must be"),
    ],
)
def test_an_event_with_ids_of_the_wrong_type_is_refused_before_bolt(
    bot: Harness, field_name: str, value: object, reason: str
) -> None:
    """Found by the long Slack campaign: bolt reads the ids inside `event` with `"id" in
    value`, so an event whose `user` was a number failed in bolt's context (a TypeError)."""
    sender = SlackSender(bot.url, SIGNING_SECRET, bot.slack, team=TEAM)
    payload = slack_templates(bot, sender, "wrong-type")["event"]
    payload["event"][field_name] = value
    status, text, _ = bot.run(lambda: sender.post(json.dumps(payload), "application/json"))
    assert status == 400 and reason in text, text
