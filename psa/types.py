"""Normalized PSA records: what handlers see, whatever the provider's wire format."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class NoteType(enum.StrEnum):
    """Which section of the ticket a note lands in."""

    INTERNAL = "internal"  # internal analysis (not visible to the customer)
    RESOLUTION = "resolution"
    DESCRIPTION = "description"  # stored value; ConnectWise and every label call it Discussion

    @property
    def label(self) -> str:
        """ConnectWise's own name for the section, the one name users see everywhere."""
        return {
            NoteType.INTERNAL: "Internal",
            NoteType.RESOLUTION: "Resolution",
            NoteType.DESCRIPTION: "Discussion",
        }[self]


class TicketState(enum.StrEnum):
    """Open/closed filter for ticket search."""

    OPEN = "open"
    CLOSED = "closed"
    ANY = "any"


@dataclass(frozen=True)
class Ref:
    """A reference to another record: id plus the name to show."""

    id: int
    name: str = ""
    identifier: str = ""


@dataclass(frozen=True)
class Ticket:
    id: int
    summary: str
    company: Ref | None = None
    board: Ref | None = None
    status: Ref | None = None
    priority: Ref | None = None
    owner: Ref | None = None
    contact: Ref | None = None
    closed: bool = False
    last_updated: datetime | None = None


@dataclass(frozen=True)
class Note:
    id: int
    ticket_id: int
    text: str
    note_type: NoteType
    member: Ref | None = None
    created_at: datetime | None = None
    created_by: str = ""


@dataclass(frozen=True)
class Status:
    id: int
    name: str
    board_id: int
    closed: bool = False
    inactive: bool = False
    sort_order: int = 0
    default: bool = False


@dataclass(frozen=True)
class Board:
    id: int
    name: str
    inactive: bool = False


@dataclass(frozen=True)
class Company:
    id: int
    identifier: str
    name: str
    status: str = ""
    phone: str = ""
    website: str = ""


@dataclass(frozen=True)
class Member:
    id: int
    identifier: str
    name: str
    emails: tuple[str, ...] = ()
    inactive: bool = False
    api_member: bool = False
    title: str = ""

    @property
    def email(self) -> str:
        return self.emails[0] if self.emails else ""

    def has_email(self, email: str) -> bool:
        wanted = email.strip().casefold()
        return bool(wanted) and any(e.casefold() == wanted for e in self.emails)


@dataclass(frozen=True)
class Configuration:
    """A configuration item (device) attached to a ticket."""

    id: int
    name: str
    type: str = ""


@dataclass(frozen=True)
class SearchQuery:
    """Ticket search: free words plus optional company, board and open/closed filters."""

    text: str = ""
    company: str = ""
    board: str = ""
    state: TicketState = TicketState.OPEN
    limit: int = 10


@dataclass(frozen=True)
class ConnectionCheck:
    """What a successful connection test learned about the PSA."""

    company_name: str
    version: str = ""
    is_cloud: bool | None = None
    api_url: str = ""
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything a provider needs to talk to one PSA account (secrets in clear, in memory only)."""

    provider: str
    site: str
    company_id: str
    public_key: str
    private_key: str
    client_id: str

    def __repr__(self) -> str:  # never print the keys
        return (
            f"ConnectionSettings(provider={self.provider!r}, site={self.site!r}, "
            f"company_id={self.company_id!r}, client_id={self.client_id!r}, keys=<hidden>)"
        )


class BillableOption(enum.StrEnum):
    """How a time entry is billed; ConnectWise's own values (NoDefault is never sent)."""

    BILLABLE = "Billable"
    DO_NOT_BILL = "DoNotBill"  # billable work the MSP chooses not to bill
    NO_CHARGE = "NoCharge"  # shown on the invoice at no charge

    @property
    def label(self) -> str:
        return {
            BillableOption.BILLABLE: "Billable",
            BillableOption.DO_NOT_BILL: "Do not bill",
            BillableOption.NO_CHARGE: "No charge",
        }[self]


@dataclass(frozen=True)
class NewTimeEntry:
    """Time worked on a ticket, ending at `end`; its notes also land in `section` of the
    ticket (None: in no section, only on the time entry)."""

    ticket_id: int
    member: Member | None
    start: datetime
    end: datetime
    billable: BillableOption | None  # None: ConnectWise's default (work type, agreement)
    notes: str
    section: NoteType | None = NoteType.INTERNAL
    work_type_id: int | None = None
    work_role_id: int | None = None


@dataclass(frozen=True)
class TimeEntry:
    id: int
    ticket_id: int
    hours: float
    billable: str = ""
    notes: str = ""
    member: Ref | None = None


@dataclass(frozen=True)
class NewTicket:
    """A ticket to create: `description` becomes its first (discussion) note and
    `internal_note`, when given, its first internal note."""

    summary: str
    company_id: int
    description: str
    board_id: int | None = None
    priority_id: int | None = None
    internal_note: str = ""


@dataclass(frozen=True)
class Priority:
    id: int
    name: str
    sort_order: int = 0
    default: bool = False
