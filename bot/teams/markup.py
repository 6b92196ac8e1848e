"""Text between Teams and the core: Slack-style reply markup → TextBlock markdown, HTML → text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_LINK_RE = re.compile(r"<(https?://[^|<>\s]+)\|([^<>]*)>")
_BARE_LINK_RE = re.compile(r"<(https?://[^|<>\s]+)>")
_BOLD_RE = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_CODE_RE = re.compile(r"`([^`\n]+)`")
_EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":warning:": "⚠️",
    ":link:": "🔗",
    ":heavy_multiplication_x:": "✖️",
    ":hourglass_flowing_sand:": "⏳",
}


def to_markdown(text: str) -> str:
    """Reply markup (`*bold*`, backticks, `<url|label>`) → Adaptive Card TextBlock markdown.

    TextBlock markdown has bold and links but no inline code, so code keeps its text in
    quotes; quoted lines (`> …`) keep their marker, which Teams shows as is."""
    for name, glyph in _EMOJI.items():
        text = text.replace(name, glyph)
    text = _CODE_RE.sub(lambda m: f"‘{m.group(1)}’", text)
    text = _LINK_RE.sub(lambda m: f"[{m.group(2).replace(']', ')')}]({m.group(1)})", text)
    text = _BARE_LINK_RE.sub(lambda m: m.group(1), text)
    text = _BOLD_RE.sub(lambda m: f"**{m.group(1)}**", text)
    # TextBlock needs a blank line or "\n\n" to break; single newlines would be joined.
    return text.replace("\n", "\n\n")


def to_plain(text: str) -> str:
    """The same reply markup as plain text (notification previews, the fallback text)."""
    for name, glyph in _EMOJI.items():
        text = text.replace(name, glyph)
    text = _LINK_RE.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE_LINK_RE.sub(lambda m: m.group(1), text)
    text = _BOLD_RE.sub(lambda m: m.group(1), text)
    return _CODE_RE.sub(lambda m: m.group(1), text)


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
