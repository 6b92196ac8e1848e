"""Reply → Block Kit: messages, modals (forms, progress, results) and the App Home view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.core.markup import Renderer
from bot.core.reply import (
    Button,
    ButtonStyle,
    Card,
    FieldKind,
    Form,
    FormField,
    Reply,
    Tone,
)

Block = dict[str, Any]
View = dict[str, Any]

ICON = {
    Tone.INFO: "",
    Tone.SUCCESS: ":white_check_mark: ",
    Tone.WARNING: ":warning: ",
    Tone.ERROR: ":x: ",
}
URL_ACTION = "open_url"
MAX_TEXT = 2900
MAX_FIELD = 1900
MAX_TITLE = 24


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(SLACK_PLAIN(text) or " ", limit), "emoji": True}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """Only the three characters Slack reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    safe = label.replace("|", "¦").replace(">", "›").replace("<", "‹")
    return f"<{url}|{safe}>"


def _safe_link(url: str, label: str) -> str:
    """A neutral link; `label` arrives escaped already."""
    if label == _escape(url):
        return f"<{_escape(url)}>"
    return _link(_escape(url), label.replace("&gt;", "›").replace("&lt;", "‹"))


SLACK = Renderer(
    prefix="/ticket",
    text=_escape,
    bold=lambda text: f"*{text}*",
    code=lambda text: f"`{text}`",
    link=_safe_link,
)


def _same(text: str) -> str:
    return text


# plain_text objects (labels, hints, titles) show no markup: links as "label (url)".
SLACK_PLAIN = Renderer(
    prefix=SLACK.prefix,
    text=_same,
    bold=_same,
    code=lambda text: f"`{text}`",
    link=lambda url, label: url if label == url else f"{label} ({url})",
)


# The message's top-level text (notifications, clients without blocks), as it always was:
# Slack markup, not escaped.
SLACK_FALLBACK = Renderer(
    prefix=SLACK.prefix,
    text=_same,
    bold=SLACK.bold,
    code=SLACK.code,
    link=lambda url, label: f"<{url}>" if label == url else _link(url, label),
)


def mrkdwn(text: str) -> str:
    """The core's neutral markup (bold, code, links, the command prefix) → Slack mrkdwn."""
    return SLACK(text)


def button_element(button: Button, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": _plain(button.label, 75)}
    if button.url:
        element["url"] = button.url
        element["action_id"] = f"{URL_ACTION}:{index}"
    else:
        # action ids must be unique within a block, so the index rides along after a colon
        element["action_id"] = f"{button.action_id}:{index}"
        element["value"] = button.value or "-"
    if button.style is ButtonStyle.PRIMARY:
        element["style"] = "primary"
    elif button.style is ButtonStyle.DANGER:
        element["style"] = "danger"
    return element


def action_of(action_id: str) -> str:
    """The handler's action id from a Slack action id (`link_ticket:3` → `link_ticket`)."""
    return action_id.rsplit(":", 1)[0] if ":" in action_id else action_id


def card_blocks(card: Card) -> list[Block]:
    title = _link(card.url, card.title) if card.url else mrkdwn(card.title)
    head = f"*{title}*"
    if card.subtitle:
        head += f"\n{mrkdwn(card.subtitle)}"
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(head, MAX_TEXT)}}
    ]
    if card.text:
        quoted = "\n".join(f">{mrkdwn(line)}" for line in card.text.splitlines()) or ">"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(quoted, MAX_TEXT)}}
        )
    facts = list(card.facts)
    for start in range(0, len(facts), 10):
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _cut(f"*{mrkdwn(f.label)}*\n{mrkdwn(f.value)}", MAX_FIELD),
                    }
                    for f in facts[start : start + 10]
                ],
            }
        )
    if card.buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [button_element(b, i) for i, b in enumerate(card.buttons[:25])],
            }
        )
    return blocks


def reply_blocks(reply: Reply) -> tuple[str, list[Block]]:
    """Fallback text and blocks for a message."""
    blocks: list[Block] = []
    text = ICON[reply.tone] + reply.text if reply.text else ""
    if text:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(mrkdwn(text), MAX_TEXT)}}
        )
    for card in reply.cards:
        if blocks:
            blocks.append({"type": "divider"})
        blocks.extend(card_blocks(card))
    fallback = text or (reply.cards[0].title if reply.cards else "psabot")
    return _cut(SLACK_FALLBACK(fallback), MAX_TEXT), blocks[:50]


# -- modals ---------------------------------------------------------------------------------


def _element(field: FormField) -> dict[str, Any]:
    if field.kind in (FieldKind.TEXT, FieldKind.SECRET, FieldKind.MULTILINE):
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": field.name}
        if field.kind is FieldKind.MULTILINE:
            element["multiline"] = True
        if field.initial and field.kind is not FieldKind.SECRET:
            element["initial_value"] = field.initial
        if field.placeholder:
            element["placeholder"] = _plain(field.placeholder)
        return element
    if field.kind is FieldKind.SELECT:
        options = [{"text": _plain(o.label, 75), "value": o.value} for o in field.options[:100]]
        element = {"type": "static_select", "action_id": field.name, "options": options}
        chosen = next((o for o in options if o["value"] == field.initial), None)
        if chosen is not None:
            element["initial_option"] = chosen
        return element
    element = {"type": "external_select", "action_id": field.name, "min_query_length": 0}
    if field.placeholder:
        element["placeholder"] = _plain(field.placeholder)
    return element


def form_view(form: Form, metadata: str) -> View:
    blocks: list[Block] = []
    if form.intro:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn(form.intro)}]}
        )
    if general := form.errors.get(""):
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: {mrkdwn(general)}"}}
        )
    for field in form.fields:
        block: Block = {
            "type": "input",
            "block_id": field.name,
            "label": _plain(field.label, 2000),
            "optional": not field.required,
            "element": _element(field),
        }
        error = form.errors.get(field.name)
        hint = f"⚠️ {error}" if error else field.hint
        if hint:
            block["hint"] = _plain(hint, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": form.form_id,
        "title": _plain(_cut(form.title, MAX_TITLE), MAX_TITLE),
        "submit": _plain(_cut(form.submit_label, MAX_TITLE), MAX_TITLE),
        "close": _plain("Cancel"),
        "private_metadata": metadata,
        "blocks": blocks,
    }


def progress_view(title: str, text: str) -> View:
    return {
        "type": "modal",
        "title": _plain(_cut(title, MAX_TITLE), MAX_TITLE),
        "close": _plain("Close"),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f":hourglass_flowing_sand: {mrkdwn(text)}"},
            }
        ],
    }


def result_view(title: str, reply: Reply) -> View:
    """The outcome inside the modal; only link buttons (actions belong to messages)."""
    cards = tuple(
        replace(card, buttons=tuple(b for b in card.buttons if b.url)) for card in reply.cards
    )
    _, blocks = reply_blocks(replace(reply, cards=cards, form=None))
    return {
        "type": "modal",
        "title": _plain(_cut(title, MAX_TITLE), MAX_TITLE),
        "close": _plain("Done"),
        "blocks": blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": "Done."}}],
    }


def home_view(reply: Reply) -> View:
    _, blocks = reply_blocks(reply)
    return {
        "type": "home",
        "blocks": blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": "psabot"}}],
    }


def submitted_values(view: Mapping[str, Any]) -> dict[str, str]:
    """Field values of a submitted modal (block id = field name)."""
    values: dict[str, str] = {}
    state = view.get("state", {}).get("values", {})
    for block_id, actions in state.items():
        for element in actions.values():
            kind = element.get("type")
            if kind in ("static_select", "external_select"):
                option = element.get("selected_option") or {}
                values[block_id] = str(option.get("value") or "")
            else:
                values[block_id] = str(element.get("value") or "")
    return values


def options_payload(options: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"text": _plain(label, 75), "value": value[:150]} for label, value in options[:100]]
