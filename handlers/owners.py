"""owners: who may connect, edit and disconnect ConnectWise besides workspace admins."""

from __future__ import annotations

from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.invocation import Mention
from bot.core.reply import Card, Fact, Reply
from bot.core.router import Router
from handlers.common import when

router = Router("owners")


@router.command("owners", usage="owners")
async def owners(request: Request) -> Reply:
    """List the owners of this workspace's psabot."""
    async with request.services.store.unit() as uow:
        rows = await uow.owners.list(request.account.id)
    admins = "Workspace admins and owners are owners too."
    if not rows:
        return Reply.info(f"No owners recorded yet. {admins}")
    return Reply.info(
        admins,
        Card(
            title="Owners",
            facts=tuple(
                Fact(r.user_name or r.user_id, f"since {when(r.created_at)}") for r in rows
            ),
        ),
    )


def _target(args: str, usage: str) -> tuple[str, str]:
    mention = Mention.parse(args)
    if mention is None:
        raise BadArguments("Name the user.", usage)
    return mention.id, mention.name or mention.id


@router.command("owners add", usage="owners add @user", owner_only=True)
async def owners_add(request: Request) -> Reply:
    """Make another user an owner (owners)."""
    user_id, name = _target(request.args, "owners add @user")
    async with request.services.store.unit() as uow:
        added = await uow.owners.add(request.account.id, user_id, name, request.user.id)
    return (
        Reply.success(f"{name} is now an owner.")
        if added
        else Reply.info(f"{name} already is an owner.")
    )


@router.command("owners remove", usage="owners remove @user", owner_only=True)
async def owners_remove(request: Request) -> Reply:
    """Remove an owner (owners)."""
    user_id, name = _target(request.args, "owners remove @user")
    async with request.services.store.unit() as uow:
        if user_id != request.user.id or request.user.is_admin:
            removed = await uow.owners.remove(request.account.id, user_id)
        else:
            if await uow.owners.count(request.account.id) <= 1:
                return Reply.warning("You are the last owner; add another owner first.")
            removed = await uow.owners.remove(request.account.id, user_id)
    return (
        Reply.success(f"{name} is no longer an owner.")
        if removed
        else Reply.info(f"{name} was not an owner.")
    )
