"""Time entries and new tickets from chat, end to end through the shell and the sandbox."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import connect_account
from transcript import Chat, linked_chat

from bot.core.duration import MAX_MINUTES, BadDuration, TooLong, parse_duration
from bot.outbox import UNCONFIRMED, Outcome
from bot.runtime import Runtime
from handlers.posting import Posted, note_reply
from handlers.time import time_reply
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.types import BillableOption, NoteType


def entries(sandbox: SandboxServer, ticket_id: int = OPEN_TICKET_ID) -> list[dict[str, object]]:
    return sandbox.state.time_entries_for(ticket_id)


def hours_of(entry: dict[str, object]) -> float:
    start = datetime.fromisoformat(str(entry["timeStart"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(entry["timeEnd"]).replace("Z", "+00:00"))
    return (end - start).total_seconds() / 3600


# -- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("45m", 45), ("90m", 90), ("1h30m", 90), ("1.5h", 90), ("2H", 120), ("1,25h", 75)],
)
def test_durations_as_engineers_type_them(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize(
    "text",
    [
        *("45", "1.5h30m", "m", "abc", "0m", "-1h", "1h 30m", ""),
        *("0h", "0h0m", "1.5.h", ".5h", "1.h", "+45m", "45 m", "1e1h"),
        *("\u0664\u0665m", "\uff14\uff15m", "\u00b2h"),  # Arabic-Indic, full-width, superscript
    ],
)
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(BadDuration) as caught:
        parse_duration(text)
    assert not isinstance(caught.value, TooLong)


def test_more_than_a_day_is_refused() -> None:
    assert (
        parse_duration("24h") == parse_duration("24h0m") == parse_duration("1440m") == MAX_MINUTES
    )
    for text in ("24h1m", "25h", "1441m", "100h", "24.02h", "23h61m"):
        with pytest.raises(TooLong):
            parse_duration(text)


# -- /ticket time -------------------------------------------------------------------------------


async def test_time_posts_one_entry_with_member_duration_and_billing(
    runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = await linked_chat(runtime, cw_sandbox)
    out = await chat.say("/ticket time 45m --no-charge Replaced the fuser and tested")
    assert "Logged 45m on #48213" in out, out
    assert "No charge" in out
    [entry] = entries(cw_sandbox)
    assert entry["chargeToType"] == "ServiceTicket" and entry["chargeToId"] == OPEN_TICKET_ID
    assert entry["member"]["identifier"] == "jdoe"  # type: ignore[index]
    assert entry["billableOption"] == "NoCharge"
    assert entry["actualHours"] == 0.75 and hours_of(entry) == 0.75
    assert str(entry["notes"]).startswith("Replaced the fuser and tested")
    assert "ref " in str(entry["notes"])  # the footer the recovery looks for
    assert entry["addToInternalAnalysisFlag"] is True
    for flag, option in (("--billable", "Billable"), ("--no-bill", "DoNotBill")):
        assert "Logged 1h 30m" in await chat.say(f"/ticket time 1h30m {flag} Cleaned the rollers")
        assert entries(cw_sandbox)[-1]["billableOption"] == option
    assert "Logged 1h 30m" in await chat.say("/ticket time 1.5h Onsite visit")
    assert len(entries(cw_sandbox)) == 4
    history = await chat.say("/ticket history")
    assert "time 1h 30m (default billing): “Onsite visit”" in history  # ConnectWise decides
    assert "time 45m (no charge): “Replaced the fuser and tested”" in history, history


async def test_time_usage_and_refusals(sqlite_runtime: Runtime, cw_sandbox: SandboxServer) -> None:
    chat = await linked_chat(sqlite_runtime, cw_sandbox)
    for line in ("/ticket time 45 Fixed it", "/ticket time 1h30 Fixed it", "/ticket time abc x"):
        out = await chat.say(line)
        assert "not a duration" in out and "Usage: `/ticket time <45m|1h30m|1.5h>" in out, out
    too_long = await chat.say("/ticket time 25h Migration weekend")
    assert too_long.strip().endswith("25h is more than a day; log at most 24h per time entry.")
    assert "Usage" not in too_long  # one sentence
    assert "Usage" in await chat.say("/ticket time 45m")  # no notes
    out = await chat.say("/ticket time 45m --billabel Fixed")
    assert "did you mean `--billable`?" in out and "Nothing was logged" in out
    assert "Pick one billing option" in await chat.say("/ticket time 45m --billable --no-bill x")
    assert entries(cw_sandbox) == []


async def test_note_form_with_time_logs_one_entry_in_the_note_section(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = await linked_chat(sqlite_runtime, cw_sandbox)
    notes_before = len(cw_sandbox.state.notes_for(OPEN_TICKET_ID))
    # type 3 = Discussion; text; no status; time; billing 3 = Do not bill
    out = await chat.say(
        "/ticket note", answers=["3", "Walked the customer through it", ".", "", "1h", "3"]
    )
    assert "Logged 1h on #48213" in out, out
    [entry] = entries(cw_sandbox)
    assert entry["addToDetailDescriptionFlag"] is True
    assert entry["addToInternalAnalysisFlag"] is False
    assert entry["billableOption"] == "DoNotBill"
    assert len(cw_sandbox.state.notes_for(OPEN_TICKET_ID)) == notes_before  # text only once
    bad = await chat.say("/ticket note", answers=["1", "Checked", ".", "", "soon", "1"])
    assert "`soon` is not a duration" in bad
    plain = await chat.say("/ticket note", answers=["1", "Just a note", ".", "", "", "1"])
    assert "Note added" in plain and len(entries(cw_sandbox)) == 1


async def test_time_needs_a_link_and_a_mapping(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    await connect_account(sqlite_runtime, cw_sandbox)
    chat = Chat(sqlite_runtime)
    assert "not linked" in await chat.say("/ticket time 45m Fixed")
    await chat.say(f"/ticket link {OPEN_TICKET_ID}")
    assert "map" in (await chat.say("/ticket time 45m Fixed")).lower()
    assert entries(cw_sandbox) == []


async def test_time_defaults_are_sent_and_owners_only(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = await linked_chat(sqlite_runtime, cw_sandbox)
    assert "owner" in (await chat.as_user("Bob").say("/ticket time defaults 1 2")).lower()
    chat.as_user("Jane Doe", email="jane.doe@example.com")  # the owner connect_account made
    assert "work type 2 and work role 1" in await chat.say("/ticket time defaults 2 1")
    await chat.say("/ticket time 30m Remote session")
    entry = entries(cw_sandbox)[-1]
    assert entry["workType"] == {"id": 2, "name": "Onsite"}
    assert entry["workRole"] == {"id": 1, "name": "Technician"}
    assert "own defaults" in await chat.say("/ticket time defaults clear")
    await chat.say("/ticket time 30m Remote session again")
    assert "workType" not in entries(cw_sandbox)[-1]


async def test_a_dropped_time_entry_post_is_found_not_doubled(
    runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = await linked_chat(runtime, cw_sandbox)
    cw_sandbox.faults.script(["drop_after_write"], method="POST", path_contains="/time/entries")
    out = await chat.say("/ticket time 20m Rebooted the print server")
    assert "Logged 20m" in out, out
    assert len(entries(cw_sandbox)) == 1


# -- /ticket new --------------------------------------------------------------------------------


def created(sandbox: SandboxServer, summary: str) -> list[dict[str, object]]:
    return [t for t in sandbox.state.tickets.values() if t["summary"] == summary]


async def test_new_ticket_from_a_linked_channel_keeps_its_company(
    runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = await linked_chat(runtime, cw_sandbox)
    out = await chat.say("/ticket new Scanner offline in reception")
    [ticket] = created(cw_sandbox, "Scanner offline in reception")
    assert f"Created #{ticket['id']} Scanner offline in reception" in out, out
    assert ticket["company"]["identifier"] == "ContosoDental"  # type: ignore[index]
    [note] = cw_sandbox.state.notes_for(int(str(ticket["id"])))
    assert note["text"].startswith("Scanner offline in reception") and "ref " in note["text"]
    assert note["detailDescriptionFlag"] is True
    shown = await chat.say("/ticket show")
    assert f"#{ticket['id']} Scanner offline in reception" in shown  # linked to the new one


async def test_new_ticket_with_company_flag_and_form(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    await connect_account(sqlite_runtime, cw_sandbox)
    chat = Chat(sqlite_runtime)
    assert "jdoe" in await chat.say("/ticket map me")
    out = await chat.say("/ticket new --company Northwind VPN drops every hour")
    [ticket] = created(cw_sandbox, "VPN drops every hour")
    assert "Created" in out and "Linked this channel" in out, out
    assert "Northwind" in ticket["company"]["name"]  # type: ignore[index]
    # the form: summary, company (type-ahead: words, then a pick), board, priority, note
    out = await chat.in_channel("ops").say(
        "/ticket new",
        answers=["Laptop will not boot", "fabrikam", "1", "Escalations", "", "Dead SSD?", "."],
    )
    [ticket] = created(cw_sandbox, "Laptop will not boot")
    assert "Created" in out, out
    assert "Fabrikam" in ticket["company"]["name"]  # type: ignore[index]
    assert ticket["board"]["name"] == "Escalations"  # type: ignore[index]
    [note] = cw_sandbox.state.notes_for(int(str(ticket["id"])))
    assert note["text"].startswith("Dead SSD?")
    out = await chat.in_channel("lab").say("/ticket new --company=ContosoDental Door sensor")
    assert "Created" in out and len(created(cw_sandbox, "Door sensor")) == 1
    assert "not a flag of `new`" in await chat.say("/ticket new --board 3 Something")
    ambiguous = await chat.say("/ticket new --company zz-nobody Something")
    assert "No company matches `zz-nobody`" in ambiguous


async def test_company_typeahead_is_cached_and_bounded(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    from bot.core.invocation import Conversation, Invocation, OptionsQuery, Platform
    from handlers import new_ticket

    await connect_account(sqlite_runtime, cw_sandbox)
    chat = Chat(sqlite_runtime)
    before = len(cw_sandbox.requests.matching(path_contains="/company/companies"))
    answers = []
    for n, query in enumerate(("", "c", "co", "con", "contoso", "zzz")):
        invocation = Invocation(
            platform=Platform.SHELL,
            account_external_id="acme",
            user=chat.user,
            conversation=Conversation("general"),
            action=OptionsQuery("companies", query),
            idempotency_key=f"opt-{n}",
        )
        answers.append(await sqlite_runtime.dispatcher.handle(invocation))
    calls = len(cw_sandbox.requests.matching(path_contains="/company/companies")) - before
    assert calls == 1  # one listing for the account; every keystroke after is answered here
    assert any("Contoso" in o.label for o in answers[4].options)
    assert answers[5].options == ()
    assert all(len(a.options) <= new_ticket.COMPANY_OPTIONS for a in answers)
    assert new_ticket._companies.maxsize == new_ticket.COMPANY_ACCOUNTS


async def test_a_dropped_ticket_post_is_found_not_created_twice(
    runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = await linked_chat(runtime, cw_sandbox)
    cw_sandbox.faults.script(["drop_after_write"], method="POST", path_contains="/service/tickets")
    out = await chat.say("/ticket new Badge reader rejects every card")
    assert "Created #" in out, out
    assert len(created(cw_sandbox, "Badge reader rejects every card")) == 1
    lookups = cw_sandbox.requests.matching("GET", "/service/tickets")
    assert any("dateEntered" in r.query for r in lookups)  # looked before creating again


async def test_help_lists_time_and_new(sqlite_runtime: Runtime) -> None:
    out = await Chat(sqlite_runtime).say("/ticket help")
    assert "/ticket time <45m|1h30m|1.5h> [--billable|--no-charge|--no-bill] <notes>" in out
    assert "/ticket new [--company <id or identifier>] <summary>" in out


# -- the sandbox refuses what ConnectWise would -------------------------------------------------


async def test_sandbox_validates_time_entries_and_tickets(cw_sandbox: SandboxServer) -> None:
    import base64

    import aiohttp

    creds = cw_sandbox.credentials
    basic = f"{creds.company_id}+{creds.public_key}:{creds.private_key}".encode()
    headers = {
        "clientId": creds.client_id,
        "Authorization": "Basic " + base64.b64encode(basic).decode(),
    }
    async with aiohttp.ClientSession(headers=headers) as http:

        async def post(path: str, body: object) -> tuple[int, dict[str, object]]:
            async with http.post(f"{cw_sandbox.api_url}/{path}", json=body) as resp:
                return resp.status, await resp.json()

        start = {"chargeToId": OPEN_TICKET_ID, "chargeToType": "ServiceTicket"}
        status, body = await post(
            "time/entries",
            start | {"timeStart": "2026-12-01T08:00:00Z", "timeEnd": "2026-12-02T09:00:00Z"},
        )
        assert status == 400 and "between 0 and 24" in str(body)
        status, body = await post("time/entries", start | {"timeEnd": "2026-12-01T08:00:00Z"})
        assert status == 400 and "timeStart" in str(body)
        status, body = await post(
            "time/entries",
            {"chargeToId": 1, "timeStart": "2026-12-01T08:00:00Z", "actualHours": 1},
        )
        assert status == 400 and "Ticket 1 was not found" in str(body)
        status, body = await post(
            "time/entries",
            start
            | {"timeStart": "2026-12-01T08:00:00Z", "actualHours": 1, "billableOption": "Maybe"},
        )
        assert status == 400 and "billableOption" in str(body)
        status, body = await post("service/tickets", {"summary": "No company"})
        assert status == 400 and "company" in str(body)
        status, body = await post("service/tickets", {"summary": "x" * 101, "company": {"id": 1}})
        assert status == 400 and "summary" in str(body)
        async with http.get(
            f"{cw_sandbox.api_url}/time/entries",
            params={"conditions": f'chargeToId = {OPEN_TICKET_ID} and notes contains "x"'},
        ) as resp:
            assert resp.status == 200 and await resp.json() == []
    assert cw_sandbox.state.time_entries == {}


async def test_an_account_with_more_companies_than_kept_is_searched_in_connectwise(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.core.invocation import Conversation, Invocation, OptionsQuery, Platform
    from handlers import new_ticket

    monkeypatch.setattr(new_ticket, "COMPANY_LIST", 2)
    await connect_account(sqlite_runtime, cw_sandbox, workspace="big")
    chat = Chat(sqlite_runtime, workspace="big")
    invocation = Invocation(
        platform=Platform.SHELL,
        account_external_id="big",
        user=chat.user,
        conversation=Conversation("general"),
        action=OptionsQuery("companies", "northwind"),
        idempotency_key="opt-big",
    )
    reply = await sqlite_runtime.dispatcher.handle(invocation)
    assert [o.label for o in reply.options] and all("Northwind" in o.label for o in reply.options)
    searched = cw_sandbox.requests.matching("GET", "/company/companies")
    assert any("northwind" in r.query.lower() for r in searched)  # asked ConnectWise


# -- the answers to a time entry and a note (one wording path, handlers/posting.py) ------------


def _posted(state: str, *, error: str | None = None, kind: str | None = None) -> Posted:
    outcome = Outcome(1, state, 12, "time", "ref-1", error=error, error_kind=kind)
    return Posted(outcome, repeat=False)


def test_time_and_note_answers_for_each_outcome() -> None:
    title = "#12 Printer"
    common = {"title": title, "url": "https://cw/t/12", "text": "did it", "member_name": "Jane"}
    done = time_reply(_posted("posted"), minutes=90, billable=BillableOption.NO_CHARGE, **common)
    card = done.cards[0]
    assert done.text == f"Logged 1h 30m on {title}."
    assert [(f.label, f.value) for f in card.facts] == [
        ("Time", "1h 30m"),
        ("Billing", BillableOption.NO_CHARGE.label),
        ("Logged as", "Jane"),
        ("Reference", "ref-1"),
    ]
    repeat = Posted(_posted("posted").outcome, repeat=True)
    again = time_reply(repeat, minutes=5, billable=None, **common)
    assert "nothing was logged twice" in again.text
    unsure = time_reply(
        _posted("failed", error="timed out", kind=UNCONFIRMED), minutes=5, billable=None, **common
    )
    assert unsure.text.startswith(f"Your 5m may not have reached {title}: timed out")
    assert unsure.text.endswith("Your notes, so they aren't lost:\n> did it")
    failed = time_reply(_posted("failed"), minutes=5, billable=None, **common)
    assert failed.text.startswith(f"Your 5m was NOT logged on {title}: it could not be logged")
    assert "Nothing was logged." in failed.text and not failed.cards

    note = note_reply(
        _posted("failed", error="403"),
        ticket_id=12,
        summary="Printer",
        url="u",
        note_type=NoteType.INTERNAL,
        text="t",
        member_name="Jane",
    )
    assert note.text == (
        f"Your note was NOT added to {title}: 403\n"
        "Nothing was posted. Your text, so it isn't lost:\n> t"
    )
