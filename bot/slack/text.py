"""Slack's escaped message markup → the neutral text handlers read.

Slack sends `<@U123|jane>` for users (they become the core's typed `Mention`), `<#C123|general>`
for channels, `<!here>` for broadcasts, `<https://x|label>` for links, and escapes `& < >` as
HTML entities. Everything but user mentions becomes plain text again.
"""

from __future__ import annotations

import re

from bot.core.invocation import Mention

_MARKUP_RE = re.compile(r"<([^<>]+)>")


def _plain(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return Mention(target[1:], label.strip()).token
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        if target.startswith("!subteam^"):
            return label or "@team"
        if target.startswith("!date"):
            return label or target
        return "@" + target[1:]
    url = target
    if url.startswith("mailto:"):
        return label or url.removeprefix("mailto:")
    return url if not label or label == url else f"{label} ({url})"


def from_slack(text: str) -> str:
    converted = _MARKUP_RE.sub(lambda m: _plain(m.group(1)), text)
    return converted.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
