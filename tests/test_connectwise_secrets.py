"""No credential in an error, a log record or a reply, even when an error page echoes them."""

from __future__ import annotations

import base64
import logging

import pytest
from conftest import connect_account
from test_connectwise_provider import make
from transcript import Chat

from bot.runtime import Runtime
from psa.connectwise.client import RetryPolicy
from psa.connectwise.error_map import error_from_response, redactor
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.errors import PSAError, ServerError, ValidationFailed
from psa.types import NoteType

ONE_TRY = RetryPolicy(attempts=1)


def secrets_of(sandbox: SandboxServer) -> list[str]:
    creds = sandbox.credentials
    token = f"{creds.company_id}+{creds.public_key}:{creds.private_key}"
    return [creds.public_key, creds.private_key, token, base64.b64encode(token.encode()).decode()]


def everything_said(exc: BaseException, records: list[logging.LogRecord]) -> str:
    """The error (with its causes) and every log record, as an operator or user could see it."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args)]
        if isinstance(seen, PSAError):
            parts.append(seen.message)
        seen = seen.__cause__ or seen.__context__
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts += [formatter.format(r) for r in records]
    return "\n".join(parts)


def assert_no_secret(text: str, sandbox: SandboxServer) -> None:
    for secret in secrets_of(sandbox):
        assert secret not in text


async def test_the_echo_page_really_echoes_the_credentials(cw_sandbox: SandboxServer) -> None:
    """The fault does what the tests below rely on."""
    cw_sandbox.faults.script(["echo_headers"], method="GET")
    provider = make(cw_sandbox, retry=ONE_TRY)
    try:
        await provider.client.base_url()
        resp = await provider.client._send(  # the raw answer, before error mapping
            "GET", await provider.client._url("system/info"), operation="probe"
        )
    finally:
        await provider.aclose()
    assert resp.status == 502 and isinstance(resp.body, str)
    assert secrets_of(cw_sandbox)[-1] in resp.body  # the Basic-auth value, echoed


@pytest.mark.parametrize("where", ["read", "note", "company lookup"])
async def test_an_error_page_echoing_headers_leaks_nothing(
    cw_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    caplog.set_level(logging.DEBUG)
    if where == "company lookup":
        cw_sandbox.faults.configure(faults_on_companyinfo=True)
    cw_sandbox.faults.script(["echo_headers"] * 5, method="POST" if where == "note" else "GET")
    provider = make(cw_sandbox, retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02))
    call = (
        provider.post_note(OPEN_TICKET_ID, "hello", NoteType.INTERNAL, None)
        if where == "note"
        else provider.get_ticket(OPEN_TICKET_ID)
    )
    try:
        with pytest.raises(ServerError) as info:
            await call
    finally:
        await provider.aclose()
    assert info.value.status == 502
    assert "502" in str(info.value)
    assert_no_secret(everything_said(info.value, caplog.records), cw_sandbox)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG really captured


async def test_replies_never_quote_the_error_page(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await connect_account(sqlite_runtime, cw_sandbox)
    chat = Chat(sqlite_runtime)
    assert "Linked" in await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    assert "jdoe" in await chat.say("/ticket map me")
    cw_sandbox.faults.script(["echo_headers"] * 1000)  # outlasts every retry of the note
    shown = await chat.say("/ticket show")
    noted = await chat.say("/ticket note Replaced the toner")
    assert "internal error (HTTP 502)" in shown
    assert "> Replaced the toner" in noted
    assert_no_secret(shown + noted, cw_sandbox)
    formatter = logging.Formatter("%(message)s")
    assert_no_secret("\n".join(formatter.format(r) for r in caplog.records), cw_sandbox)
    assert "<table>" not in shown + noted  # nothing of the page itself


def test_json_error_bodies_are_mapped_by_status_not_quoted() -> None:
    secret = "pr1vate-Key-123"
    redact = redactor([secret])
    body = {
        "code": "InvalidObject",
        "message": f"Authorization: Basic {secret} is not valid here",
        "errors": [
            {"code": "InvalidField", "field": "text", "message": f"text echoes {secret}"},
            {"code": secret, "field": secret + " <b>", "message": "x" * 1000},
        ],
    }
    error = error_from_response(400, body, {}, operation="post note", redact=redact)
    assert isinstance(error, ValidationFailed)
    assert secret not in error.message and "Authorization" not in error.message
    assert error.code == "InvalidObject"
    first, second = error.field_errors
    assert first.field == "text" and secret not in first.message and "[redacted]" in first.message
    assert second.code == "" and second.field == ""  # unknown code, not a field name
    assert len(second.message) <= 160
    for status in (401, 403, 404, 409, 418, 429, 500):
        mapped = error_from_response(status, body, {}, operation="x", redact=redact)
        assert secret not in str(mapped) and "Authorization" not in str(mapped)
