"""link / unlink / show: tie a conversation to one ConnectWise ticket."""

from __future__ import annotations

from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.events import TicketLinked, TicketUnlinked
from bot.core.invocation import ButtonAction, FormSubmission, OptionsQuery
from bot.core.reply import Button, FieldKind, Form, FormField, Option, Reply
from bot.core.router import Router
from handlers.common import parse_ticket_id, ticket_card, ticket_title
from psa.errors import NotFound
from psa.types import SearchQuery, TicketState

router = Router("link")

LINK_USAGE = "link <ticket id>"


def link_form(metadata: dict[str, str] | None = None, *, form_id: str = "link") -> Form:
    return Form(
        form_id=form_id,
        title="Link a ticket",
        submit_label="Link",
        intro="Type a ticket number, or search by summary.",
        metadata=metadata or {},
        fields=(
            FormField("ticket_id", "Ticket number", required=False, placeholder="48213"),
            FormField(
                "ticket",
                "…or search",
                kind=FieldKind.SEARCH,
                required=False,
                source="tickets",
                placeholder="printer offline",
            ),
        ),
    )


async def link_ticket(request: Request, ticket_id: int) -> Reply:
    provider = await request.provider()
    try:
        ticket = await provider.get_ticket(ticket_id)
    except NotFound:
        return Reply.warning(
            f"Ticket #{ticket_id} was not found in ConnectWise. Check the number, or find it "
            "with `{cmd} search <words>`."
        )
    conversation = request.conversation
    async with request.services.store.unit() as uow:
        previous = await uow.links.get(request.account.id, conversation.key)
        await uow.links.set(
            request.account.id,
            conversation.key,
            channel_id=conversation.channel_id,
            thread_id=conversation.thread_id,
            ticket_id=ticket.id,
            ticket_summary=ticket.summary,
            linked_by=request.user.id,
            board_id=ticket.board.id if ticket.board else None,
        )
    request.refresh()
    url = provider.ticket_url(ticket.id)
    await request.services.events.publish(
        TicketLinked(
            account=request.account_ref,
            conversation_key=conversation.key,
            channel_id=conversation.channel_id,
            thread_id=conversation.thread_id,
            ticket_id=ticket.id,
            ticket_summary=ticket.summary,
            ticket_url=url,
            by_name=request.user.display,
        )
    )
    where = "thread" if conversation.thread_id else "channel"
    replaced = (
        f" (it was linked to #{previous.ticket_id} before)"
        if previous is not None and previous.ticket_id != ticket.id
        else ""
    )
    return Reply.success(
        f"Linked this {where} to {ticket_title(ticket.id, ticket.summary)}{replaced}. "
        "Notes and status changes from here go to this ticket.",
        ticket_card(ticket, url),
    )


@router.command("link", usage=LINK_USAGE)
async def link(request: Request) -> Reply:
    """Link this conversation to a ticket (without a number: pick one)."""
    await request.require_connection()
    if not request.args.strip():
        return Reply.show_form(link_form())
    return await link_ticket(request, parse_ticket_id(request.args, LINK_USAGE))


async def link_from_form(request: Request) -> Reply:
    """Link the ticket typed or picked in a link form (shared with the post-message flow)."""
    assert isinstance(request.invocation.action, FormSubmission)
    submission = request.invocation.action
    values, metadata = submission.values, dict(submission.metadata)
    form = link_form(metadata, form_id=submission.form_id)
    raw = (values.get("ticket_id") or "").strip() or (values.get("ticket") or "").strip()
    if not raw:
        return Reply.show_form(form.with_errors({"ticket_id": "Type a ticket number or pick one."}))
    try:
        ticket_id = parse_ticket_id(raw, LINK_USAGE)
    except BadArguments:
        return Reply.show_form(
            form.with_errors({"ticket_id": f"`{raw}` is not a ticket number."}, **values)
        )
    return await link_ticket(request, ticket_id)


@router.form("link")
async def submit_link(request: Request) -> Reply:
    """Link the ticket chosen in the link form."""
    return await link_from_form(request)


@router.action("link_ticket")
async def link_button(request: Request) -> Reply:
    """Link the ticket whose Link button was pressed."""
    assert isinstance(request.invocation.action, ButtonAction)
    return await link_ticket(request, parse_ticket_id(request.invocation.action.value, LINK_USAGE))


@router.source("tickets")
async def ticket_options(request: Request) -> Reply:
    """Type-ahead over open tickets for the link picker."""
    assert isinstance(request.invocation.action, OptionsQuery)
    query = request.invocation.action.query.strip()
    if not query:
        return Reply()
    provider = await request.provider()
    tickets = await provider.search_tickets(
        SearchQuery(text=query, state=TicketState.OPEN, limit=10)
    )
    return Reply(
        options=tuple(Option(ticket_title(t.id, t.summary)[:75], str(t.id)) for t in tickets)
    )


@router.command("unlink", usage="unlink")
async def unlink(request: Request) -> Reply:
    """Remove this conversation's ticket link."""
    link = await request.link()
    if link is None:
        return Reply.info("This conversation isn't linked to a ticket.")
    async with request.services.store.unit() as uow:
        await uow.links.delete(request.account.id, link.conversation_key)
    request.refresh()
    await request.services.events.publish(
        TicketUnlinked(
            account=request.account_ref,
            conversation_key=link.conversation_key,
            channel_id=link.channel_id,
            thread_id=link.thread_id,
            ticket_id=link.ticket_id,
            by_name=request.user.display,
        )
    )
    return Reply.success(f"Unlinked from {ticket_title(link.ticket_id, link.ticket_summary)}.")


@router.command("show", usage="show")
async def show(request: Request) -> Reply:
    """Show the linked ticket (also what a bare `{cmd}` does)."""
    link = await request.require_link()
    provider = await request.provider()
    ticket = await provider.get_ticket(link.ticket_id)
    url = provider.ticket_url(ticket.id)
    return Reply.info(
        "",
        ticket_card(
            ticket,
            url,
            extra_buttons=(
                Button("Add note", action_id="note_open"),
                Button("Change status", action_id="status_open"),
                Button("Unlink", action_id="unlink"),
            ),
        ),
    )


@router.action("unlink")
async def unlink_button(request: Request) -> Reply:
    """Unlink from the card's button."""
    return await unlink(request)
