"""Read ConnectWise JSON records into psa/types.py records, tolerating missing and extra fields.

ConnectWise omits empty fields, adds fields between versions, and older or hand-written payloads
carry explicit nulls or expanded objects where references are expected; nothing here assumes
more than an `id`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psa.types import Board, Company, Configuration, Member, Note, NoteType, Ref, Status, Ticket


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" ", "")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_ref(value: Any) -> Ref | None:
    if not isinstance(value, dict) or "id" not in value:
        return None
    name = _str(value.get("name"))
    if not name and (value.get("firstName") or value.get("lastName")):
        name = f"{_str(value.get('firstName'))} {_str(value.get('lastName'))}".strip()
    return Ref(_int(value.get("id")), name, _str(value.get("identifier")))


RefMemo = dict[tuple[int, str, str | None], Ref]
_TICKET_REFS = ("company", "board", "status", "priority", "owner", "contact")


def _memo_ref(value: Any, memo: RefMemo) -> Ref | None:
    """`parse_ref`, answered from `memo` for a reference seen before in the same listing.

    The tickets of one listing share a few boards, statuses and companies, and building the
    frozen `Ref` is most of parsing one. Only a reference whose result depends on nothing
    but its `id` (an int), `name` (a string with text) and `identifier` (a string or absent)
    is remembered, by exactly those values, so a hit is the `Ref` parse_ref would build.
    """
    if not isinstance(value, dict):
        return None
    ref_id, name, identifier = value.get("id"), value.get("name"), value.get("identifier")
    if type(ref_id) is not int or type(name) is not str:
        return parse_ref(value)
    if identifier is not None and type(identifier) is not str:
        return parse_ref(value)
    key = (ref_id, name, identifier)
    ref = memo.get(key)
    if ref is None:
        ref = parse_ref(value)
        if ref is not None and ref.name and ref.name == name.strip():
            memo[key] = ref  # the name came from `name`, not from firstName/lastName
    return ref


def parse_ticket(data: dict[str, Any], refs: RefMemo | None = None) -> Ticket:
    """One ticket; `refs` (see parse_tickets) shares references across a listing's tickets."""
    info = data.get("_info")
    if refs is None:
        company, board, status, priority, owner, contact = [
            parse_ref(data.get(key)) for key in _TICKET_REFS
        ]
    else:
        company, board, status, priority, owner, contact = [
            _memo_ref(data.get(key), refs) for key in _TICKET_REFS
        ]
    return Ticket(
        _int(data.get("id")),
        _str(data.get("summary")),
        company,
        board,
        status,
        priority,
        owner,
        contact,
        _bool(data.get("closedFlag")),
        parse_datetime(info.get("lastUpdated")) if isinstance(info, dict) else None,
    )


def parse_tickets(rows: Iterable[Any]) -> list[Ticket]:
    """The tickets of one listing (rows that are not objects skipped), references shared.

    The memo lives for this call only: bounded by the listing, and never stale.
    """
    refs: RefMemo = {}
    return [parse_ticket(row, refs) for row in rows if isinstance(row, dict)]


def note_type_of(data: dict[str, Any]) -> NoteType:
    if _bool(data.get("resolutionFlag")):
        return NoteType.RESOLUTION
    if _bool(data.get("internalAnalysisFlag")):
        return NoteType.INTERNAL
    return NoteType.DESCRIPTION


def note_flags(note_type: NoteType) -> dict[str, bool]:
    return {
        "detailDescriptionFlag": note_type is NoteType.DESCRIPTION,
        "internalAnalysisFlag": note_type is NoteType.INTERNAL,
        "resolutionFlag": note_type is NoteType.RESOLUTION,
    }


def parse_note(data: dict[str, Any], ticket_id: int | None = None) -> Note:
    text = data.get("text")
    return Note(
        id=_int(data.get("id")),
        ticket_id=_int(data.get("ticketId"), ticket_id or 0),
        text=text if isinstance(text, str) else "",
        note_type=note_type_of(data),
        member=parse_ref(data.get("member")),
        created_at=parse_datetime(data.get("dateCreated")),
        created_by=_str(data.get("createdBy")),
    )


def parse_status(data: dict[str, Any], board_id: int | None = None) -> Status:
    board = parse_ref(data.get("board"))
    return Status(
        id=_int(data.get("id")),
        name=_str(data.get("name")),
        board_id=board.id if board else (board_id or 0),
        closed=_bool(data.get("closedStatus")),
        inactive=_bool(data.get("inactive")),
        sort_order=_int(data.get("sortOrder")),
        default=_bool(data.get("defaultFlag")),
    )


def parse_board(data: dict[str, Any]) -> Board:
    return Board(
        id=_int(data.get("id")),
        name=_str(data.get("name")),
        inactive=_bool(data.get("inactiveFlag")),
    )


def parse_company(data: dict[str, Any]) -> Company:
    status = data.get("status")
    return Company(
        id=_int(data.get("id")),
        identifier=_str(data.get("identifier")),
        name=_str(data.get("name")),
        status=_str(status.get("name")) if isinstance(status, dict) else "",
        phone=_str(data.get("phoneNumber")),
        website=_str(data.get("website")),
    )


def parse_member(data: dict[str, Any]) -> Member:
    emails: list[str] = []
    for key in ("primaryEmail", "officeEmail"):
        email = _str(data.get(key))
        if email and email.casefold() not in (e.casefold() for e in emails):
            emails.append(email)
    name = f"{_str(data.get('firstName'))} {_str(data.get('lastName'))}".strip()
    return Member(
        id=_int(data.get("id")),
        identifier=_str(data.get("identifier")),
        name=name or _str(data.get("name")) or _str(data.get("identifier")),
        emails=tuple(emails),
        inactive=_bool(data.get("inactiveFlag")),
        api_member=_str(data.get("licenseClass")).upper() == "A",
        title=_str(data.get("title")),
    )


def parse_configuration(data: dict[str, Any]) -> Configuration:
    kind = data.get("type")
    return Configuration(
        id=_int(data.get("id")),
        name=_str(data.get("deviceIdentifier")) or _str(data.get("name")),
        type=_str(kind.get("name")) if isinstance(kind, dict) else "",
    )
