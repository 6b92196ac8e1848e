"""status: move the linked ticket to another status of its board.

ConnectWise requests per change: the picker lists the statuses of the board the link keeps
(cached, so usually none); applying a status reads the ticket once (its board and current
status are checked then) and patches it. The link's board is brought up to date whenever the
ticket is read, so links made before boards were kept, and tickets moved to another board,
cost one extra read once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.invocation import ButtonAction, FormSubmission, OptionsQuery
from bot.core.reply import Button, Card, FieldKind, Form, FormField, Option, Reply
from bot.core.router import Router
from handlers.common import ticket_title
from handlers.posting import post_through_ledger, status_reply
from psa.provider import PSAProvider
from psa.types import Status, Ticket
from storage.models import LedgerKind, TicketLink

router = Router("status")
USAGE = "status [<status name>]"


def status_form() -> Form:
    return Form(
        form_id="status",
        title="Change status",
        submit_label="Change",
        fields=(
            FormField(
                "status",
                "New status",
                kind=FieldKind.SEARCH,
                source="statuses",
                placeholder="In Progress",
            ),
        ),
    )


def match_statuses(statuses: list[Status], wanted: str) -> list[Status]:
    """Exact, then prefix, then substring, then close spellings; the best tier wins."""
    key = " ".join(wanted.casefold().split())
    tiers = [
        [s for s in statuses if s.name.casefold() == key],
        [s for s in statuses if s.name.casefold().startswith(key)],
        [s for s in statuses if key in s.name.casefold()],
    ]
    for tier in tiers:
        if tier:
            return tier
    names = {s.name.casefold(): s for s in statuses}
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
    return [names[n] for n in close]


@dataclass(frozen=True)
class Loaded:
    """The linked ticket and its board's statuses, read once per request."""

    provider: PSAProvider
    ticket: Ticket
    statuses: list[Status]

    @property
    def url(self) -> str:
        return self.provider.ticket_url(self.ticket.id)


def _board_id(ticket: Ticket) -> int:
    return ticket.board.id if ticket.board else 0


async def _read_ticket(request: Request, link: TicketLink, provider: PSAProvider) -> Ticket:
    """The linked ticket, read now; the link keeps the board it is on for the next picker."""
    ticket = await provider.get_ticket(link.ticket_id)
    board_id = ticket.board.id if ticket.board else None
    if board_id != link.board_id:
        async with request.services.store.unit() as uow:
            await uow.links.remember_board(request.account.id, link.id, ticket.id, board_id)
        link.board_id = board_id
    return ticket


async def _load(request: Request) -> Loaded:
    link = await request.require_link()
    provider = await request.provider()
    ticket = await _read_ticket(request, link, provider)
    statuses = await provider.get_ticket_statuses(_board_id(ticket))
    return Loaded(provider, ticket, statuses)


async def _picker_statuses(request: Request) -> list[Status]:
    """The statuses of the board the link keeps, without reading the ticket (a link made
    before boards were kept reads it once)."""
    link = await request.require_link()
    provider = await request.provider()
    board_id = link.board_id
    if board_id is None:
        board_id = _board_id(await _read_ticket(request, link, provider))
    return await provider.get_ticket_statuses(board_id)


async def change_status(request: Request, status_id: int, loaded: Loaded | None = None) -> Reply:
    mapping = await request.require_mapping()
    loaded = loaded or await _load(request)
    ticket, statuses, url = loaded.ticket, loaded.statuses, loaded.url
    chosen = next((s for s in statuses if s.id == status_id), None)
    if chosen is None:
        board = ticket.board.name if ticket.board else "its board"
        return Reply.warning(f"That status is not on {board} any more. Run `{{cmd}} status` again.")
    if ticket.status is not None and ticket.status.id == chosen.id:
        return Reply.info(
            f"{ticket_title(ticket.id, ticket.summary)} is already **{chosen.name}**."
        )
    posted = await post_through_ledger(
        request,
        kind=LedgerKind.STATUS,
        ticket_id=ticket.id,
        mapping=mapping,
        provider=loaded.provider,
        key_suffix=":status",
        status_id=chosen.id,
        status_name=chosen.name,
        previous_status_id=ticket.status.id if ticket.status else None,
        body=f"{ticket.status.name if ticket.status else '?'} → {chosen.name}",
        ticket=ticket,
    )
    return status_reply(
        posted, ticket_id=ticket.id, summary=ticket.summary, url=url, status_name=chosen.name
    )


@router.command("status", usage=USAGE, writes=True)
async def status(request: Request) -> Reply:
    """Change the linked ticket's status (without a name: pick one)."""
    await request.require_connection()
    await request.require_link()
    wanted = request.args.strip()
    if not wanted:
        return Reply.show_form(status_form())
    loaded = await _load(request)
    ticket, statuses = loaded.ticket, loaded.statuses
    matches = match_statuses(statuses, wanted)
    board = ticket.board.name if ticket.board else "this board"
    if not matches:
        names = ", ".join(s.name for s in statuses)
        return Reply.warning(f"No status like `{wanted}` on {board}. Its statuses: {names}.")
    if len(matches) > 1:
        return Reply.info(
            f"`{wanted}` matches several statuses on {board}; pick one:",
            Card(
                title=ticket_title(ticket.id, ticket.summary),
                buttons=tuple(
                    Button(s.name, action_id="set_status", value=str(s.id)) for s in matches
                ),
            ),
        )
    return await change_status(request, matches[0].id, loaded)


@router.action("set_status", writes=True)
async def set_status_button(request: Request) -> Reply:
    """Apply the status whose button was pressed."""
    assert isinstance(request.invocation.action, ButtonAction)
    value = request.invocation.action.value
    if not value.isdigit():
        raise BadArguments("That button carries no status.", USAGE)
    return await change_status(request, int(value))


@router.action("status_open")
async def status_open(request: Request) -> Reply:
    """Open the status picker from a ticket card."""
    await request.require_link()
    return Reply.show_form(status_form())


@router.form("status", writes=True)
async def submit_status(request: Request) -> Reply:
    """Apply the status picked in the form."""
    assert isinstance(request.invocation.action, FormSubmission)
    value = (request.invocation.action.values.get("status") or "").strip()
    if not value.isdigit():
        return Reply.show_form(status_form().with_errors({"status": "Pick a status."}))
    return await change_status(request, int(value))


@router.source("statuses")
async def status_options(request: Request) -> Reply:
    """The linked ticket's board statuses, filtered by what was typed."""
    assert isinstance(request.invocation.action, OptionsQuery)
    statuses = await _picker_statuses(request)
    typed = request.invocation.action.query.strip()
    shown = match_statuses(statuses, typed) if typed else statuses
    return Reply(options=tuple(Option(s.name, str(s.id)) for s in shown))
