"""note: post a note to the linked ticket as the caller's ConnectWise member."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from bot.core.context import Request
from bot.core.errors import BadArguments, reply_for
from bot.core.invocation import FormSubmission, humanize_mentions
from bot.core.reply import FieldKind, Form, FormField, Option, Reply, Tone
from bot.core.router import Router
from handlers.link import link_form, link_from_form
from handlers.posting import check_text, note_reply, post_through_ledger
from handlers.status import change_status
from handlers.time import time_fields, time_from_note_form
from psa.types import NoteType
from storage.errors import is_unavailable
from storage.models import LedgerKind

router = Router("note")
USAGE = "note [--internal|--discussion|--resolution] <text>"

# ConnectWise's own names for the three sections; `--description` is the old spelling.
FLAGS = {
    "--internal": NoteType.INTERNAL,
    "-i": NoteType.INTERNAL,
    "--discussion": NoteType.DESCRIPTION,
    "-d": NoteType.DESCRIPTION,
    "--description": NoteType.DESCRIPTION,
    "--resolution": NoteType.RESOLUTION,
    "-r": NoteType.RESOLUTION,
}
SUGGESTED = ("--internal", "--discussion", "--resolution")
MAX_NOTE_LENGTH = 10_000
_FLAG_RE = re.compile(r"^--?[A-Za-z][\w-]*$")


def _unknown_flag(flag: str) -> BadArguments:
    close = difflib.get_close_matches(flag.lower(), SUGGESTED, n=1, cutoff=0.5)
    hint = f"did you mean `{close[0]}`?" if close else f"the flags are {', '.join(SUGGESTED)}."
    return BadArguments(
        f"`{flag}` is not a note flag; {hint} Nothing was posted (to post text that starts "
        "with a dash, put `--` before it).",
        USAGE,
    )


def parse_note_args(args: str) -> tuple[NoteType, str]:
    """Leading flags pick the type; the rest is the note, kept verbatim.

    A leading word that looks like a flag but is none is refused, so a typo is never posted
    to the ticket (a note cannot be taken back); `--` ends the flags.
    """
    note_type = NoteType.INTERNAL
    rest = args.strip()
    seen: set[str] = set()
    while rest.startswith("-"):
        flag, _, remainder = rest.partition(" ")
        if flag == "--":
            rest = remainder.lstrip()
            break
        flag_key = flag.lower()
        if flag_key not in FLAGS:
            if _FLAG_RE.match(flag):
                raise _unknown_flag(flag)
            break
        chosen = FLAGS[flag_key]
        if seen and chosen.value not in seen:
            raise BadArguments("Pick one note type.", USAGE)
        seen.add(chosen.value)
        note_type = chosen
        rest = remainder.lstrip()
    return note_type, rest


def note_form(metadata: dict[str, str] | None = None) -> Form:
    return Form(
        form_id="note",
        title="Add a note",
        submit_label="Post note",
        metadata=metadata or {},
        fields=(
            FormField(
                "note_type",
                "Type",
                kind=FieldKind.SELECT,
                initial=NoteType.INTERNAL.value,
                options=tuple(Option(t.label, t.value) for t in NoteType),
            ),
            FormField("text", "Note", kind=FieldKind.MULTILINE),
            FormField(
                "status",
                "Also change status to",
                kind=FieldKind.SEARCH,
                required=False,
                source="statuses",
            ),
            *time_fields(),
        ),
    )


async def post_note(request: Request, note_type: NoteType, text: str) -> Reply:
    check_text(text, USAGE, limit=MAX_NOTE_LENGTH)
    link = await request.require_link()
    mapping = await request.require_mapping()
    provider = await request.provider()
    text = humanize_mentions(text)
    posted = await post_through_ledger(
        request,
        kind=LedgerKind.NOTE,
        ticket_id=link.ticket_id,
        mapping=mapping,
        provider=provider,
        body=text,
        note_type=note_type,
    )
    return note_reply(
        posted,
        ticket_id=link.ticket_id,
        summary=link.ticket_summary,
        url=provider.ticket_url(link.ticket_id),
        note_type=note_type,
        text=text,
        member_name=mapping.member_name or mapping.member_identifier,
    )


@router.command("note", usage=USAGE, writes=True)
async def note(request: Request) -> Reply:
    """Post a note to the linked ticket (without text: open the note form)."""
    note_type, text = parse_note_args(request.args)
    await request.require_connection()
    await request.require_link()
    if not text.strip():
        await request.require_mapping()
        return Reply.show_form(note_form())
    return await post_note(request, note_type, text)


@router.action("note_open")
async def note_open(request: Request) -> Reply:
    """Open the note form from a ticket card."""
    await request.require_link()
    await request.require_mapping()
    return Reply.show_form(note_form())


@router.form("note", writes=True)
async def submit_note(request: Request) -> Reply:
    """Post the note from the form (with a time: as a time entry), then change the status if
    one was picked."""
    assert isinstance(request.invocation.action, FormSubmission)
    values = request.invocation.action.values
    text = values.get("text") or ""
    if not text.strip():
        return Reply.show_form(note_form().with_errors({"text": "Write the note."}, **values))
    try:
        note_type = NoteType(values.get("note_type") or NoteType.INTERNAL.value)
    except ValueError:
        return Reply.show_form(note_form().with_errors({"note_type": "Pick a type."}, **values))
    logged = await time_from_note_form(request, values, note_type, text)
    if isinstance(logged, Mapping):
        return Reply.show_form(note_form().with_errors(logged, **values))
    reply = logged or await post_note(request, note_type, text)
    status = (values.get("status") or "").strip()
    if status.isdigit() and reply.tone is Tone.SUCCESS:
        try:
            status_reply = await change_status(request, int(status))
        except Exception as exc:  # the note is posted: say so, and why the status is not
            if is_unavailable(exc):
                raise  # stored work: tried again once the database is back
            failed = reply_for(exc)
            status_reply = Reply.error(f"The status was NOT changed: {failed.text}")
        return Reply(
            text=f"{reply.text}\n{status_reply.text}",
            cards=reply.cards,
            tone=status_reply.tone if status_reply.tone is Tone.ERROR else reply.tone,
        )
    return reply


def message_note(values: dict[str, str]) -> str:
    text = values.get("text", "").strip()
    author = values.get("author", "").strip()
    link = values.get("permalink", "").strip()
    source = " ".join(p for p in (f"Message from {author}" if author else "", link) if p)
    return f"{text}\n\n({source})" if source else text


@router.form("post_message", writes=True)
async def post_message(request: Request) -> Reply:
    """Post a chat message (the "Post to ticket" shortcut) as a note to the linked ticket."""
    assert isinstance(request.invocation.action, FormSubmission)
    values = dict(request.invocation.action.values)
    if not values.get("text", "").strip():
        return Reply.warning("That message has no text to post.")
    if await request.link() is None:
        await request.require_connection()
        return Reply.show_form(
            link_form(metadata=values, form_id="link_then_post"),
            "Link this conversation to a ticket first; the message is posted right after.",
        )
    return await post_note(request, NoteType.INTERNAL, message_note(values))


@router.form("link_then_post", writes=True)
async def link_then_post(request: Request) -> Reply:
    """Link the picked ticket, then post the message the shortcut was used on."""
    assert isinstance(request.invocation.action, FormSubmission)
    linked = await link_from_form(request)
    if linked.form is not None or linked.tone is not Tone.SUCCESS:
        return linked
    posted = await post_note(
        request, NoteType.INTERNAL, message_note(dict(request.invocation.action.metadata))
    )
    return Reply(
        text=f"{linked.text}\n{posted.text}", cards=posted.cards or linked.cards, tone=posted.tone
    )
