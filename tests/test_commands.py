"""Every command through the shell transport: happy paths and the failures users hit."""

from __future__ import annotations

import pytest
from conftest import connect_account
from transcript import Chat, linked_chat

from bot.runtime import Runtime
from psa.connectwise.sandbox import CLOSED_TICKET_ID, OPEN_TICKET_ID, SandboxServer

PRINTER = "Front desk printer jams on every print job"


@pytest.fixture
async def chat(sqlite_runtime: Runtime, cw_sandbox: SandboxServer) -> Chat:
    await connect_account(sqlite_runtime, cw_sandbox)
    return Chat(sqlite_runtime)


@pytest.fixture
async def linked(chat: Chat) -> Chat:
    assert "Linked" in await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    assert "jdoe" in await chat.say("/ticket map me")
    return chat


# -- help and unknown words ----------------------------------------------------------------


async def test_help_lists_every_command(chat: Chat) -> None:
    out = await chat.say("/ticket help")
    for usage in (
        "link <ticket id>",
        "note [--internal|--discussion|--resolution] <text>",
        "status [<status name>]",
        "map me",
        "history",
        "connect",
        "owners add @user",
    ):
        assert f"/ticket {usage}" in out
    assert "Post a note to the linked ticket" in out  # summaries come from the docstrings


async def test_unknown_command_points_to_help(chat: Chat) -> None:
    assert "I don't know `frobnicate`" in await chat.say("/ticket frobnicate now")


# -- connect / settings / disconnect --------------------------------------------------------


async def test_first_user_connects_through_the_form(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = Chat(sqlite_runtime, admin=True)
    creds = cw_sandbox.credentials
    out = await chat.say(
        "/ticket connect",
        [cw_sandbox.host_port, creds.company_id, creds.public_key, creds.private_key, ""],
    )
    assert "Connected: ConnectWise company Psabot Demo MSP is reachable" in out
    assert creds.private_key not in out and creds.public_key not in out
    assert "••••••" in out
    # the secret prompts were asked without echo
    assert [label for label, secret in chat.prompter.asked if secret] == [
        "Public key: ",
        "Private key: ",
    ]
    settings = await chat.say("/ticket settings")
    assert "Last validated" in settings and creds.private_key not in settings


async def test_connect_field_errors(sqlite_runtime: Runtime, cw_sandbox: SandboxServer) -> None:
    chat = Chat(sqlite_runtime, admin=True)
    creds = cw_sandbox.credentials
    out = await chat.say(
        "/ticket connect",
        [
            cw_sandbox.host_port,
            creds.company_id,
            creds.public_key,
            "wrong-private",
            "",  # 1st
            "evil.example.com",
            creds.company_id,
            creds.public_key,
            creds.private_key,
            "",  # 2nd
            cw_sandbox.host_port,
            "nosuchco",
            creds.public_key,
            creds.private_key,
            "",  # 3rd
        ],
    )
    assert "Private key: ConnectWise rejected these keys (401)" in out
    assert "Site: evil.example.com is not a ConnectWise cloud site" in out
    assert "Company id:" in out and "nosuchco" in out
    assert "Giving up on this form" in out
    assert "wrong-private" not in out
    assert "Not connected" in await chat.say("/ticket settings")


async def test_non_owner_cannot_connect_disconnect_or_map_others(chat: Chat) -> None:
    chat.as_user("Bob", email="bob@example.com")
    assert "Only owners can connect ConnectWise" in await chat.say("/ticket connect")
    assert "Only owners can disconnect ConnectWise" in await chat.say("/ticket disconnect")
    assert "Only owners can map another chat user" in await chat.say(
        "/ticket map <@priya|Priya> pnguyen"
    )
    assert "Only owners can" in await chat.say("/ticket mappings")
    settings = await chat.say("/ticket settings")
    assert "ConnectWise connection" in settings and "[1] Test" not in settings


async def test_settings_test_edit_and_disconnect(chat: Chat, cw_sandbox: SandboxServer) -> None:
    out = await chat.say("/ticket settings")
    assert "[1] Test" in out and "[3] Disconnect" in out
    assert "The connection works" in await chat.say("/press 1")
    # Edit keeps the keys when left empty.
    await chat.say("/ticket settings")
    edited = await chat.say("/press 2", ["", "", "", "", ""])
    assert "Updated the connection" in edited
    await chat.say("/ticket settings")
    confirm = await chat.say("/press 3")
    assert "Disconnect ConnectWise?" in confirm
    assert "Kept the ConnectWise connection" in await chat.say("/press 2")
    await chat.say("/ticket disconnect")
    assert "Disconnected from ConnectWise; the keys were deleted" in await chat.say("/press 1")
    assert "not connected to ConnectWise yet" in await chat.say(f"/ticket link {OPEN_TICKET_ID}")


# -- link / unlink / show -------------------------------------------------------------------


async def test_link_show_unlink(chat: Chat) -> None:
    out = await chat.say(f"/ticket link #{OPEN_TICKET_ID}")
    assert f"Linked this channel to #{OPEN_TICKET_ID} {PRINTER}" in out
    assert "service_recid=48213" in out  # deep link to the ticket
    shown = await chat.say("/ticket")
    assert "Contoso Dental Group" in shown and "In Progress" in shown
    assert f"Unlinked from #{OPEN_TICKET_ID}" in await chat.say("/ticket unlink")
    assert "not linked to a ticket" in await chat.say("/ticket show")


async def test_link_in_thread_is_separate_from_channel(chat: Chat) -> None:
    await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    chat.in_channel("general", "1700000000.000100")
    assert "Linked this thread" in await chat.say(f"/ticket link {CLOSED_TICKET_ID}")
    assert str(CLOSED_TICKET_ID) in await chat.say("/ticket show")
    chat.in_channel("general")
    assert str(OPEN_TICKET_ID) in await chat.say("/ticket show")


async def test_link_failures(chat: Chat, cw_sandbox: SandboxServer) -> None:
    assert "Ticket #999 was not found in ConnectWise" in await chat.say("/ticket link 999")
    out = await chat.say("/ticket link printer")
    assert "`printer` is not a ticket number" in out
    assert "Usage: `/ticket link <ticket id>`" in out


async def test_link_picker_form_with_search(chat: Chat) -> None:
    out = await chat.say("/ticket link", ["", "printer jams", "1"])
    assert f"#{OPEN_TICKET_ID} {PRINTER}" in out
    assert "Linked this channel" in out


# -- search ---------------------------------------------------------------------------------


async def test_search_with_filters_and_link_button(chat: Chat) -> None:
    out = await chat.say('/ticket search printer company:"Contoso Dental" status:any')
    assert f"#{OPEN_TICKET_ID} {PRINTER}" in out
    assert "[1] Link" in out
    assert "Linked this channel" in await chat.say("/press 1")


async def test_search_nothing_and_bad_filter(chat: Chat) -> None:
    assert "No open tickets match" in await chat.say("/ticket search zzzqqq")
    out = await chat.say("/ticket search printer status:sleeping")
    assert "must be open, closed or any" in out and "Usage:" in out
    assert "Say what to search for" in await chat.say("/ticket search")


async def test_search_text_with_quotes_is_safe(chat: Chat, cw_sandbox: SandboxServer) -> None:
    out = await chat.say('/ticket search printer" or id > 0 or "')
    assert "❌" not in out
    assert all(r.status < 500 for r in cw_sandbox.requests.records)


# -- note -----------------------------------------------------------------------------------


async def test_note_lands_once_with_footer_as_the_member(
    linked: Chat, cw_sandbox: SandboxServer
) -> None:
    before = len(cw_sandbox.state.notes_for(OPEN_TICKET_ID))
    out = await linked.say("/ticket note --resolution Replaced the toner,  printing OK")
    assert f"Note added to #{OPEN_TICKET_ID}" in out and "Resolution" in out
    notes = cw_sandbox.state.notes_for(OPEN_TICKET_ID)
    assert len(notes) == before + 1
    note = notes[-1]
    assert note["text"].startswith("Replaced the toner,  printing OK\n\n— posted from ")
    assert "by Jane Doe · ref " in note["text"]
    assert note["resolutionFlag"] is True and note["internalAnalysisFlag"] is False
    assert note["member"]["identifier"] == "jdoe"


async def test_note_form(linked: Chat, cw_sandbox: SandboxServer) -> None:
    out = await linked.say(
        "/ticket note", ["2", "Line one", "line two", ".", "resolved", "1", "", ""]
    )
    assert "Note added" in out and "now Resolved" in out
    note = cw_sandbox.state.notes_for(OPEN_TICKET_ID)[-1]
    assert note["text"].startswith("Line one\nline two")
    assert note["resolutionFlag"] is True
    assert cw_sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"] == "Resolved"


async def test_note_not_linked_not_mapped_not_connected(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = Chat(sqlite_runtime)
    assert "not connected to ConnectWise yet" in await chat.say("/ticket note hello")
    await connect_account(sqlite_runtime, cw_sandbox)
    assert "not linked to a ticket" in await chat.say("/ticket note hello")
    await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    assert "Run `/ticket map me`" in await chat.say("/ticket note hello")
    out = await chat.say("/ticket note --internal --resolution x")
    assert "Pick one note type" in out and "Usage: `/ticket note" in out


async def test_note_when_connectwise_is_down(linked: Chat, cw_sandbox: SandboxServer) -> None:
    cw_sandbox.faults.script(["500"] * 100, method="POST", path_contains="/notes")
    out = await linked.say("/ticket note Replaced the toner")
    assert "NOT added" in out and "> Replaced the toner" in out
    assert "internal error" in out
    assert "trying again in" in out  # progress messages while it retried
    history = await linked.say("/ticket history")
    assert "❌ failed" in history


async def test_note_when_connectwise_is_unreachable_is_reported_as_unconfirmed(
    linked: Chat, cw_sandbox: SandboxServer
) -> None:
    cw_sandbox.faults.configure(rate_500=1.0)  # reads fail too: the final check can't be made
    out = await linked.say("/ticket note Maybe landed")
    assert "may not have reached" in out and "check the ticket for “ref " in out
    assert "> Maybe landed" in out


async def test_note_when_rate_limited_then_recovers(
    linked: Chat, cw_sandbox: SandboxServer
) -> None:
    cw_sandbox.faults.configure(retry_after=1)
    cw_sandbox.faults.script(["429"], method="POST", path_contains="/notes")
    out = await linked.say("/ticket note After the rate limit")
    assert "rate limiting" in out and "Note added" in out
    texts = [n["text"] for n in cw_sandbox.state.notes_for(OPEN_TICKET_ID)]
    assert sum(t.startswith("After the rate limit") for t in texts) == 1


async def test_psa_down_for_reads(linked: Chat, cw_sandbox: SandboxServer) -> None:
    await cw_sandbox.stop()
    out = await linked.say("/ticket show")
    assert "couldn't reach ConnectWise" in out


async def test_psa_rate_limited_for_reads(linked: Chat, cw_sandbox: SandboxServer) -> None:
    cw_sandbox.faults.configure(retry_after=60)
    cw_sandbox.faults.script(["429"], method="GET")
    assert "rate limiting us for 60s" in await linked.say("/ticket show")


# -- status ---------------------------------------------------------------------------------


async def test_status_fuzzy_ambiguous_and_unknown(linked: Chat, cw_sandbox: SandboxServer) -> None:
    assert "now Waiting on Customer" in await linked.say("/ticket status waiting")
    assert cw_sandbox.state.ticket(OPEN_TICKET_ID)["status"]["name"] == "Waiting on Customer"
    out = await linked.say("/ticket status ed")  # Assigned, Scheduled, Resolved, Closed
    assert "matches several statuses" in out and "[1]" in out
    assert "No status like `frozen`" in await linked.say("/ticket status frozen")
    closed = await linked.say("/ticket status closed")
    assert "now Closed" in closed
    assert cw_sandbox.state.ticket(OPEN_TICKET_ID)["closedFlag"] is True


async def test_status_needs_link_and_mapping(chat: Chat) -> None:
    assert "not linked" in await chat.say("/ticket status new")
    await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    assert "map me" in await chat.say("/ticket status new")


# -- mapping --------------------------------------------------------------------------------


async def test_map_me_by_email_checks_both_addresses(chat: Chat) -> None:
    chat.as_user("David", email="DAVID.OKAFOR@example.com")  # his office address, other case
    assert "as David Okafor (dokafor)" in await chat.say("/ticket map me")


async def test_map_me_refusals(chat: Chat) -> None:
    chat.as_user("Ryan", email="ryan.brooks@example.com")
    assert "No active ConnectWise member" in await chat.say("/ticket map me")
    chat.as_user("Nobody", email=None)
    assert "can't see your email" in await chat.say("/ticket map me")


async def test_impersonation_is_refused(chat: Chat, sqlite_runtime: Runtime) -> None:
    chat.as_user("Mallory", email="mallory@example.com")
    out = await chat.say("/ticket map me jdoe")
    assert "is not yours" in out and "Ask an owner" in out
    assert "Only owners" in await chat.say("/ticket map <@mallory|Mallory> jdoe")
    assert "Only owners" in await chat.say("/ticket map <@mallory.x|Mallory> jdoe")
    async with sqlite_runtime.store.unit() as uow:
        account = await uow.accounts.find("shell", "acme")
        assert account is not None
        assert await uow.mappings.get(account.id, "mallory") is None
        assert await uow.mappings.list(account.id) == []


async def test_map_me_explicit_identifier_with_matching_email(chat: Chat) -> None:
    assert "as Jane Doe (jdoe)" in await chat.say("/ticket map me JDOE")


async def test_owner_maps_others_and_lists(chat: Chat) -> None:
    out = await chat.say("/ticket map <@priya|Priya> pnguyen")
    assert "Priya now posts to ConnectWise as Priya Nguyen (pnguyen)" in out
    assert "inactive" in await chat.say("/ticket map <@ryan|Ryan> rbrooks")
    assert "has no member `ghost`" in await chat.say("/ticket map <@g|G> ghost")
    assert "Usage: `/ticket map @user" in await chat.say("/ticket map pnguyen")
    listed = await chat.say("/ticket mappings")
    assert "Priya Nguyen (pnguyen)" in listed


# -- owners, history ------------------------------------------------------------------------


async def test_owners_add_and_list(chat: Chat) -> None:
    assert "Bob is now an owner" in await chat.say("/ticket owners add <@bob|Bob>")
    assert "Bob" in await chat.say("/ticket owners")
    chat.as_user("Bob")
    assert "Connect ConnectWise" in " ".join(
        [await chat.say("/ticket connect", [])]
    ) or "Edit ConnectWise" in await chat.say("/ticket connect", [])


async def test_history_for_conversation_and_ticket(linked: Chat) -> None:
    assert "Nothing has been posted" in await linked.say("/ticket history")
    await linked.say("/ticket note First note")
    await linked.say("/ticket status assigned")
    out = await linked.say("/ticket history")
    assert "Jane Doe · #48213" in out
    assert "note (Internal): “First note” · ✅ posted" in out
    assert "status → Assigned · ✅ posted" in out
    linked.in_channel("elsewhere")
    assert "First note" in await linked.say(f"/ticket history {OPEN_TICKET_ID}")
    assert "Nothing has been posted" in await linked.say("/ticket history")
    assert "is not a ticket number" in await linked.say("/ticket history abc")


async def test_thread_without_its_own_link_uses_the_channels(linked: Chat) -> None:
    linked.in_channel("general", "1700000000.000200")
    assert f"#{OPEN_TICKET_ID}" in await linked.say("/ticket show")
    assert "Note added" in await linked.say("/ticket note From a thread")
    assert f"Unlinked from #{OPEN_TICKET_ID}" in await linked.say("/ticket unlink")
    linked.in_channel("general")
    assert "not linked" in await linked.say("/ticket show")


async def test_secrets_never_reach_the_logs(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    creds = cw_sandbox.credentials
    chat = Chat(sqlite_runtime, admin=True)
    with caplog.at_level(logging.DEBUG):
        await chat.say(
            "/ticket connect",
            [cw_sandbox.host_port, creds.company_id, creds.public_key, "bad-private-key-777", ""]
            + [cw_sandbox.host_port, creds.company_id, creds.public_key, creds.private_key, ""],
        )
        await chat.say(f"/ticket link {OPEN_TICKET_ID}")
        await chat.say("/ticket settings")
        await chat.say("/press 1")
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert caplog.records  # something was logged at DEBUG
    for secret in (creds.private_key, "bad-private-key-777"):
        assert secret not in logged


async def test_stored_keys_never_follow_a_changed_site(
    chat: Chat, cw_sandbox: SandboxServer
) -> None:
    await chat.say("/ticket settings")
    out = await chat.say(
        "/press 2",
        [
            "na.myconnectwise.net",
            "",
            "",
            "",
            "",
            "na.myconnectwise.net",
            "",
            "",
            "",
            "",
            "na.myconnectwise.net",
            "",
            "",
            "",
            "",
        ],
    )
    assert "Enter the keys again: the site or company changed" in out
    assert "Could not reach" not in out  # nothing was sent to the new site
    assert "127.0.0.1" in await chat.say("/ticket settings")  # unchanged


async def test_a_nul_character_is_refused_alike_on_sqlite_and_postgresql(
    runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    """PostgreSQL can't store NUL, SQLite can: both refuse it before anything is stored."""
    chat = await linked_chat(runtime, cw_sandbox)
    out = await chat.say("/ticket note Toner\x00replaced")
    assert "NUL character" in out and "remove it" in out
    assert not any("Toner" in n["text"] for n in cw_sandbox.state.notes_for(OPEN_TICKET_ID))
    assert "Toner" not in await chat.say("/ticket history")  # no ledger row either
