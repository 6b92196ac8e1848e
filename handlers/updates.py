"""updates: ConnectWise changes flowing back into this conversation, and who may see what.

`updates` shows whether ConnectWise calls psabot for this workspace and whether internal notes
are shown here; owners mark a linked conversation `internal` (the default: the MSP's own
people) or `external` (customer-facing: internal notes are never posted there), and `rotate`
the callback address (a new secret URL is registered; the old one stops working at once).
"""

from __future__ import annotations

from bot.core.context import Request
from bot.core.errors import BadArguments
from bot.core.reply import Card, Fact, Reply
from bot.core.router import Router
from handlers.common import when

router = Router("updates")
USAGE = "updates [internal|external|rotate]"

OFF = (
    "Updates from ConnectWise are off: the operator sets PSABOT_PUBLIC_URL to the https "
    "address ConnectWise can reach, then an owner connects again or runs `{cmd} updates rotate`."
)


@router.command("updates", usage=USAGE)
async def updates(request: Request) -> Reply:
    """Status changes and notes made in ConnectWise, posted back into linked threads."""
    words = request.args.strip().lower()
    if words in ("internal", "external"):
        return await _audience(request, internal=words == "internal")
    if words == "rotate":
        return await _rotate(request)
    if words:
        raise BadArguments(f"`{words}` is not an updates option.", USAGE)
    return await _show(request)


async def _show(request: Request) -> Reply:
    twoway = request.services.twoway
    if twoway is None or not twoway.enabled:
        return Reply.info(OFF)
    await request.require_connection()
    link = await request.link()
    async with request.services.store.unit() as uow:
        endpoint = await uow.callbacks.endpoint(request.account.id)
    if endpoint is None:
        registered = "not registered yet (an owner runs `{cmd} updates rotate`)"
    elif endpoint.last_error:
        registered = f"failed: {endpoint.last_error}"
    else:
        registered = f"registered {when(endpoint.registered_at)} (all tickets, Owner level)"
    facts = [Fact("ConnectWise callback", registered)]
    if link is None:
        facts.append(Fact("This conversation", "not linked: link a ticket to get its updates"))
    else:
        audience = (
            "shown, unless the channel is shared with another organisation"
            if link.internal
            else "never shown (marked external)"
        )
        facts += [Fact("Linked ticket", f"#{link.ticket_id}"), Fact("Internal notes", audience)]
    return Reply.info("", Card(title="Updates from ConnectWise", facts=tuple(facts)))


async def _audience(request: Request, *, internal: bool) -> Reply:
    await request.require_owner("choose who sees internal notes here")
    link = await request.require_link()
    async with request.services.store.unit() as uow:
        await uow.links.set_internal(request.account.id, link.conversation_key, internal)
    request.refresh()
    if internal:
        return Reply.success(
            "Internal notes from ConnectWise will be posted here (never while the channel is "
            "shared with another organisation)."
        )
    return Reply.success(
        "Internal notes from ConnectWise will not be posted here; status changes and "
        "customer-visible notes still are."
    )


async def _rotate(request: Request) -> Reply:
    await request.require_owner("rotate the callback address")
    twoway = request.services.twoway
    if twoway is None or not twoway.enabled:
        return Reply.info(OFF)
    await request.require_connection()
    error = await twoway.connected(request.account.id)
    if error is not None:
        return Reply.error(
            f"A new callback address was made but ConnectWise did not take it: {error}"
        )
    return Reply.success("ConnectWise now calls a new secret address; the old one no longer works.")
