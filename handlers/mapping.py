"""map me / map @user / mappings: which ConnectWise member a chat user posts as."""

from __future__ import annotations

from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.invocation import Mention
from bot.core.reply import Card, Fact, Reply
from bot.core.router import Router
from psa.errors import NotFound
from psa.types import Member

router = Router("mapping")

ME_USAGE = "map me [<member identifier>]"
USER_USAGE = "map @user <member identifier>"


def _usable(member: Member) -> str | None:
    """Why this member can't be posted as, or None."""
    if member.inactive:
        return f"{member.identifier} is inactive in ConnectWise."
    if member.api_member:
        return f"{member.identifier} is an API member; notes must be posted as a person."
    return None


async def _save(request: Request, user_id: str, user_name: str, member: Member) -> None:
    async with request.services.store.unit() as uow:
        await uow.mappings.set(
            request.account.id,
            user_id,
            chat_user_name=user_name,
            member_id=member.id,
            member_identifier=member.identifier,
            member_name=member.name,
            member_email=member.email,
            mapped_by=request.user.id,
        )
    request.refresh()


def _mapped(who: str, member: Member) -> Reply:
    return Reply.success(
        f"{who} now post{'s' if who != 'You' else ''} to ConnectWise as "
        f"{member.name} ({member.identifier}).",
        Card(
            title=f"{member.name} ({member.identifier})",
            facts=(Fact("Email", member.email or "—"), Fact("Member id", str(member.id))),
        ),
    )


@router.command("map me", usage=ME_USAGE)
async def map_me(request: Request) -> Reply:
    """Map yourself to your ConnectWise member (matched by your email)."""
    provider = await request.provider()
    email = (request.user.email or "").strip()
    identifier = request.args.strip()
    if identifier:
        try:
            member = await provider.get_member(identifier)
        except NotFound:
            return Reply.warning(f"ConnectWise has no member `{identifier}`.")
        if not email or not member.has_email(email):
            return Reply.warning(
                f"`{member.identifier}`'s email in ConnectWise is not yours"
                f"{f' ({email})' if email else ''}, so I can't map you to it: nobody may post "
                "as someone else. Ask an owner to map you with `{cmd} map @you <identifier>`."
            )
    else:
        if not email:
            return Reply.warning(
                "I can't see your email address, so I can't find your ConnectWise member. "
                "Ask an owner to map you with `{cmd} map @you <identifier>`."
            )
        candidates = await provider.find_members_by_email(email)
        if not candidates:
            return Reply.warning(
                f"No active ConnectWise member has the email {email}. Check your member's "
                "email in ConnectWise, or ask an owner to map you."
            )
        if len(candidates) > 1:
            names = ", ".join(f"`{m.identifier}`" for m in candidates)
            return Reply.info(
                f"Several members have the email {email}: {names}. "
                f"Pick yours with `{{cmd}} map me <identifier>`."
            )
        member = candidates[0]
    if (problem := _usable(member)) is not None:
        return Reply.warning(problem)
    await _save(request, request.user.id, request.user.display, member)
    return _mapped("You", member)


@router.command("map", usage=USER_USAGE, owner_only=True)
async def map_user(request: Request) -> Reply:
    """Map another chat user to a ConnectWise member (owners)."""
    parts = request.args.split()
    mention = Mention.parse(parts[0]) if len(parts) == 2 else None
    if mention is None:
        raise BadArguments("Name the user and the member.", USER_USAGE)
    user_id, user_name = mention.id, mention.name
    provider = await request.provider()
    try:
        member = await provider.get_member(parts[1])
    except NotFound:
        return Reply.warning(f"ConnectWise has no member `{parts[1]}`.")
    if (problem := _usable(member)) is not None:
        return Reply.warning(problem)
    await _save(request, user_id, user_name or user_id, member)
    return _mapped(user_name or user_id, member)


@router.command("unmap", usage="unmap me | unmap @user")
async def unmap(request: Request) -> Reply:
    """Remove a mapping (yours, or anyone's for owners)."""
    target = request.args.strip()
    if target.lower() in ("", "me"):
        user_id = request.user.id
    else:
        mention = Mention.parse(target)
        if mention is None:
            raise BadArguments("Say `me` or name the user.", "unmap me | unmap @user")
        user_id = mention.id
        if user_id != request.user.id:
            await request.require_owner("unmap other people")
    async with request.services.store.unit() as uow:
        removed = await uow.mappings.delete(request.account.id, user_id)
    return Reply.success("Mapping removed.") if removed else Reply.info("There was no mapping.")


@router.command("mappings", usage="mappings", owner_only=True)
async def mappings(request: Request) -> Reply:
    """List who posts as which ConnectWise member (owners)."""
    async with request.services.store.unit() as uow:
        rows = await uow.mappings.list(request.account.id)
    if not rows:
        return Reply.info("Nobody is mapped yet. Each engineer can run `{cmd} map me`.")
    return Reply.info(
        f"{len(rows)} mapping(s):",
        Card(
            title="Member mappings",
            facts=tuple(
                Fact(r.chat_user_name or r.chat_user_id, f"{r.member_name} ({r.member_identifier})")
                for r in rows
            ),
        ),
    )
