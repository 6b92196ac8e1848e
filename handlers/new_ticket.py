"""new: create a ConnectWise ticket from chat, link this conversation to it, first note included.

`new [--company <id or identifier>] <summary>` creates the ticket at once when it knows the
company: the one named, or the linked ticket's (a customer's channel stays with its
customer). Otherwise, and from the "New ticket" message action, the form asks for summary,
company (type-ahead), board, priority and an initial note.

What the ticket gets: the initial note (or the summary) as its first Discussion note, with
the psabot footer reference; from a message action, the message itself (text, author, link)
as its first Internal note, so chat never reaches the customer unasked. Both travel in the one
POST (`initialDescription`, `initialInternalAnalysis`), through the ledger like any write:
ticket creation has no idempotency key, so a retry first looks for a ticket of the company,
entered since, with that summary and a note carrying the reference (bounded, see
psa/connectwise/work.py), and links that one instead of creating another.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.context import Request, connection_version
from bot.core.errors import BadArguments
from bot.core.invocation import FormSubmission, OptionsQuery, humanize_mentions
from bot.core.reply import FieldKind, Form, FormField, Option, Reply, Tone
from bot.core.router import Router
from bot.outbox import UNCONFIRMED
from handlers.common import ticket_title
from handlers.link import link_ticket
from handlers.note import message_note
from handlers.posting import post_through_ledger
from psa.cache import TTLCache
from psa.errors import NotFound
from psa.provider import PSAProvider
from psa.types import Company
from storage.models import LedgerKind

router = Router("new_ticket")
USAGE = "new [--company <id or identifier>] <summary>"
SUMMARY_MAX = 100  # ConnectWise's limit for a ticket summary
MAX_NOTE_LENGTH = 10_000

# The company type-ahead answers from a per-account list, so typing costs no ConnectWise call:
# at most COMPANY_LIST companies per account, COMPANY_ACCOUNTS accounts, for COMPANY_TTL s.
# An account with more companies than that is searched in ConnectWise instead.
COMPANY_LIST = 1000
COMPANY_ACCOUNTS = 256
COMPANY_TTL = 300.0
COMPANY_OPTIONS = 25
_companies = TTLCache(COMPANY_TTL, maxsize=COMPANY_ACCOUNTS)


def new_ticket_form(
    *,
    boards: tuple[Option, ...],
    priorities: tuple[Option, ...],
    summary: str = "",
    metadata: Mapping[str, str] | None = None,
) -> Form:
    context = dict(metadata or {})
    intro = (
        "The message goes on the ticket as its first internal note."
        if context.get("text")
        else "This conversation is linked to the new ticket."
    )
    default_priority = next((o.value for o in priorities if o.label.endswith("*")), "")
    return Form(
        form_id="new_ticket",
        title="New ticket",
        submit_label="Create ticket",
        intro=intro,
        metadata=context,
        fields=(
            FormField("summary", "Summary", initial=summary[:SUMMARY_MAX]),
            FormField(
                "company",
                "Company",
                kind=FieldKind.SEARCH,
                source="companies",
                placeholder="Type a company name",
            ),
            FormField(
                "board",
                "Board",
                kind=FieldKind.SELECT,
                required=False,
                initial=boards[0].value if boards else "",
                options=boards,
            ),
            FormField(
                "priority",
                "Priority",
                kind=FieldKind.SELECT,
                required=False,
                initial=default_priority,
                options=tuple(Option(o.label.rstrip(" *"), o.value) for o in priorities),
            ),
            FormField(
                "note",
                "Initial note",
                kind=FieldKind.MULTILINE,
                required=False,
                hint="The ticket's first Discussion note (the customer can see it).",
            ),
        ),
    )


async def open_form(
    request: Request,
    summary: str = "",
    metadata: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> Reply:
    provider = await request.provider()
    boards = tuple(Option(b.name, str(b.id)) for b in await provider.list_boards())
    priorities = tuple(
        Option(p.name + (" *" if p.default else ""), str(p.id))
        for p in await provider.list_priorities()
    )
    form = new_ticket_form(boards=boards, priorities=priorities, summary=summary, metadata=metadata)
    if not errors:
        return Reply.show_form(form)
    return Reply.show_form(form.with_errors(errors, **dict(values or {"summary": summary})))


# -- companies --------------------------------------------------------------------------------


async def account_companies(request: Request, provider: PSAProvider) -> tuple[Company, ...]:
    """The account's companies (at most COMPANY_LIST + 1, to tell a cut list), cached."""
    connection = (await request.snapshot()).connection
    version = connection_version(connection) if connection else "none"
    key = f"{request.account.id}:{version}"

    async def load() -> tuple[Company, ...]:
        return tuple(await provider.list_companies("", limit=COMPANY_LIST + 1))

    return await _companies.get_or_load(key, load)


async def find_companies(
    request: Request, query: str, limit: int = COMPANY_OPTIONS
) -> list[Company]:
    provider = await request.provider()
    known = await account_companies(request, provider)
    if len(known) > COMPANY_LIST:  # too many to keep: ask ConnectWise (its own short cache)
        return await provider.list_companies(query, limit=limit)
    words = query.casefold().split()
    return [
        c
        for c in known
        if all(w in c.name.casefold() or w in c.identifier.casefold() for w in words)
    ][:limit]


@router.source("companies")
async def company_options(request: Request) -> Reply:
    """Type-ahead over the account's companies for the new-ticket form."""
    assert isinstance(request.invocation.action, OptionsQuery)
    found = await find_companies(request, request.invocation.action.query.strip())
    return Reply(options=tuple(Option(f"{c.name} ({c.identifier})"[:75], str(c.id)) for c in found))


async def company_named(request: Request, name: str) -> Company:
    """`--company`: an id, an identifier, or a name only one company has."""
    provider = await request.provider()
    token = name.strip()
    if token.isascii() and token.isdigit():
        try:
            return await provider.get_company(int(token))
        except NotFound:
            raise BadArguments(f"There is no company {token} in ConnectWise.", USAGE) from None
    found = await find_companies(request, token, limit=50)
    exact = [c for c in found if c.identifier.casefold() == token.casefold()]
    if len(exact) == 1:
        return exact[0]
    if len(found) == 1:
        return found[0]
    problem = "No company matches" if not found else f"{len(found)} companies match"
    raise BadArguments(f"{problem} `{token}`; give its identifier or id.", USAGE)


# -- creating ---------------------------------------------------------------------------------


def _summary_problem(summary: str) -> str | None:
    if not summary.strip():
        return "Write a summary."
    if len(summary.strip()) > SUMMARY_MAX:
        return f"The summary is {len(summary.strip())} characters; the limit is {SUMMARY_MAX}."
    if "\x00" in summary:
        return "The summary contains a NUL character (\\0); remove it."
    return None


async def create_ticket(
    request: Request,
    *,
    summary: str,
    company_id: int,
    board_id: int | None = None,
    priority_id: int | None = None,
    note: str = "",
    context: Mapping[str, str] | None = None,
) -> Reply:
    """Create the ticket exactly once, link this conversation to it, and say so."""
    problem = _summary_problem(summary)
    if problem is not None:
        raise BadArguments(problem, USAGE)
    if len(note) > MAX_NOTE_LENGTH or "\x00" in note:
        raise BadArguments(f"The initial note must be under {MAX_NOTE_LENGTH} characters.", USAGE)
    mapping = await request.require_mapping()
    provider = await request.provider()
    summary = humanize_mentions(" ".join(summary.split()))
    internal = message_note(dict(context)) if context and context.get("text") else ""
    posted = await post_through_ledger(
        request,
        kind=LedgerKind.TICKET,
        ticket_id=0,  # known once created (the ledger row gets it then)
        mapping=mapping,
        provider=provider,
        body=humanize_mentions(note.strip()) or summary,
        details={
            "summary": summary,
            "company_id": company_id,
            "board_id": board_id,
            "priority_id": priority_id,
            "internal_note": humanize_mentions(internal),
        },
    )
    outcome = posted.outcome
    if not outcome.posted or not (outcome.psa_object_id or "").isdigit():
        if outcome.error_kind == UNCONFIRMED:
            return Reply.error(
                f"The ticket “{summary}” may not have been created: {outcome.error}\n"
                "Look for it in ConnectWise before creating it again."
            )
        return Reply.error(
            f"The ticket “{summary}” was NOT created: {outcome.error or 'ConnectWise refused it'}"
        )
    ticket_id = int(outcome.psa_object_id or 0)
    created = f"Created {ticket_title(ticket_id, summary)}"
    if posted.repeat:
        created += " (this request was already handled; no second ticket was created)"
    current = await request.link()
    if (
        current is not None
        and current.ticket_id == ticket_id
        and current.conversation_key == (request.conversation.key)
    ):
        return Reply.success(f"{created}; this conversation is linked to it.")
    linked = await link_ticket(request, ticket_id)
    return Reply(text=f"{created}.\n{linked.text}", cards=linked.cards, tone=linked.tone)


def _int_or_none(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


@router.command("new", usage=USAGE, writes=True)
async def new(request: Request) -> Reply:
    """Create a ticket and link this conversation to it (without a summary: the form)."""
    await request.require_connection()
    rest = request.args.strip()
    company: Company | None = None
    flag, _, after = rest.partition(" ")
    if flag.lower() == "--company" or flag.lower().startswith("--company="):
        name = flag.partition("=")[2]  # `--company=X` or `--company X`
        if not name:
            name, _, after = after.strip().partition(" ")
        rest = after
        if not name:
            raise BadArguments("Name the company after `--company`.", USAGE)
        company = await company_named(request, name)
        rest = rest.strip()
    elif flag.startswith("--"):
        raise BadArguments(f"`{flag}` is not a flag of `new`; the flag is `--company`.", USAGE)
    await request.require_mapping()
    if not rest:
        return await open_form(request)
    problem = _summary_problem(rest)
    if problem is not None:
        return await open_form(request, rest[:SUMMARY_MAX], errors={"summary": problem})
    if company is None:
        link = await request.link()
        if link is None:
            return await open_form(request, rest)
        provider = await request.provider()
        ticket = await provider.get_ticket(link.ticket_id)
        if ticket.company is None:
            return await open_form(request, rest)
        company_id = ticket.company.id
    else:
        company_id = company.id
    return await create_ticket(request, summary=rest, company_id=company_id)


@router.form("new_ticket_message")
async def from_message(request: Request) -> Reply:
    """The "New ticket" message action: the form, the message kept as its context."""
    assert isinstance(request.invocation.action, FormSubmission)
    values = dict(request.invocation.action.values)
    await request.require_connection()
    await request.require_mapping()
    first_line = next((line.strip() for line in values.get("text", "").splitlines() if line), "")
    return await open_form(request, first_line[:SUMMARY_MAX], metadata=values)


@router.form("new_ticket", writes=True)
async def submit_new_ticket(request: Request) -> Reply:
    """Create the ticket from the form."""
    assert isinstance(request.invocation.action, FormSubmission)
    submission = request.invocation.action
    values, context = submission.values, dict(submission.metadata)
    summary = values.get("summary") or ""
    errors: dict[str, str] = {}
    problem = _summary_problem(summary)
    if problem is not None:
        errors["summary"] = problem
    company_id = _int_or_none(values.get("company"))
    if company_id is None:
        errors["company"] = "Pick the ticket's company."
    if errors:
        return await open_form(request, summary, context, errors, values)
    assert company_id is not None
    reply = await create_ticket(
        request,
        summary=summary,
        company_id=company_id,
        board_id=_int_or_none(values.get("board")),
        priority_id=_int_or_none(values.get("priority")),
        note=values.get("note") or "",
        context=context,
    )
    return reply if reply.tone is not Tone.ERROR else Reply(text=reply.text, tone=reply.tone)
