"""The Slack measurements: acks beside the floor, sustained rate, forms, end to end, requests.

Every command goes through the load generator process as a signed `/ticket` request; what
happens after the ack is seen from the fakes in this process: the note on the ticket (the
sandbox's `landed`), the reply on the command's own response_url, `views.open` calls.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlparse

from fake_slack import Call, SlackSender

from bench.stack import SECRET, SLACK_CHANNEL, SLACK_TEAM, SLACK_USER, Stack, cpu_seconds, log
from bench.stats import percentile, ratio, summary
from psa.connectwise.sandbox import OPEN_TICKET_ID

FORM = "application/x-www-form-urlencoded"
SEARCH_WORDS = ("printer", "email", "vpn", "laptop", "backup", "outlook", "network", "server")
CLOSING = ("resol", "clos", "complet", "cancel")  # status changes must leave the ticket open


def requests_for(stack: Stack, texts: list[str], *, to_floor: bool = False) -> list[dict[str, Any]]:
    """Signed `/ticket <text>` requests; each tag holds its response_url path, trigger and note."""
    sender = stack.slack(to_floor)
    out = []
    for text in texts:
        body = sender.command_body(text, user=SLACK_USER, channel=SLACK_CHANNEL, team=SLACK_TEAM)
        fields = dict(parse_qsl(body))
        tag: dict[str, Any] = {
            "hook": urlparse(fields["response_url"]).path,
            "trigger": fields["trigger_id"],
        }
        words = text.split()
        for word in words:
            if word.startswith("bq") and word[2:].isdigit():
                tag["note"] = int(word[2:])
        out.append(
            {
                "url": sender.url,
                "body": body,
                "content_type": FORM,
                "slack_secret": SECRET,
                "tag": tag,
            }
        )
    return out


def note_texts(stack: Stack, n: int, label: str) -> list[str]:
    return [f"note Bench {label} bq{stack.tag()}" for _ in range(n)]


async def settle(stack: Stack, results: list[dict[str, Any]], stall: float = 30) -> float:
    """Wait until every command's reply was posted and every note landed; returns when (NaN
    when nothing moved for `stall` seconds). A command answered in its ack (a refusal, say)
    has nothing more to come and is not waited for."""
    later = [r for r in results if r["status"] == 200 and not r.get("body")]
    hooks = [r["tag"]["hook"] for r in later]
    notes = [r["tag"]["note"] for r in later if "note" in r["tag"]]

    def missing() -> int:
        seen = stack.hooks()
        return sum(1 for h in hooks if h not in seen) + sum(
            1 for n in notes if n not in stack.landed
        )

    done_at = await stack.wait_until(lambda: missing() == 0, missing, stall)
    if math.isnan(done_at):
        log(f"{stack.database}: nothing moved for {stall:.0f} s; {missing()} replies/notes missing")
    return done_at


def answered_at_once(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Commands answered in the ack itself, with one of the answers (for the report)."""
    bodies = [str(r["body"]) for r in results if r.get("body")]
    return {"count": len(bodies), "example": bodies[0][:200] if bodies else None}


def ack_ms(results: list[dict[str, Any]]) -> list[float]:
    return [r["ms"] for r in results]


def non_200(results: list[dict[str, Any]]) -> int:
    return sum(1 for r in results if r["status"] != 200)


def to_note_ms(stack: Stack, results: list[dict[str, Any]]) -> list[float]:
    """Command sent → note stored on the ticket, per note that landed."""
    return [
        (stack.landed[r["tag"]["note"]] - r["sent"]) * 1000
        for r in results
        if r["tag"].get("note") in stack.landed
    ]


def drain_s(results: list[dict[str, Any]], done_at: float) -> float:
    """From the last ack to the moment the last reply and note were out."""
    return done_at - max(float(r["sent"]) + float(r["ms"]) / 1000 for r in results)


async def ack_level(
    stack: Stack, command: str, concurrency: int, per_sender: int
) -> dict[str, Any]:
    n = concurrency * per_sender
    if command == "note":
        floor_texts = [f"note Bench floor {i}" for i in range(n)]
        bot_texts = note_texts(stack, n, f"ack {concurrency}")
    else:
        floor_texts = bot_texts = [
            f"search {SEARCH_WORDS[i % len(SEARCH_WORDS)]}" for i in range(n)
        ]
    floor = await stack.send(
        requests_for(stack, floor_texts, to_floor=True), concurrency=concurrency
    )
    cpu_before, requests_before = cpu_seconds(stack.pid), stack.cw_requests()
    bot = await stack.send(requests_for(stack, bot_texts), concurrency=concurrency)
    done_at = await settle(stack, bot, stall=30)
    cpu_used = cpu_seconds(stack.pid) - cpu_before
    to_note = to_note_ms(stack, bot)
    row: dict[str, Any] = {
        "command": command,
        "concurrency": concurrency,
        "requests": n,
        "non_200": non_200(bot) + non_200(floor),
        "bot_ms": summary(ack_ms(bot)),
        "floor_ms": summary(ack_ms(floor)),
        "ratio_p99": ratio(percentile(ack_ms(bot), 99), percentile(ack_ms(floor), 99)),
        "cpu_ms_per_command": cpu_used * 1000 / n,
        "cw_requests_per_command": (stack.cw_requests() - requests_before) / n,
        "drain_s": drain_s(bot, done_at),
        "replies_posted": sum(1 for r in bot if r["tag"]["hook"] in stack.hooks()),
        "answered_in_ack": answered_at_once(bot),
    }
    if command == "note":
        row["notes_landed"] = len(to_note)
        row["command_to_note_ms"] = summary(to_note) | {"median": percentile(to_note, 50)}
    log(
        f"{stack.database}: {command} at {concurrency} concurrent: ack p99 "
        f"{row['bot_ms']['p99']:.1f} ms (floor {row['floor_ms']['p99']:.1f} ms)"
    )
    return row


async def sustained(stack: Stack, rates: list[float], seconds: float) -> dict[str, Any]:
    """Step the note rate up (open loop). A step holds when the ack p99 is within 1.5× the
    floor's at the same rate and the notes keep up (all land, the last within 1 s of the last
    ack); the steps go on past the ack budget while the notes keep up, to show the throughput."""
    steps: list[dict[str, Any]] = []
    for rate in rates:
        n = max(1, round(rate * seconds))
        floor_texts = [f"note Bench floor {i}" for i in range(n)]
        floor = await stack.send(requests_for(stack, floor_texts, to_floor=True), rate=rate)
        bot = await stack.send(
            requests_for(stack, note_texts(stack, n, f"rate {rate:g}")), rate=rate
        )
        done_at = await settle(stack, bot, stall=30)
        landed = [stack.landed[r["tag"]["note"]] for r in bot if r["tag"]["note"] in stack.landed]
        first_sent = min(r["sent"] for r in bot)
        bot_p99, floor_p99 = percentile(ack_ms(bot), 99), percentile(ack_ms(floor), 99)
        step: dict[str, Any] = {
            "rate_per_s": rate,
            "notes": n,
            "non_200": non_200(bot) + non_200(floor),
            "bot_ack_p99_ms": bot_p99,
            "floor_ack_p99_ms": floor_p99,
            "ratio_p99": ratio(bot_p99, floor_p99),
            "notes_landed": len(landed),
            "landed_per_s": len(landed) / (max(landed) - first_sent) if landed else 0.0,
            "drain_s": drain_s(bot, done_at),
            "answered_in_ack": answered_at_once(bot),
        }
        step["kept_up"] = step["drain_s"] <= 1.0 and step["non_200"] == 0 and len(landed) == n
        step["held"] = step["kept_up"] and step["ratio_p99"] <= 1.5
        steps.append(step)
        log(
            f"{stack.database}: {rate:g} notes/s: ack p99 {bot_p99:.1f} ms vs floor "
            f"{floor_p99:.1f} ms, drain {step['drain_s']:.2f} s, held: {step['held']}"
        )
        if not step["kept_up"]:  # past the ack budget, the steps go on while notes keep up
            break
    held = [s["rate_per_s"] for s in _while(steps, "held")]
    kept_up = [s["rate_per_s"] for s in _while(steps, "kept_up")]
    broken = next((s for s in steps if not s["held"]), None)
    return {
        "seconds_per_step": seconds,
        "steps": steps,
        "sustained_notes_per_s": max(held) if held else 0.0,
        "broke_at_per_s": broken["rate_per_s"] if broken else None,
        "kept_up_notes_per_s": max(kept_up) if kept_up else 0.0,
        "drain_after_last_step_s": steps[-1]["drain_s"],
    }


def _while(steps: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The steps up to the first one where `key` is false."""
    out = []
    for step in steps:
        if not step[key]:
            break
        out.append(step)
    return out


async def forms(stack: Stack, per_form: int) -> dict[str, Any]:
    """views.open after `/ticket link`, `note`, `status` (forms), at the sandbox's latency."""
    texts = [form for _ in range(per_form) for form in ("link", "note", "status")]
    results = await stack.send(requests_for(stack, texts), rate=2.0)
    triggers = {r["tag"]["trigger"]: r for r in results}
    opened: dict[str, float] = {}

    def all_open() -> bool:
        for call in stack.fake.api("views.open"):
            trigger = call.get("trigger_id")
            if trigger in triggers:
                opened.setdefault(trigger, call.at)
        return len(opened) == len(triggers)

    await stack.wait_until(all_open, lambda: len(triggers) - len(opened), stall=30)
    times = {t: (opened[t] - r["sent"]) * 1000 for t, r in triggers.items() if t in opened}
    kinds = dict(zip(triggers, texts, strict=True))
    return {
        "forms": len(results),
        "opened": len(times),
        "non_200": non_200(results),
        "views_open_ms": summary(times.values()),
        "by_form_ms": {
            form: summary(ms for t, ms in times.items() if kinds[t] == form)
            for form in dict.fromkeys(texts)
        },
    }


async def warm_up(stack: Stack) -> None:
    """One note and one search first, so the levels measure a warm bot (connections, caches)."""
    results = await stack.send(
        requests_for(stack, [*note_texts(stack, 1, "warm-up"), "search printer"]), concurrency=1
    )
    await settle(stack, results)


async def end_to_end(stack: Stack, latency_ms: float, notes: int) -> dict[str, Any]:
    """Notes one after another (each sent once the last could have landed), command → note."""
    stack.sandbox.faults.configure(latency_ms=latency_ms)
    before = len(stack.sandbox.requests)
    try:
        interval = latency_ms / 1000 + 0.15
        results = await stack.send(
            requests_for(stack, note_texts(stack, notes, f"e2e {latency_ms:g}")), rate=1 / interval
        )
        await settle(stack, results)
    finally:
        stack.sandbox.faults.configure(latency_ms=0)
    made = stack.sandbox.requests.records[before:]
    times = to_note_ms(stack, results)
    median = percentile(times, 50)
    return {
        "latency_ms": latency_ms,
        "notes": notes,
        "notes_landed": len(times),
        "non_200": non_200(results),
        "command_to_note_ms": summary(times) | {"median": median},
        "ratio_median": median / latency_ms,
        "cw_requests": len(made),
        "cw_requests_per_note": len(made) / notes,
        "cw_request_kinds": dict(Counter(f"{r.method} {_shape(r.path)}" for r in made)),
    }


async def searches(stack: Stack, n: int) -> dict[str, Any]:
    """Sequential searches with different words: ConnectWise requests per search."""
    before = len(stack.sandbox.requests)
    texts = [f"search {SEARCH_WORDS[i % len(SEARCH_WORDS)]} {i}" for i in range(n)]
    results = await stack.send(requests_for(stack, texts), rate=4.0)
    await settle(stack, results)
    made = stack.sandbox.requests.records[before:]
    return {
        "searches": n,
        "replies_posted": sum(1 for r in results if r["tag"]["hook"] in stack.hooks()),
        "non_200": non_200(results),
        "cw_requests_per_search": len(made) / n,
        "cw_request_kinds": dict(Counter(f"{r.method} {_shape(r.path)}" for r in made)),
    }


async def status_changes(stack: Stack, n: int) -> dict[str, Any]:
    """As a user does it: `/ticket status`, open the picker, choose, submit; the ConnectWise
    requests of each change. One change first warms the caches and is not counted."""
    sender = stack.slack()
    counts: list[int] = []
    kinds: Counter[str] = Counter()
    changed = empty = 0
    for i in range(n + 1):
        current = str(stack.sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"])
        before = len(stack.sandbox.requests)
        trigger = sender.trigger()
        status, _, _ = await sender.command("status", user=SLACK_USER, trigger=trigger)
        assert status == 200, status
        opened = await stack.fake.wait_call("views.open", _with("trigger_id", trigger), timeout=30)
        options, tries = await _picker(sender, opened["view"])
        empty += tries
        choice = next(
            (
                o
                for o in options
                if o["text"]["text"] != current
                and not any(w in o["text"]["text"].lower() for w in CLOSING)
            ),
            None,
        )
        if choice is None:
            raise RuntimeError(f"the status picker offered nothing to change to: {options}")
        view_id = f"V-bench-status-{i}"
        await sender.submit(
            opened["view"],
            {"status": {"type": "external_select", "selected_option": {"value": choice["value"]}}},
            user=SLACK_USER,
            view_id=view_id,
        )
        await stack.fake.wait_call("views.update", _with("view_id", view_id, "now *"), timeout=30)
        if i == 0:
            continue
        made = stack.sandbox.requests.records[before:]
        counts.append(len(made))
        kinds.update(f"{r.method} {_shape(r.path)}" for r in made)
        now = str(stack.sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"])
        changed += now == choice["text"]["text"]
    return {
        "status_changes": n,
        "applied": changed,
        "empty_pickers": empty,
        "cw_requests_per_status_change_max": max(counts),
        "cw_requests_per_status_change": counts,
        "cw_request_kinds": dict(kinds),
    }


def _with(key: str, value: str, text: str = "") -> Callable[[Call], bool]:
    """A Web API call whose `key` is `value` (and whose view says `text`)."""

    def match(call: Call) -> bool:
        return bool(call.get(key) == value and text in json.dumps(call.get("view")))

    return match


async def _picker(sender: SlackSender, view: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The picker's options as Slack asks for them (nothing typed), and how many times they
    came back empty first (asked again a second later, at most 5 times)."""
    for attempt in range(5):
        _, body, _ = await sender.suggest(view, "status", "", user=SLACK_USER)
        options: list[dict[str, Any]] = json.loads(body).get("options", [])
        if options:
            return options, attempt
        await asyncio.sleep(1)
    return [], 5


def _shape(path: str) -> str:
    """`/v2025_1/apis/3.0/service/tickets/250/notes` → `service/tickets/{id}/notes`."""
    tail = path.split("/apis/3.0/", 1)[-1]
    return "/".join("{id}" if part.isdigit() else part for part in tail.split("/"))
