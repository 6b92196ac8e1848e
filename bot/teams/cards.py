"""Reply → Adaptive Cards 1.5 (messages, dialogs, search results) with a plain-text fallback.

Buttons that run an action are `Action.Execute` (Teams answers them with an
`adaptiveCard/action` invoke); buttons whose handler opens a form are `Action.Submit` with
`msteams.type = task/fetch`, so Teams opens the dialog; link buttons are `Action.OpenUrl`.
Every psabot action carries `psabot` in its data, which is how a submitted card is told apart
from anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.reply import Button, ButtonStyle, Card, FieldKind, Form, Option, Reply, Tone
from bot.teams.markup import to_markdown, to_plain

Json = dict[str, Any]

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
THUMBNAIL_TYPE = "application/vnd.microsoft.card.thumbnail"
VERSION = "1.5"
# Handlers whose button opens a form: these open a dialog instead of running in place.
FORM_BUTTONS = frozenset({"note_open", "status_open", "connection_edit"})
TONE_COLOR = {
    Tone.INFO: "Default",
    Tone.SUCCESS: "Good",
    Tone.WARNING: "Warning",
    Tone.ERROR: "Attention",
}
TONE_ICON = {Tone.INFO: "", Tone.SUCCESS: "✅ ", Tone.WARNING: "⚠️ ", Tone.ERROR: "❌ "}
MAX_TEXT = 4000
MAX_ACTIONS = 6
FORM_KEY = "psabot_form"
META_KEY = "psabot_meta"


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _block(text: str, **extra: Any) -> Json:
    return {"type": "TextBlock", "text": _cut(to_markdown(text)), "wrap": True, **extra}


def adaptive(body: list[Json], actions: list[Json] | None = None) -> Json:
    card: Json = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": VERSION,
        "body": body or [_block("Done.")],
    }
    if actions:
        card["actions"] = actions
    return card


def attachment(card: Json) -> Json:
    return {"contentType": CARD_TYPE, "content": card}


def button_action(button: Button) -> Json:
    if button.url:
        return {"type": "Action.OpenUrl", "title": button.label, "url": button.url}
    data: Json = {"psabot": "button", "action_id": button.action_id, "value": button.value}
    style = {ButtonStyle.PRIMARY: "positive", ButtonStyle.DANGER: "destructive"}.get(button.style)
    action: Json
    if button.action_id in FORM_BUTTONS:
        action = {
            "type": "Action.Submit",
            "title": button.label,
            "data": {"msteams": {"type": "task/fetch"}, **data},
        }
    else:
        action = {
            "type": "Action.Execute",
            "title": button.label,
            "verb": button.action_id,
            "data": data,
        }
    if style:
        action["style"] = style
    return action


def card_elements(card: Card, *, buttons: bool = True) -> list[Json]:
    title = f"[{card.title}]({card.url})" if card.url else card.title
    items: list[Json] = [
        {
            "type": "TextBlock",
            "text": _cut(title.replace("*", "\\*"), 500),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        }
    ]
    if card.subtitle:
        items.append(_block(card.subtitle, isSubtle=True, spacing="None"))
    if card.text:
        items.append(_block(card.text))
    if card.facts:
        items.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": _cut(to_plain(f.label), 200), "value": _cut(to_plain(f.value), 1000)}
                    for f in card.facts
                ],
            }
        )
    shown = [b for b in card.buttons if buttons or b.url]
    if shown:
        items.append(
            {"type": "ActionSet", "actions": [button_action(b) for b in shown[:MAX_ACTIONS]]}
        )
    return [{"type": "Container", "items": items, "separator": True, "spacing": "Medium"}]


def reply_card(reply: Reply, *, buttons: bool = True) -> Json:
    """One Adaptive Card for a reply: the text (coloured by tone), then each card."""
    body: list[Json] = []
    if reply.text:
        body.append(_block(TONE_ICON[reply.tone] + reply.text, color=TONE_COLOR[reply.tone]))
    for card in reply.cards:
        body.extend(card_elements(card, buttons=buttons))
    if reply.form is not None:
        body.extend(form_opener(reply.form))
    return adaptive(body)


def fallback_text(reply: Reply) -> str:
    """What notifications and clients without cards show."""
    if reply.text:
        return _cut(to_plain(TONE_ICON[reply.tone] + reply.text), 1000)
    if reply.cards:
        return _cut(to_plain(reply.cards[0].title), 1000)
    if reply.form is not None:
        return reply.form.title
    return "psabot"


def message_activity(reply: Reply) -> Json:
    """A message activity body carrying the reply card and its text fallback."""
    return {
        "type": "message",
        "text": fallback_text(reply),
        "textFormat": "plain",
        "attachments": [attachment(reply_card(reply))],
    }


# -- forms as dialogs ------------------------------------------------------------------------


def form_opener(form: Form) -> list[Json]:
    """In a message, a form is a button that opens it as a dialog."""
    data = {"msteams": {"type": "task/fetch"}, "psabot": "open", FORM_KEY: form.form_id}
    items: list[Json] = [_block(f"**{form.title}**")]
    if form.intro:
        items.append(_block(form.intro, isSubtle=True))
    items.append(
        {
            "type": "ActionSet",
            "actions": [{"type": "Action.Submit", "title": f"Open: {form.title}", "data": data}],
        }
    )
    return [{"type": "Container", "items": items, "separator": True}]


def _choices(options: tuple[Option, ...]) -> list[Json]:
    return [{"title": _cut(o.label, 200), "value": o.value} for o in options[:100]]


def form_card(form: Form, options: Mapping[str, tuple[Option, ...]] | None = None) -> Json:
    """The dialog's card: one input per field, errors under their field, Submit carries
    the form id and its metadata back."""
    options = options or {}
    body: list[Json] = []
    if form.intro:
        body.append(_block(form.intro, isSubtle=True))
    if general := form.errors.get(""):
        body.append(_block(f"⚠️ {general}", color="Attention"))
    for field in form.fields:
        element: Json = {"id": field.name, "label": field.label, "isRequired": field.required}
        if field.kind in (FieldKind.TEXT, FieldKind.SECRET, FieldKind.MULTILINE):
            element["type"] = "Input.Text"
            if field.kind is FieldKind.SECRET:
                element["style"] = "Password"
            elif field.initial:
                element["value"] = field.initial
            if field.kind is FieldKind.MULTILINE:
                element["isMultiline"] = True
            if field.placeholder:
                element["placeholder"] = field.placeholder
        else:
            element["type"] = "Input.ChoiceSet"
            element["style"] = "compact"
            choices = (
                field.options if field.kind is FieldKind.SELECT else options.get(field.name, ())
            )
            element["choices"] = _choices(choices)
            if field.kind is FieldKind.SEARCH:
                # Teams asks for more as the user types (an application/search invoke)
                element["choices.data"] = {"type": "Data.Query", "dataset": field.source}
                element["style"] = "filtered"
            if field.initial:
                element["value"] = field.initial
            if field.placeholder:
                element["placeholder"] = field.placeholder
        if field.required:
            element["errorMessage"] = f"{field.label} is required."
        body.append(element)
        error = form.errors.get(field.name)
        if error:
            body.append(_block(f"⚠️ {error}", color="Attention", spacing="None"))
        elif field.hint:
            body.append(_block(field.hint, isSubtle=True, spacing="None", size="Small"))
    data: Json = {"psabot": "form", FORM_KEY: form.form_id, META_KEY: dict(form.metadata)}
    submit = {"type": "Action.Submit", "title": form.submit_label, "data": data}
    return adaptive(body, [submit])


def dialog(title: str, card: Json) -> Json:
    """A task-module answer that shows (or keeps showing) a dialog with this card."""
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": _cut(title, 60),
                "width": "medium",
                "height": "medium",
                "card": attachment(card),
            },
        }
    }


def dialog_message(text: str) -> Json:
    """A task-module answer that closes the dialog's form with a short message."""
    return {"task": {"type": "message", "value": _cut(to_plain(text), 1000)}}


def result_dialog(title: str, reply: Reply) -> Json:
    """The outcome shown in the dialog (link buttons only: actions belong to messages)."""
    return dialog(title, reply_card(reply, buttons=False))


def submitted(data: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, str]]:
    """Form id, field values and metadata of a submitted dialog card."""
    form_id = str(data.get(FORM_KEY) or "")
    raw_meta = data.get(META_KEY)
    meta = {str(k): str(v) for k, v in raw_meta.items()} if isinstance(raw_meta, dict) else {}
    values = {
        str(k): "" if v is None else str(v)
        for k, v in data.items()
        if k not in (FORM_KEY, META_KEY, "psabot", "msteams") and not isinstance(v, dict | list)
    }
    return form_id, values, meta


# -- message extension -----------------------------------------------------------------------


def search_results(reply: Reply) -> Json:
    """composeExtension/query answer: each ticket a card to insert, with a preview."""
    if not reply.cards:
        return {"composeExtension": {"type": "message", "text": fallback_text(reply)}}
    attachments = []
    for card in reply.cards[:25]:
        attachments.append(
            {
                **attachment(adaptive(card_elements(card))),
                "preview": {
                    "contentType": THUMBNAIL_TYPE,
                    "content": {"title": _cut(card.title, 200), "text": _cut(card.subtitle, 300)},
                },
            }
        )
    return {
        "composeExtension": {
            "type": "result",
            "attachmentLayout": "list",
            "attachments": attachments,
        }
    }


def options_response(options: tuple[Option, ...]) -> Json:
    """application/search (dialog type-ahead) answer."""
    return {
        "statusCode": 200,
        "type": "application/vnd.microsoft.search.searchResponse",
        "value": {"results": [{"title": o.label, "value": o.value} for o in options[:50]]},
    }


def card_action_response(card: Json) -> Json:
    """adaptiveCard/action answer: the card that replaces the pressed one."""
    return {"statusCode": 200, "type": CARD_TYPE, "value": card}


def card_action_message(text: str) -> Json:
    return {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": _cut(to_plain(text), 1000),
    }
