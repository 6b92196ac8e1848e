"""search: find tickets by words, company, board and open/closed."""

from __future__ import annotations

import shlex

from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.reply import Button, ButtonStyle, Card, Reply
from bot.core.router import Router
from handlers.common import ticket_title
from psa.types import SearchQuery, TicketState

router = Router("search")

USAGE = "search <words> [company:X] [board:Y] [status:open|closed|any]"
MAX_RESULTS = 10


def parse_search(args: str) -> SearchQuery:
    try:
        tokens = shlex.split(args)
    except ValueError:  # an unbalanced quote: search the words as typed
        tokens = args.split()
    words: list[str] = []
    company = board = ""
    state = TicketState.OPEN
    for token in tokens:
        key, sep, value = token.partition(":")
        key = key.lower()
        if sep and key == "company":
            company = value
        elif sep and key == "board":
            board = value
        elif sep and key in ("status", "state"):
            try:
                state = TicketState(value.lower())
            except ValueError as exc:
                raise BadArguments(f"`status:{value}` must be open, closed or any.", USAGE) from exc
        else:
            words.append(token)
    if not (words or company or board):
        raise BadArguments("Say what to search for.", USAGE)
    return SearchQuery(
        text=" ".join(words), company=company, board=board, state=state, limit=MAX_RESULTS
    )


@router.command("search", usage=USAGE)
async def search(request: Request) -> Reply:
    """Search tickets; each result has a Link button."""
    query = parse_search(request.args)
    provider = await request.provider()
    tickets = await provider.search_tickets(query)
    if not tickets:
        return Reply.info(
            f"No {query.state.value if query.state is not TicketState.ANY else ''} tickets match"
            f" `{request.args.strip()}`. Try fewer words or `status:any`.".replace("  ", " ")
        )
    cards = []
    for ticket in tickets:
        url = provider.ticket_url(ticket.id)
        details = " · ".join(
            part
            for part in (
                ticket.company.name if ticket.company else "",
                ticket.board.name if ticket.board else "",
                ticket.status.name if ticket.status else "",
            )
            if part
        )
        cards.append(
            Card(
                title=ticket_title(ticket.id, ticket.summary),
                subtitle=details,
                url=url,
                buttons=(
                    Button(
                        "Link",
                        action_id="link_ticket",
                        value=str(ticket.id),
                        style=ButtonStyle.PRIMARY,
                    ),
                    Button("Open in ConnectWise", url=url),
                ),
            )
        )
    more = " (showing the newest 10)" if len(tickets) >= MAX_RESULTS else ""
    return Reply.info(f"{len(tickets)} ticket(s) found{more}:", *cards)
