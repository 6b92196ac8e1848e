"""time: log time worked on the linked ticket as a ConnectWise time entry.

`time 45m [--billable|--no-charge|--no-bill] <notes>` creates one time entry charged to the
linked ticket (`chargeToType: ServiceTicket`) for the caller's mapped member, ending now and
starting the duration before. Without a billing flag ConnectWise applies its own default (the
work type's and the agreement's), as it does when a technician leaves the option alone in
its time-entry window. The notes also land in the ticket's Internal Analysis, so a time entry
from chat is never shown to the customer unless the note form's type says so.

Like a note, the entry goes through the ledger and the outbox: exactly once, with the note
footer's reference in its notes (bot/outbox/kinds.py), and into post history.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from bot.core.context import Request
from bot.core.duration import BadDuration, TooLong, format_minutes, parse_duration
from bot.core.errors import BadArguments, UserError
from bot.core.invocation import humanize_mentions
from bot.core.reply import Fact, FieldKind, FormField, Option, Reply
from bot.core.router import Router
from handlers.common import ticket_title
from handlers.posting import Posted, check_text, post_through_ledger, written_reply
from psa.types import BillableOption, NoteType
from storage.models import LedgerKind

router = Router("time")
USAGE = "time <45m|1h30m|1.5h> [--billable|--no-charge|--no-bill] <notes>"
DEFAULTS_USAGE = "time defaults [<work type id> <work role id> | clear]"
MAX_NOTES_LENGTH = 10_000

FLAGS = {
    "--billable": BillableOption.BILLABLE,
    "--no-charge": BillableOption.NO_CHARGE,
    "--nocharge": BillableOption.NO_CHARGE,
    "--no-bill": BillableOption.DO_NOT_BILL,
    "--do-not-bill": BillableOption.DO_NOT_BILL,
}
SUGGESTED = ("--billable", "--no-charge", "--no-bill")


def duration_of(token: str, usage: str = USAGE) -> int:
    """Minutes, or the error the user sees: a usage line for a malformed duration, one
    sentence for one over a day."""
    try:
        return parse_duration(token)
    except TooLong as exc:
        raise UserError(str(exc)) from None
    except BadDuration as exc:
        raise BadArguments(str(exc), usage) from None


def _flag(token: str) -> BillableOption:
    found = FLAGS.get(token.lower())
    if found is not None:
        return found
    close = difflib.get_close_matches(token.lower(), SUGGESTED, n=1, cutoff=0.5)
    hint = f"did you mean `{close[0]}`?" if close else f"the flags are {', '.join(SUGGESTED)}."
    raise BadArguments(f"`{token}` is not a time flag; {hint} Nothing was logged.", USAGE)


def parse_time_args(args: str) -> tuple[int, BillableOption | None, str]:
    """Duration, billing flag (before or after the duration) and the notes, kept verbatim."""
    rest = args.strip()
    minutes: int | None = None
    billable: BillableOption | None = None
    while rest:
        token, _, remainder = rest.partition(" ")
        if token == "--":
            rest = remainder.lstrip()
            break
        if token.startswith("--"):
            chosen = _flag(token)
            if billable is not None and chosen is not billable:
                raise BadArguments("Pick one billing option.", USAGE)
            billable = chosen
        elif minutes is None:
            minutes = duration_of(token)
        else:
            break
        rest = remainder.lstrip()
    if minutes is None:
        raise BadArguments("Say how long you worked.", USAGE)
    return minutes, billable, rest


async def log_time(
    request: Request,
    minutes: int,
    billable: BillableOption | None,
    text: str,
    section: NoteType | None = NoteType.INTERNAL,
    *,
    key_suffix: str = "",
) -> Reply:
    """Log `minutes` on the linked ticket with `text` as the entry's notes."""
    if not text.strip():
        raise BadArguments("Say what you did: the notes go on the time entry.", USAGE)
    check_text(text, USAGE, limit=MAX_NOTES_LENGTH, what="text")
    link = await request.require_link()
    mapping = await request.require_mapping()
    connection = (await request.snapshot()).connection
    provider = await request.provider()
    text = humanize_mentions(text)
    details: dict[str, Any] = {
        "minutes": minutes,
        "billable": billable.value if billable else None,
        "work_type_id": connection.work_type_id if connection else None,
        "work_role_id": connection.work_role_id if connection else None,
    }
    posted = await post_through_ledger(
        request,
        kind=LedgerKind.TIME,
        ticket_id=link.ticket_id,
        mapping=mapping,
        provider=provider,
        key_suffix=key_suffix,
        body=text,
        note_type=section,
        details=details,
    )
    return time_reply(
        posted,
        title=ticket_title(link.ticket_id, link.ticket_summary),
        url=provider.ticket_url(link.ticket_id),
        minutes=minutes,
        billable=billable,
        text=text,
        member_name=mapping.member_name or mapping.member_identifier,
    )


def billing_label(billable: BillableOption | str | None) -> str:
    if billable is None or billable == "":
        return "ConnectWise default"
    try:
        return BillableOption(billable).label
    except ValueError:
        return str(billable)


def time_reply(
    posted: Posted,
    *,
    title: str,
    url: str,
    minutes: int,
    billable: BillableOption | None,
    text: str,
    member_name: str,
) -> Reply:
    spent = format_minutes(minutes)
    return written_reply(
        posted,
        title=title,
        url=url,
        text=text,
        facts=(
            Fact("Time", spent),
            Fact("Billing", billing_label(billable)),
            Fact("Logged as", member_name),
        ),
        done=f"Logged {spent} on {title}",
        what=f"Your {spent}",
        not_done=f"was NOT logged on {title}",
        verb="logged",
        kept="Your notes, so they aren't lost",
    )


@router.command("time", usage=USAGE, writes=True)
async def time(request: Request) -> Reply:
    """Log time on the linked ticket (without arguments: open the note form with time)."""
    await request.require_connection()
    if not request.args.strip():
        from handlers.note import note_form  # note.py imports this module: import it late

        await request.require_link()
        await request.require_mapping()
        return Reply.show_form(note_form())
    minutes, billable, text = parse_time_args(request.args)
    return await log_time(request, minutes, billable, text)


def _id(token: str) -> int:
    if not (token.isascii() and token.isdigit()) or not 0 < int(token) < 2**31:
        raise BadArguments(f"`{token}` is not a ConnectWise id.", DEFAULTS_USAGE)
    return int(token)


@router.command("time defaults", usage=DEFAULTS_USAGE, owner_only=True)
async def time_defaults(request: Request) -> Reply:
    """Set the work type and role of time entries from chat (owners; ids from ConnectWise)."""
    words = request.args.split()
    connection = (await request.snapshot()).connection
    if connection is None:
        await request.require_connection()
    assert connection is not None
    if not words:
        if connection.work_type_id is None and connection.work_role_id is None:
            return Reply.info(
                "Time entries from chat use each member's own work type and role. "
                f"Set others with `{{cmd}} {DEFAULTS_USAGE}`."
            )
        return Reply.info(
            f"Time entries from chat use work type {connection.work_type_id or '—'} and "
            f"work role {connection.work_role_id or '—'}."
        )
    if words == ["clear"]:
        work_type, work_role = None, None
    elif len(words) == 2:
        work_type, work_role = _id(words[0]), _id(words[1])
    else:
        raise BadArguments("Give a work type id and a work role id, or `clear`.", DEFAULTS_USAGE)
    async with request.services.store.unit() as uow:
        await uow.connections.set_time_defaults(request.account.id, work_type, work_role)
    request.refresh()
    if work_type is None:
        return Reply.success("Time entries from chat now use each member's own defaults.")
    return Reply.success(
        f"Time entries from chat now use work type {work_type} and work role {work_role}."
    )


# -- the note form's time field ----------------------------------------------------------------

DEFAULT_BILLING = "default"


def time_fields() -> tuple[FormField, ...]:
    """What the note form gains: with a time, the note is logged as a time entry instead."""
    return (
        FormField(
            "time",
            "Time worked",
            required=False,
            placeholder="45m, 1h30m or 1.5h",
            hint="With a time, the note becomes the notes of a time entry, in the same section.",
        ),
        FormField(
            "billing",
            "Billing",
            kind=FieldKind.SELECT,
            required=False,
            initial=DEFAULT_BILLING,
            options=(
                Option("ConnectWise default", DEFAULT_BILLING),
                *(Option(b.label, b.value) for b in BillableOption),
            ),
        ),
    )


async def time_from_note_form(
    request: Request, values: Mapping[str, str], note_type: NoteType, text: str
) -> Reply | Mapping[str, str] | None:
    """A note form submitted with a time: one time entry whose notes are the note, in the
    note's section (how a technician logs work in ConnectWise: the text once, with its time).
    None without a time; the field errors when the time or billing is wrong."""
    spent = (values.get("time") or "").strip()
    if not spent:
        return None
    try:
        minutes = parse_duration(spent)
    except BadDuration as exc:
        return {"time": str(exc)}
    chosen = (values.get("billing") or DEFAULT_BILLING).strip()
    try:
        billable = None if chosen == DEFAULT_BILLING else BillableOption(chosen)
    except ValueError:
        return {"billing": "Pick a billing option."}
    return await log_time(request, minutes, billable, text, note_type)
