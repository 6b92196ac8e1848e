"""Reply → plain text for the terminal (cards as indented blocks, buttons numbered)."""

from __future__ import annotations

from bot.core.reply import Button, Card, Reply, Tone, Visibility

ICON = {Tone.INFO: "", Tone.SUCCESS: "✅ ", Tone.WARNING: "⚠️  ", Tone.ERROR: "❌ "}


def render_card(card: Card, buttons: list[Button]) -> list[str]:
    lines = [f"┌ {card.title}" + (f"  <{card.url}>" if card.url else "")]
    if card.subtitle:
        lines.append(f"│ {card.subtitle}")
    for line in card.text.splitlines() if card.text else []:
        lines.append(f"│ {line}")
    width = max((len(f.label) for f in card.facts), default=0)
    for fact in card.facts:
        lines.append(f"│ {fact.label.ljust(width)}  {fact.value}")
    labels = []
    for button in card.buttons:
        if button.url:
            labels.append(f"{button.label} → {button.url}")
        else:
            buttons.append(button)
            labels.append(f"[{len(buttons)}] {button.label}")
    if labels:
        lines.append("└ " + "   ".join(labels))
    else:
        lines.append("└")
    return lines


def render(reply: Reply, buttons: list[Button]) -> list[str]:
    """Text lines for a reply; action buttons are appended to `buttons` (numbered from 1)."""
    lines: list[str] = []
    if reply.text:
        prefix = ICON[reply.tone]
        if reply.visibility is Visibility.CHANNEL:
            prefix = "(to the channel) " + prefix
        text_lines = reply.text.splitlines()
        lines.append(prefix + text_lines[0])
        lines.extend(text_lines[1:])
    for card in reply.cards:
        lines.extend(render_card(card, buttons))
    if buttons:
        lines.append("(press a button with /press <number>)")
    return lines
