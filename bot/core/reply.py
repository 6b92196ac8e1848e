"""`Reply` view models: what a handler answers, rendered natively by each transport.

A Reply carries text, cards (facts plus buttons) and at most one form. Forms have typed fields;
a `search` field gets its options from an options handler as the user types (Slack
external_select, Teams typeahead, a numbered list in the shell). Field-level errors come back
on the same Form. Visibility says whether the channel sees the reply or only the user.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace


class Visibility(enum.StrEnum):
    PRIVATE = "private"  # only the user who asked
    CHANNEL = "channel"  # everyone in the conversation


class Tone(enum.StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


class ButtonStyle(enum.StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str = ""
    value: str = ""
    url: str | None = None  # a link button (Open in ConnectWise) instead of an action
    style: ButtonStyle = ButtonStyle.DEFAULT


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Card:
    title: str
    subtitle: str = ""
    text: str = ""
    facts: tuple[Fact, ...] = ()
    buttons: tuple[Button, ...] = ()
    url: str | None = None  # the title links here
    ref: str = ""  # the record shown, as the PSA numbers it (a Slack Work Object's id)


class FieldKind(enum.StrEnum):
    TEXT = "text"
    SECRET = "secret"
    MULTILINE = "multiline"
    SELECT = "select"  # static options
    SEARCH = "search"  # options from an options handler, as the user types


@dataclass(frozen=True)
class Option:
    label: str
    value: str


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: FieldKind = FieldKind.TEXT
    required: bool = True
    initial: str = ""
    placeholder: str = ""
    hint: str = ""
    options: tuple[Option, ...] = ()
    source: str = ""  # for SEARCH: the options handler's name


@dataclass(frozen=True)
class Form:
    form_id: str
    title: str
    fields: tuple[FormField, ...]
    submit_label: str = "Submit"
    intro: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)  # field name → message; "" = form

    def with_errors(self, errors: Mapping[str, str], **values: str) -> Form:
        """The same form again with errors, keeping what the user typed (never secrets)."""
        fields = tuple(
            replace(f, initial=values.get(f.name, f.initial))
            if f.kind is not FieldKind.SECRET
            else f
            for f in self.fields
        )
        return replace(self, fields=fields, errors=dict(errors))


@dataclass(frozen=True)
class Reply:
    text: str = ""
    cards: tuple[Card, ...] = ()
    form: Form | None = None
    visibility: Visibility = Visibility.PRIVATE
    tone: Tone = Tone.INFO
    options: tuple[Option, ...] = ()  # answer to an OptionsQuery

    @classmethod
    def info(cls, text: str, *cards: Card) -> Reply:
        return cls(text=text, cards=cards)

    @classmethod
    def success(cls, text: str, *cards: Card) -> Reply:
        return cls(text=text, cards=cards, tone=Tone.SUCCESS)

    @classmethod
    def warning(cls, text: str, *cards: Card) -> Reply:
        return cls(text=text, cards=cards, tone=Tone.WARNING)

    @classmethod
    def error(cls, text: str, *cards: Card) -> Reply:
        return cls(text=text, cards=cards, tone=Tone.ERROR)

    @classmethod
    def show_form(cls, form: Form, text: str = "") -> Reply:
        return cls(text=text, form=form)
