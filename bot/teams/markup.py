"""Text between Teams and the core: the neutral reply markup → TextBlock markdown, HTML → text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.core.markup import Renderer

PREFIX = "ticket"  # works in a personal chat as typed; in a channel after the bot's mention
_EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":warning:": "⚠️",
    ":link:": "🔗",
    ":heavy_multiplication_x:": "✖️",
    ":hourglass_flowing_sand:": "⏳",
}


def _glyphs(text: str) -> str:
    for name, glyph in _EMOJI.items():
        text = text.replace(name, glyph)
    return text


def _same(text: str) -> str:
    return text


# TextBlock markdown has bold and links but no inline code, so code keeps its text in quotes.
MARKDOWN = Renderer(
    prefix=PREFIX,
    text=_glyphs,
    bold=lambda text: f"**{text}**",
    code=lambda text: f"‘{text}’",
    link=lambda url, label: url if label == url else f"[{label.replace(']', ')')}]({url})",
)
PLAIN = Renderer(
    prefix=PREFIX,
    text=_glyphs,
    bold=_same,
    code=_same,
    link=lambda url, label: url if label == url else f"{label} ({url})",
)


def to_markdown(text: str) -> str:
    """Reply markup → Adaptive Card TextBlock markdown; quoted lines (`> …`) keep their
    marker, which Teams shows as is."""
    # TextBlock needs a blank line or "\n\n" to break; single newlines would be joined.
    return MARKDOWN(text).replace("\n", "\n\n")


def to_plain(text: str) -> str:
    """The same reply markup as plain text (notification previews, the fallback text)."""
    return PLAIN(text)


class _Text(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "img":
            alt = dict(attrs).get("alt") or "image"
            self.parts.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS and tag != "br" and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """A Teams message body (HTML) as the text a person reads: tags dropped, blocks on lines."""
    parser = _Text()
    parser.feed(content)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    collapsed = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return collapsed.strip()
