"""The Teams measurements: note turns, message-extension queries, and opening a form (task/fetch).

`psabot serve` answers `/api/messages` for a fake Bot Framework connector (Teams without an app
id, which it allows on loopback). Activities are sent by the load generator process; the time
is the HTTP answer, what Teams waits for (5 s for an invoke). The notes are tagged like the
Slack ones, so the sandbox says when each landed.
"""

from __future__ import annotations

import json
from typing import Any

from fake_connector import Call

from bench.stack import TEAMS_CHAT, TECH, Stack, log
from bench.stats import summary

JSON = "application/json"


def _request(stack: Stack, activity: dict[str, Any], tag: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": stack.teams().bot_url,
        "body": json.dumps(activity),
        "content_type": JSON,
        "tag": tag,
    }


def message(stack: Stack, text: str) -> dict[str, Any]:
    return stack.teams().message(
        TECH, TEAMS_CHAT, text, mention_bot=False, conversation_type="personal"
    )


def invoke(stack: Stack, name: str, value: dict[str, Any]) -> dict[str, Any]:
    return stack.teams().invoke(TECH, TEAMS_CHAT, name, value, conversation_type="personal")


def _ok(results: list[dict[str, Any]]) -> int:
    return sum(1 for r in results if 200 <= r["status"] < 300)


async def level(
    stack: Stack, concurrency: int, per_sender: int, *, quiet: bool = False
) -> list[dict[str, Any]]:
    """Message-extension queries, then note turns, `concurrency` at a time."""
    n = concurrency * per_sender
    queries = [
        _request(
            stack,
            invoke(
                stack,
                "composeExtension/query",
                {
                    "commandId": "searchTickets",
                    "parameters": [{"name": "query", "value": f"printer {i}"}],
                },
            ),
            {},
        )
        for i in range(n)
    ]
    answered = await stack.send(queries, concurrency=concurrency)
    tags = [stack.tag() for _ in range(n)]
    turns = [_request(stack, message(stack, f"note Teams bench bq{t}"), {"note": t}) for t in tags]
    turned = await stack.send(turns, concurrency=concurrency)

    def left() -> int:
        return sum(1 for t in tags if t not in stack.landed)

    await stack.wait_until(lambda: left() == 0, left, stall=30)
    if not quiet:
        log(f"{stack.database}: Teams at {concurrency} concurrent done")
    return [
        {
            "kind": "extension query",
            "concurrency": concurrency,
            "requests": n,
            "answered_2xx": _ok(answered),
            "answer_ms": summary(r["ms"] for r in answered),
        },
        {
            "kind": "message turn (note)",
            "concurrency": concurrency,
            "requests": n,
            "answered_2xx": _ok(turned),
            "answer_ms": summary(r["ms"] for r in turned),
            "notes_landed": sum(1 for t in tags if t in stack.landed),
        },
    ]


async def warm_up(stack: Stack) -> None:
    """One message-extension query and one note turn before the levels."""
    await level(stack, 1, 1, quiet=True)


def _opener(call: Call) -> dict[str, Any] | None:
    """The data of the button that opens the form (a task/fetch) on a posted card."""
    for attachment in call.body.get("attachments", []):
        for block in attachment.get("content", {}).get("body", []):
            for item in block.get("items", []):
                for action in item.get("actions", []):
                    if action.get("data", {}).get("psabot") == "open":
                        return dict(action["data"])
    return None


async def openers(stack: Stack, forms: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """`note` / `status` without words posts a card with a button that opens the form."""
    sender = stack.teams()
    found: dict[str, dict[str, Any]] = {}
    for form in forms:
        activity = message(stack, form)
        status, _ = await sender.send(activity)
        assert status < 300, status
        answer_to: str = activity["id"]

        def card_with_opener(call: Call, answer_to: str = answer_to) -> bool:
            return call.activity_id == answer_to and _opener(call) is not None

        call = await stack.connector.wait_post(card_with_opener, timeout=30)
        data = _opener(call)
        assert data is not None
        found[form] = data
    return found


async def task_fetch(
    stack: Stack, opener: dict[str, dict[str, Any]], per_form: int
) -> dict[str, Any]:
    """task/fetch answer time per form (the form comes back in the answer), one at a time (as
    one person opens forms; two at once from one person are not what this measures)."""
    requests = [
        _request(stack, invoke(stack, "task/fetch", {"data": data}), {"form": form})
        for _ in range(per_form)
        for form, data in opener.items()
    ]
    results = await stack.send(requests, concurrency=1)
    return {
        "forms": len(results),
        "answered_2xx": _ok(results),
        "task_fetch_ms": summary(r["ms"] for r in results),
        "by_form_ms": {
            form: summary(r["ms"] for r in results if r["tag"]["form"] == form) for form in opener
        },
    }
