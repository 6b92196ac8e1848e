"""The words of a ticket update flowing back from ConnectWise into a linked conversation.

One compact entry per check of a ticket: a heading line naming the ticket, then one line per
change (status from → to, closed or reopened, each note by someone else). Written in the
neutral markup (bot/core/markup.py); each transport's HistoryPoster renders it. Text that came
from ConnectWise is escaped and shortened, and an entry names at most `MAX_NOTES_SHOWN` notes.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.history import escape
from bot.core.markup import bold, link
from psa.types import NoteType

MAX_NOTES_SHOWN = 5
NOTE_PREVIEW = 280

_KIND = {
    NoteType.INTERNAL: ("🔒", "an internal note"),
    NoteType.RESOLUTION: ("✅", "a resolution note"),
    NoteType.DESCRIPTION: ("💬", "a discussion note"),
}


@dataclass(frozen=True)
class StatusChange:
    before: str  # "" when psabot never saw the ticket's status before
    after: str
    closed: bool  # the ticket is closed now and was not
    reopened: bool  # the ticket was closed and is open now


@dataclass(frozen=True)
class NoteAdded:
    note_id: int
    author: str
    note_type: NoteType
    text: str

    @property
    def internal(self) -> bool:
        return self.note_type is NoteType.INTERNAL


def preview(text: str, limit: int = NOTE_PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_line(change: StatusChange) -> str:
    after = bold(escape(change.after or "?"))
    if change.closed:
        return f"✔️ Closed in ConnectWise (status {after})."
    moved = (
        f"status changed from {bold(escape(change.before))} to {after}"
        if change.before
        else f"status is now {after}"
    )
    return ("↩️ Reopened: " if change.reopened else "🔄 ") + moved[0].upper() + moved[1:] + "."


def note_line(note: NoteAdded) -> str:
    icon, kind = _KIND[note.note_type]
    who = escape(note.author or "Someone")
    return f"{icon} {who} added {kind}: “{escape(preview(note.text))}”"


def update_text(
    ticket_id: int,
    summary: str,
    url: str,
    status: StatusChange | None,
    notes: list[NoteAdded],
    more: bool = False,
) -> str | None:
    """The entry for one conversation (notes already filtered for its audience); None when
    nothing is left to say there."""
    lines: list[str] = []
    if status is not None:
        lines.append(status_line(status))
    shown = notes[:MAX_NOTES_SHOWN]
    lines.extend(note_line(n) for n in shown)
    hidden = len(notes) - len(shown)
    if shown and (hidden > 0 or more):
        count = f"{hidden}{'+' if more else ''} more notes" if hidden else "more notes"
        lines.append(f"… and {count} in ConnectWise.")
    if not lines:
        return None
    label = f"#{ticket_id} {summary}".strip()
    title = link(url, label) if url else escape(label)
    return "\n".join([f"📣 {bold(title)} — updated in ConnectWise", *lines])
