"""Ticket link unfurls on Teams: the message extension's `composeExtension/queryLink`.

When someone pastes a link of a domain the app package registers (`messageHandlers`, see
bot/teams_package/manifest.py) into the compose box, Teams invokes the bot with the URL and
shows the card it answers under the link. The link becomes the core's preview command
(bot/core/unfurl.py), so the same rules as everywhere hold: own site and company only, no card
in a conversation shared with another organisation unless an owner allowed it there (the
sharing probe has just seen this very invoke), never notes. No card, a slow ConnectWise
(Teams gives the invoke 5 s) or a failure all answer an empty result: Teams then shows the
plain link.
"""

from __future__ import annotations

import asyncio
import logging

from bot.core.dispatch import Dispatcher
from bot.core.invocation import Invocation, Platform
from bot.core.reply import Reply
from bot.core.unfurl import preview_command
from bot.teams import cards
from bot.teams.inbound import Json, envelope

log = logging.getLogger(__name__)

BUDGET = 3.0  # seconds; Teams waits about 5 s for a queryLink answer
MAX_URL = 2048
NO_CARD: Json = {
    "composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": []}
}


async def query_link(dispatcher: Dispatcher, activity: Json, value: Json) -> Json:
    env = envelope(activity)
    url = value.get("url")
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL:
        return NO_CARD
    invocation = Invocation(
        platform=Platform.TEAMS,
        account_external_id=env.tenant_id,
        user=env.user,
        conversation=env.conversation,
        action=preview_command(url),
        idempotency_key=f"{env.key}:link",
    )
    try:
        reply = await asyncio.wait_for(dispatcher.handle(invocation), timeout=BUDGET)
    except TimeoutError:
        log.info("queryLink answered without a card: ConnectWise too slow")
        return NO_CARD
    if not reply.cards:
        return NO_CARD
    return cards.search_results(Reply(cards=reply.cards[:1]))
