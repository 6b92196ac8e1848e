"""home: what the Slack App Home tab shows a user (mapping, connection, their recent posts)."""

from __future__ import annotations

from bot.core.context import Request
from bot.core.reply import Card, Fact, Reply
from bot.core.router import Router
from handlers.common import when
from handlers.history import describe

router = Router("home")


@router.command("home", usage="home", hidden=True)
async def home(request: Request) -> Reply:
    """Your mapping, this workspace's connection and your recent posts."""
    async with request.services.store.unit() as uow:
        connection = await uow.connections.get(request.account.id)
        mapping = await uow.mappings.get(request.account.id, request.user.id)
        posts = await uow.ledger.recent(request.account.id, chat_user_id=request.user.id, limit=10)
    if connection is None:
        state = "Not connected. An owner can connect with `{cmd} connect`."
    elif connection.last_validation_error:
        state = (
            f"Connected to {connection.site}; the last test failed: "
            f"{connection.last_validation_error}"
        )
    else:
        state = (
            f"Connected to {connection.company_id} at {connection.site} "
            f"(tested {when(connection.last_validated_at)})."
        )
    you = (
        f"You post as {mapping.member_name} ({mapping.member_identifier})."
        if mapping
        else "You are not mapped to a ConnectWise member yet: run `{cmd} map me`."
    )
    cards = [
        Card(title="psabot", text=f"{state}\n{you}"),
        Card(
            title="Your recent posts",
            text="" if posts else "Nothing posted from chat yet.",
            facts=tuple(Fact(*describe(p)) for p in posts),
        ),
    ]
    return Reply.info("", *cards)
