"""What every transport needs to unfurl tickets, without knowing how a card is made.

A transport that sees a link (Slack `link_shared`, Teams `composeExtension/queryLink`) or a
`#12345` mention in a message asks the dispatcher `preview_command(target)`; the handler
(handlers/unfurl.py) decides everything else: whether the link is the connection's own site
and company, whether the channel may show ticket cards (not shared with another organisation,
or allowed there by an owner), and what the card shows (never notes). An answer without a
card means "show nothing", and the transport stays silent.

`MentionBudget` keeps the replies to mentions bounded: one card per ticket per channel per
window (Slack redelivers events it thinks were lost, people repeat themselves), and at most
`per_window` cards per channel per window, so a pasted list of numbers cannot flood a channel.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from cachetools import LRUCache, TTLCache

from bot.core.invocation import Command

PREVIEW = "unfurl card"  # the hidden command behind every unfurl
MAX_MENTIONS = 3  # `#numbers` answered per message
MENTION_WINDOW = 600.0  # seconds
MENTIONS_PER_WINDOW = 10  # cards per channel per window
MAX_CHANNELS = 10_000  # channels whose budget is remembered

# `#48213`, not `<#C123|general>` (a Slack channel), not `x#12` or `&#12345;` (an entity),
# not inside a URL's fragment (`/page#12345`): 3 to 10 digits after a lone `#`.
_MENTION_RE = re.compile(r"(?<![\w&/#<])#(\d{3,10})(?![\w;])")


def preview_command(target: str) -> Command:
    """The command whose answer is the card for `target` (a URL or `#number`)."""
    return Command(f"{PREVIEW} {target.strip()}")


def ticket_mentions(text: str, limit: int = MAX_MENTIONS) -> list[str]:
    """The distinct `#number` mentions of a message, first ones first, at most `limit`."""
    found: list[str] = []
    for match in _MENTION_RE.finditer(text[:40_000]):
        token = "#" + str(int(match.group(1)))
        if token not in found:
            found.append(token)
            if len(found) == limit:
                break
    return found


class MentionBudget:
    """Whether a mention may get its card now (see the module docstring)."""

    def __init__(
        self,
        *,
        window: float = MENTION_WINDOW,
        per_window: int = MENTIONS_PER_WINDOW,
        max_channels: int = MAX_CHANNELS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.per_window = per_window
        self.clock = clock
        self._answered: TTLCache[tuple[str, str, str], bool] = TTLCache(
            max_channels * per_window, window, timer=clock
        )
        # channel → (when its window started, cards in it); the oldest channels are forgotten
        self._windows: LRUCache[tuple[str, str], tuple[float, int]] = LRUCache(max_channels)

    def take(self, account: str, channel: str, ticket: str) -> bool:
        """True (and counted) when this ticket may be answered in this channel now."""
        if (account, channel, ticket) in self._answered:
            return False
        now = self.clock()
        started, used = self._windows.get((account, channel), (now, 0))
        if now - started >= self.window:
            started, used = now, 0
        if used >= self.per_window:
            return False
        self._windows[(account, channel)] = (started, used + 1)
        self._answered[(account, channel, ticket)] = True
        return True
