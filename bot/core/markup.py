"""The neutral inline markup of Reply and card text: bold, code, link and the command prefix.

Handlers write text in one small syntax and each transport renders it (Slack mrkdwn, Adaptive
Card TextBlock markdown, plain text in the shell):

- `**bold**`                bold (a run on one line)
- `` `code` ``              inline code (a command, an identifier)
- `[label](https://…)`      a link (http, https or mailto targets only)
- `{cmd}`                   the transport's command prefix (the slash command in Slack and the
                            shell, the word `ticket` in Teams); `command("note …")` writes
                            `` `{cmd} note …` ``

Nothing else is markup, so text from ConnectWise or from users passes through as it is. A
renderer gives `render()` its own three converters and prefix; `spans()` is for renderers that
build structured output instead of strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

CMD = "{cmd}"

_TOKEN_RE = re.compile(
    r"\*\*(?P<bold>[^*\n]+?)\*\*"
    r"|`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\[\]\n]*)\]\((?P<url>(?:https?|mailto):[^()\s]+)\)"
)


def bold(text: str) -> str:
    return f"**{text}**"


def code(text: str) -> str:
    return f"`{text}`"


def link(url: str, label: str = "") -> str:
    """A link; the label loses brackets and newlines so it cannot end the link early."""
    safe = " ".join((label or url).replace("[", "(").replace("]", ")").split())
    return f"[{safe}]({url})"


def command(words: str = "") -> str:
    """A command as the user types it on this transport: `` `{cmd} words` ``."""
    return code(f"{CMD} {words}".rstrip())


@dataclass(frozen=True)
class Renderer:
    """One transport's way to show the markup. `text` converts plain runs (escaping, say);
    the others receive their content already passed through `text`."""

    prefix: str
    text: Callable[[str], str]
    bold: Callable[[str], str]
    code: Callable[[str], str]
    link: Callable[[str, str], str]  # (url, label)

    def __call__(self, source: str) -> str:
        return render(source, self)


def render(source: str, renderer: Renderer) -> str:
    source = source.replace(CMD, renderer.prefix)
    out: list[str] = []
    position = 0
    for match in _TOKEN_RE.finditer(source):
        out.append(renderer.text(source[position : match.start()]))
        if match.group("bold") is not None:
            out.append(renderer.bold(renderer.text(match.group("bold"))))
        elif match.group("code") is not None:
            out.append(renderer.code(renderer.text(match.group("code"))))
        else:
            label = match.group("label") or match.group("url")
            out.append(renderer.link(match.group("url"), renderer.text(label)))
        position = match.end()
    out.append(renderer.text(source[position:]))
    return "".join(out)
