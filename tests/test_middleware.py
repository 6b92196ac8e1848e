"""The dispatcher's middleware chain: errors mapped, every call measured, owners checked."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from bot.core.invocation import (
    ButtonAction,
    ChatUser,
    Command,
    Conversation,
    Invocation,
    Platform,
)
from bot.core.middleware import Call, Middleware, Next, compose, map_errors
from bot.core.reply import Reply, Tone
from bot.runtime import Runtime


def _invocation(text: str, *, user: str = "U1", admin: bool = False) -> Invocation:
    return Invocation(
        platform=Platform.SHELL,
        account_external_id="acme",
        user=ChatUser(user, name=user, is_admin=admin),
        conversation=Conversation("C1"),
        action=Command(text),
        idempotency_key=f"k-{text}",
    )


async def _nothing(_: str) -> None:
    return None


async def test_middlewares_wrap_in_the_order_given() -> None:
    seen: list[str] = []

    def named(name: str) -> Middleware:
        async def middleware(rest: Next, call: Call) -> Reply:
            seen.append(f"{name} in")
            reply = await rest(call)
            seen.append(f"{name} out")
            return reply

        return middleware

    async def endpoint(call: Call) -> Reply:
        seen.append("handler")
        return Reply.info("done")

    chain = compose([named("outer"), named("inner")], endpoint)
    reply = await chain(Call(_invocation("x"), _nothing))
    assert reply.text == "done"
    assert seen == ["outer in", "inner in", "handler", "inner out", "outer out"]


async def test_errors_become_replies_except_a_database_outage_in_durable_work() -> None:
    async def outage(call: Call) -> Reply:
        raise OperationalError("select 1", {}, Exception("connection refused"))

    chain = compose([map_errors], outage)
    reply = await chain(Call(_invocation("note x"), _nothing))
    assert reply.tone is Tone.ERROR and "database is not answering" in reply.text
    with pytest.raises(OperationalError):
        await chain(Call(_invocation("note x"), _nothing, durable=True))


async def test_the_dispatcher_checks_owners_and_counts_every_outcome(
    sqlite_runtime: Runtime,
) -> None:
    dispatcher = sqlite_runtime.dispatcher
    metrics = sqlite_runtime.services.metrics

    refused = await dispatcher.handle(_invocation("owners add <@U2|Bob>", user="U3"))
    assert refused.tone is Tone.WARNING and "Only owners can" in refused.text
    unknown = await dispatcher.handle(_invocation("frobnicate"))
    assert "I don't know `frobnicate`" in unknown.text
    stale = Invocation(
        platform=Platform.SHELL,
        account_external_id="acme",
        user=ChatUser("U1"),
        conversation=Conversation("C1"),
        action=ButtonAction("no_such_button"),
        idempotency_key="k-button",
    )
    assert "older version of psabot" in (await dispatcher.handle(stale)).text

    def count(command: str, outcome: str) -> float:
        return metrics.value(
            "psabot_commands_total", platform="shell", command=command, outcome=outcome
        )

    assert count("owners add", "error") == 1
    assert count("unknown", "warning") == 1
    assert count("action:no_such_button", "warning") == 1
