"""unfurl: ticket cards for links and `#numbers` posted in chat, and where they may appear.

Every unfurl, whatever the platform, is the hidden command `unfurl card <link or #number>`
(bot/core/unfurl.py). Its answer is one card (summary, status, company, board, link; never a
note) or no card at all, which the transport shows as nothing. No card when:

* the workspace has no ConnectWise connection;
* a link is not a ticket page of the connection's own site and company (another MSP's
  ConnectWise, another company on the same cloud host): it is never looked up;
* a `#number` is mentioned in a conversation that is not linked to a ticket;
* people of another organisation can read the channel (Slack Connect, a Teams shared channel,
  or the platform could not say) and no owner allowed unfurls there with `unfurl allow`;
* in such a channel, even where allowed, the ticket is not of the company of the ticket the
  conversation is linked to (an unlinked shared channel unfurls nothing): a customer in a
  shared channel sees its own tickets, never another customer's;
* the ticket does not exist for this connection's API member.
"""

from __future__ import annotations

from bot.core import sharing
from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.reply import Button, Card, Fact, Reply, Visibility
from bot.core.router import Router
from bot.core.unfurl import PREVIEW
from handlers.common import (
    board_label,
    company_label,
    parse_ticket_id,
    status_label,
    ticket_title,
)
from psa.errors import NotFound
from psa.types import Ticket

router = Router("unfurl")
USAGE = "unfurl [allow|deny]"


def unfurl_card(ticket: Ticket, url: str) -> Card:
    """What everyone in the channel sees: nothing internal, no notes, no people."""
    return Card(
        title=ticket_title(ticket.id, ticket.summary),
        facts=(
            Fact("Status", status_label(ticket)),
            Fact("Company", company_label(ticket)),
            Fact("Board", board_label(ticket)),
        ),
        buttons=(Button("Open in ConnectWise", url=url),),
        url=url,
        ref=str(ticket.id),
    )


async def shared_externally(request: Request) -> bool:
    """Whether people of another organisation read this channel (True when unknown)."""
    return await sharing.shared_externally(
        request.services.sharing,
        request.invocation.platform.value,
        request.invocation.account_external_id,
        request.conversation.channel_id,
    )


async def allowed_by_owner(request: Request) -> bool:
    """Whether an owner allowed unfurls in this (shared) channel with `unfurl allow`."""
    async with request.services.store.unit() as uow:
        return await uow.unfurls.allowed(request.account.id, request.conversation.channel_id)


def _company_id(ticket: Ticket) -> int | None:
    return ticket.company.id if ticket.company is not None else None


def _nothing(why: str) -> Reply:
    return Reply.info(why)  # no card: the transport shows nothing


@router.command(PREVIEW, hidden=True)
async def preview(request: Request) -> Reply:
    """The card a ticket link or `#number` unfurls into here."""
    target = request.args.strip()
    snapshot = await request.snapshot()
    if snapshot.connection is None or not target:
        return _nothing("Nothing to unfurl: no ConnectWise connection.")
    provider = await request.provider()
    if target.startswith("#"):
        if snapshot.link is None:
            return _nothing("Ticket numbers unfurl only in conversations linked to a ticket.")
        try:
            ticket_id: int | None = parse_ticket_id(target, PREVIEW)
        except BadArguments:
            ticket_id = None
    else:
        ticket_id = provider.ticket_id_in_url(target)
    if ticket_id is None:
        return _nothing("That is not a ticket of this workspace's ConnectWise.")
    shared = await shared_externally(request)
    if shared and not await allowed_by_owner(request):
        return _nothing("Unfurls are off here: people of another organisation read it.")
    try:
        ticket = await provider.get_ticket(ticket_id)
        if shared:
            # allowed by an owner, but another organisation reads it: its own company only
            if snapshot.link is None:
                return _nothing("In a shared channel, tickets unfurl only once it is linked.")
            linked = await provider.get_ticket(snapshot.link.ticket_id)
            if _company_id(ticket) is None or _company_id(ticket) != _company_id(linked):
                return _nothing("In a shared channel, only the linked company's tickets unfurl.")
    except NotFound:
        return _nothing("No such ticket.")
    card = unfurl_card(ticket, provider.ticket_url(ticket.id))
    return Reply(cards=(card,), visibility=Visibility.CHANNEL)


@router.command("unfurl", usage=USAGE)
async def unfurl_status(request: Request) -> Reply:
    """Whether ticket links and `#numbers` unfurl into cards here."""
    if request.args.strip():
        raise BadArguments(f"`{request.args.strip()}` is not `allow` or `deny`.", USAGE)
    if not await shared_externally(request):
        return Reply.info(
            "Ticket links and `#numbers` unfurl into cards here (summary, status, company, "
            "board; never notes): only your organisation reads this channel."
        )
    if await allowed_by_owner(request):
        return Reply.info(
            "People of another organisation may read this channel, and an owner allowed ticket "
            "unfurls here. `{cmd} unfurl deny` turns them off."
        )
    return Reply.info(
        "Ticket unfurls are off here: people of another organisation may read this channel. "
        "An owner can allow them with `{cmd} unfurl allow`."
    )


async def _decide(request: Request, allowed: bool) -> Reply:
    async with request.services.store.unit() as uow:
        changed = await uow.unfurls.set(
            request.account.id, request.conversation.channel_id, allowed, request.user.id
        )
    shared = await shared_externally(request)
    if allowed:
        text = "Ticket unfurls are allowed in this channel" + (
            ", although people of another organisation may read it. Cards show summary, "
            "status, company and board; never notes."
            if shared
            else ". Only your organisation reads it, so they worked here anyway; the choice "
            "is kept in case the channel is shared later."
        )
    else:
        text = "Ticket unfurls are off in this channel" + (
            "."
            if shared
            else " once it is shared with another organisation; until then "
            "only your organisation reads it and cards still appear."
        )
    return Reply.success(text) if changed else Reply.info(text)


@router.command("unfurl allow", usage="unfurl allow", owner_only=True)
async def unfurl_allow(request: Request) -> Reply:
    """Allow ticket unfurls here though another organisation reads it (owners)."""
    return await _decide(request, True)


@router.command("unfurl deny", usage="unfurl deny", owner_only=True)
async def unfurl_deny(request: Request) -> Reply:
    """Stop ticket unfurls here when another organisation reads it (owners)."""
    return await _decide(request, False)
