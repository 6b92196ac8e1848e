"""The error registry: one table from exception type to what the user reads, looked up by MRO."""

from __future__ import annotations

import pytest
from conftest import connect_account
from sqlalchemy import select, update
from transcript import Chat

from bot.core.errors import (
    NotLinked,
    Unconfirmed,
    describe,
    field_errors_for,
    message_for,
    register,
    render_stored,
    reply_for,
)
from bot.core.reply import Tone
from bot.runtime import Runtime
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.errors import (
    AuthError,
    ConnectionFailed,
    FieldError,
    InvalidSite,
    NotFound,
    PermissionDenied,
    PSATimeout,
    RateLimited,
    ServerError,
    TooMuchData,
    UnknownCompany,
    ValidationFailed,
)
from storage.models import LedgerState, PostLedger


class TicketGone(NotFound):
    """A subclass nobody registered: it reads like its parent."""


class MergedAway(NotFound):
    """A subclass with its own wording."""


@register(MergedAway)
def _merged(context: object) -> str:
    return "That ticket was merged into another one; link that one instead."


def test_the_first_registered_class_in_the_mro_wins() -> None:
    assert message_for(TicketGone("no ticket 9", ticket_id=9)) == (
        "ConnectWise has no such record #9: no ticket 9"
    )
    assert message_for(MergedAway("merged", ticket_id=9)) == (
        "That ticket was merged into another one; link that one instead."
    )
    # an unregistered PSA error still says it came from ConnectWise
    assert message_for(TooMuchData("too many notes")) == (
        "ConnectWise answered with an error: too many notes"
    )


def test_user_errors_warn_and_failures_are_errors() -> None:
    assert reply_for(NotLinked()).tone is Tone.WARNING
    assert reply_for(AuthError("401")).tone is Tone.ERROR
    assert reply_for(RuntimeError("boom")).tone is Tone.ERROR


def test_messages_carry_the_errors_context() -> None:
    assert "rate limiting us for 30s" in message_for(RateLimited("slow", retry_after=30))
    assert "while trying to read tickets" in message_for(
        PermissionDenied("403", operation="read tickets")
    )
    refused = ValidationFailed("bad note", field_errors=(FieldError("text", "too long"),))
    assert message_for(refused) == "ConnectWise refused it: bad note (text: too long)"


def test_unexpected_errors_show_a_reference_and_no_internals() -> None:
    text = message_for(RuntimeError("password=hunter2 at line 3"))
    assert text.startswith("Something went wrong on our side (ref ")
    assert "hunter2" not in text
    assert "database is not answering" in message_for(ConnectionRefusedError("db down"))


def test_connect_form_fields_come_from_the_registry() -> None:
    keys = field_errors_for(AuthError("rejected"))
    assert set(keys) == {"public_key", "private_key"}
    assert field_errors_for(InvalidSite("bad host")) == {"site": "bad host"}  # parent's mapping
    assert field_errors_for(UnknownCompany("No company nosuchco")) == {
        "company_id": "No company nosuchco. Check the company id."
    }
    lookup = ConnectionFailed("refused", operation="company lookup")
    assert field_errors_for(lookup) == {"site": "Could not reach this site: refused"}
    later = PSATimeout("slow", operation="read ticket")
    assert field_errors_for(later) == {"": message_for(later)}
    assert field_errors_for(ServerError("HTTP 502")) == {"": message_for(ServerError("HTTP 502"))}


def test_a_stored_failure_is_worded_from_kind_and_context() -> None:
    failure = describe(ServerError("HTTP 502"))
    assert failure.kind == "ServerError" and failure.context == {"message": "HTTP 502"}
    assert render_stored(failure.kind, failure.context, "stale words") == failure.message
    assert render_stored("NotMapped", {"message": "map yourself"}, None) == "map yourself"
    # older rows and unknown kinds keep the words of their time
    assert render_stored("ServerError", None, "older words") == "older words"
    assert render_stored("SomethingRemoved", {"message": "x"}, "kept") == "kept"
    # an unexpected error's reference was only ever in the stored text
    crashed = describe(RuntimeError("boom"))
    assert render_stored(crashed.kind, crashed.context, crashed.message) == crashed.message


def test_an_unconfirmed_note_is_worded_from_its_cause() -> None:
    failure = describe(Unconfirmed(describe(PSATimeout("no answer")), "ab12cd34"))
    assert failure.kind == "Unconfirmed"
    assert failure.message == (
        "ConnectWise did not answer in time. Try again in a moment. ConnectWise could not "
        "confirm whether the note arrived; check the ticket for “ref ab12cd34” before "
        "posting it again."
    )
    assert render_stored(failure.kind, failure.context, None) == failure.message


@pytest.fixture
async def linked(runtime: Runtime, cw_sandbox: SandboxServer) -> Chat:
    await connect_account(runtime, cw_sandbox)
    chat = Chat(runtime)
    assert "Linked" in await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    assert "jdoe" in await chat.say("/ticket map me")
    return chat


async def test_history_words_a_failure_from_its_stored_kind_and_context(
    linked: Chat, runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    cw_sandbox.faults.script(["500"] * 100, method="POST", path_contains="/notes")
    out = await linked.say("/ticket note Replaced the toner")
    assert "NOT added" in out and "internal error" in out
    async with runtime.services.store.unit() as uow:
        (row,) = (await uow.session.execute(select(PostLedger))).scalars().all()
    assert row.state == LedgerState.FAILED.value and row.error_kind == "ServerError"
    assert row.error_context is not None and "message" in row.error_context
    assert f"❌ failed: {row.last_error}" in await linked.say("/ticket history")

    # shown, not stored: the words come from the kind and its context
    await _set(runtime, row.id, error_context={"message": "HTTP 503"}, last_error="stale")
    history = await linked.say("/ticket history")
    assert "❌ failed: ConnectWise had an internal error (HTTP 503)" in history
    assert "stale" not in history

    # a row written before contexts were kept shows the words of its time
    await _set(runtime, row.id, error_context=None, last_error="the words of the time")
    assert "❌ failed: the words of the time" in await linked.say("/ticket history")


async def _set(runtime: Runtime, ledger_id: int, **values: object) -> None:
    async with runtime.services.store.unit() as uow:
        await uow.session.execute(
            update(PostLedger).where(PostLedger.id == ledger_id).values(**values)
        )
