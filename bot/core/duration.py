"""Durations as engineers type them for time entries: `45m`, `90m`, `1h30m`, `1.5h`, `2h`.

One token of ASCII digits, hours and/or minutes, case-insensitive; `1,5h` is read as `1.5h`.
The result is whole minutes (a decimal hour is rounded to the nearest minute). A bare number
is refused (minutes or hours?), and so is anything over a day: ConnectWise time entries are
per day, and 30h typed for 30m must never be billed.
"""

from __future__ import annotations

import re

MAX_MINUTES = 24 * 60
_DURATION_RE = re.compile(
    r"^(?:(?P<hours>\d{1,3}(?:[.,]\d{1,2})?)h)?(?:(?P<minutes>\d{1,4})m)?$",
    re.IGNORECASE | re.ASCII,  # ASCII: `٤٥m` or a full-width `４５m` is not quietly billed
)


class BadDuration(ValueError):
    """Not a duration psabot accepts; the message says why, in one sentence."""


class TooLong(BadDuration):
    """A duration over `MAX_MINUTES`."""


def parse_duration(token: str) -> int:
    """Minutes in `token`; `BadDuration` (or `TooLong`) with the reason otherwise."""
    text = token.strip()
    match = _DURATION_RE.match(text)
    if not text or match is None or not (match["hours"] or match["minutes"]):
        raise BadDuration(f"`{text}` is not a duration; write it like 45m, 1h30m or 1.5h.")
    hours_text = (match["hours"] or "0").replace(",", ".")
    if match["minutes"] and "." in hours_text:
        raise BadDuration(f"`{text}` mixes decimal hours and minutes; write 1h30m or 1.5h.")
    minutes = round(float(hours_text) * 60) + int(match["minutes"] or 0)
    if minutes < 1:
        raise BadDuration("A time entry needs at least one minute.")
    if minutes > MAX_MINUTES:
        raise TooLong(
            f"{format_minutes(minutes)} is more than a day; log at most 24h per time entry."
        )
    return minutes


def format_minutes(minutes: int) -> str:
    """`45m`, `1h`, `1h 30m`: how a duration is shown back."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h {rest}m" if rest else f"{hours}h"
