"""Small helpers shared by handlers: ticket ids, ticket cards, time formatting."""

from __future__ import annotations

import re
from datetime import datetime

from bot.core.errors import BadArguments
from bot.core.reply import Button, Card, Fact
from psa.types import Ticket

_TICKET_ID_RE = re.compile(r"^#?(\d{1,10})$")


def parse_ticket_id(text: str, usage: str) -> int:
    token = text.strip()
    match = _TICKET_ID_RE.match(token)
    if not match:
        problem = "Give a ticket number." if not token else f"`{token}` is not a ticket number."
        raise BadArguments(problem, usage)
    return int(match.group(1))


def ticket_title(ticket_id: int, summary: str) -> str:
    return f"#{ticket_id} {summary}".strip()


def company_label(ticket: Ticket) -> str:
    return (ticket.company.name or ticket.company.identifier) if ticket.company else "—"


def status_label(ticket: Ticket) -> str:
    return (ticket.status.name if ticket.status else "—") + (" (closed)" if ticket.closed else "")


def board_label(ticket: Ticket) -> str:
    return ticket.board.name if ticket.board else "—"


def ticket_card(
    ticket: Ticket, url: str, *, extra_buttons: tuple[Button, ...] = (), subtitle: str = ""
) -> Card:
    facts = [
        Fact("Company", company_label(ticket)),
        Fact("Board", board_label(ticket)),
        Fact("Status", status_label(ticket)),
        Fact("Priority", ticket.priority.name if ticket.priority else "—"),
        Fact("Owner", (ticket.owner.name or ticket.owner.identifier) if ticket.owner else "—"),
    ]
    return Card(
        title=ticket_title(ticket.id, ticket.summary),
        subtitle=subtitle,
        facts=tuple(facts),
        buttons=(*extra_buttons, Button("Open in ConnectWise", url=url)),
        url=url,
    )


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"
