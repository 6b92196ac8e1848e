"""Command handlers, one module per command family; `root_router()` composes them."""

from __future__ import annotations

from bot.core.router import Router


def root_router() -> Router:
    from handlers import (
        connect,
        help,
        history,
        home,
        link,
        mapping,
        new_ticket,
        note,
        owners,
        search,
        status,
        time,
        unfurl,
        updates,
    )

    root = Router("root")
    root.include(
        link.router,
        note.router,
        status.router,
        search.router,
        mapping.router,
        history.router,
        connect.router,
        owners.router,
        home.router,
        updates.router,
        unfurl.router,
        # after the rest: Teams' command menu keeps the first twelve (bot/teams_package)
        time.router,
        new_ticket.router,
    )
    root.include(help.build(root))  # help lists every command above, and itself
    return root
