"""Reply → plain text for the terminal: no chat markup, one URL per card, wrapped to the width."""

from __future__ import annotations

import shutil
import textwrap

from bot.core.invocation import humanize_mentions
from bot.core.markup import Renderer
from bot.core.reply import Button, Card, Reply, Tone, Visibility

ICON = {Tone.INFO: "", Tone.SUCCESS: "✅ ", Tone.WARNING: "⚠️  ", Tone.ERROR: "❌ "}
MIN_WIDTH = 40
LABEL_COLUMN = 24  # longer fact labels get a line of their own


def _same(text: str) -> str:
    return text


# Code keeps its backticks: in a terminal they show where a command starts and ends.
PLAIN = Renderer(
    prefix="/ticket",
    text=humanize_mentions,
    bold=_same,
    code=lambda text: f"`{text}`",
    link=lambda url, label: url if label == url else f"{label} ({url})",
)


def terminal_width() -> int:
    """The terminal's columns (COLUMNS wins, as in every shell tool), never below MIN_WIDTH."""
    return max(MIN_WIDTH, shutil.get_terminal_size((80, 24)).columns)


def plain(text: str) -> str:
    """The core's neutral markup → what a terminal shows: links as text, no bold marks."""
    return PLAIN(text)


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """Word-wrapped lines (a long URL stays whole rather than being cut mid-word)."""
    rest = first if rest is None else rest
    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lead = paragraph[: len(paragraph) - len(paragraph.lstrip())]  # keep an indented list
        lines = textwrap.wrap(
            paragraph.lstrip(),
            width=width,
            initial_indent=(first if not out else rest) + lead,
            subsequent_indent=rest + lead,
            break_long_words=False,
            break_on_hyphens=False,
        )
        out.extend(lines or [(first if not out else rest).rstrip()])
    return out


def render_card(card: Card, buttons: list[Button], width: int = 80) -> list[str]:
    links = [b for b in card.buttons if b.url]
    lines = wrap(plain(card.title), width, "┌ ", "│ ")
    if card.subtitle:
        lines += wrap(plain(card.subtitle), width, "│ ")
    if card.text:
        lines += wrap(plain(card.text), width, "│ ")
    shown = list(card.facts)
    column = min(max((len(plain(f.label)) for f in shown), default=0), LABEL_COLUMN)
    for fact in shown:
        value, label = plain(fact.value), plain(fact.label)
        if len(label) <= column:
            lead = f"│ {label.ljust(column)}  "
            lines += wrap(value, width, lead, "│ " + " " * (column + 2))
        else:
            lines += wrap(label, width, "│ ")
            lines += wrap(value, width, "│     ")
    # The card's URL is printed once: on its link button when it has one, else on its own.
    if card.url and not any(b.url == card.url for b in links):
        lines.append(f"│ {card.url}")
    labels = []
    for button in card.buttons:
        if button.url:
            continue
        buttons.append(button)
        labels.append(f"[{len(buttons)}] {plain(button.label)}")
    for link in links:
        lines.append(f"│ {plain(link.label)}: {link.url}")
    lines += wrap("   ".join(labels), width, "└ ", "  ") if labels else ["└"]
    return lines


def render(reply: Reply, buttons: list[Button], width: int | None = None) -> list[str]:
    """Text lines for a reply; action buttons are appended to `buttons` (numbered from 1)."""
    width = width or terminal_width()
    lines: list[str] = []
    if reply.text:
        prefix = ICON[reply.tone]
        if reply.visibility is Visibility.CHANNEL:
            prefix = "(to the channel) " + prefix
        lines += wrap(prefix + plain(reply.text), width)
    for card in reply.cards:
        lines.extend(render_card(card, buttons, width))
    if buttons:
        lines.append("(press a button with /press <number>)")
    return lines
