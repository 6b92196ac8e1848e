"""Seeded, deterministic demo data: the records the sandbox starts with.

The same seed (default 7) always gives the same records. Ticket ids run from 48200 to 48399
(200 tickets over two active boards, about a third closed); a larger `ticket_count` (up to
MAX_TICKET_COUNT, for load benches) continues the ids from 48400 with the same mix. A few
tickets are the same for every seed so tests anywhere can rely on them:

* 48213 `OPEN_TICKET_ID`: Service Desk, "In Progress", Contoso Dental Group
  (`ContosoDental`), owner `jdoe`, priority 3, two notes, two configurations,
  summary "Front desk printer jams on every print job".
* 48207 `CLOSED_TICKET_ID`: Service Desk, "Closed" (closedFlag true), Northwind Logistics,
  owner `pnguyen`, one resolution note.
* 48250 `NEW_TICKET_ID`: Service Desk, "New", unassigned, Fabrikam Law Partners LLP, no notes.
* 48299 `ESCALATION_TICKET_ID`: Escalations, "Engineering Review", Alpine Credit Union,
  owner `dokafor`, one note.

Boards: 1 "Service Desk" (statuses 1 New, 2 Assigned, 3 In Progress, 4 Waiting on Customer,
5 Scheduled, 6 Resolved*, 7 Closed*, 8 inactive), 3 "Escalations" (21 New, 22 Engineering
Review, 23 Waiting on Vendor, 24 Resolved*, 25 Closed*), 4 "Legacy Helpdesk" (inactive board);
* = closed status. Members: jdoe, msmith, pnguyen, tgarcia, akowalski, dokafor (full),
rbrooks (inactive), PsabotAPI and RestrictedAPI (API members). Records keep `_href` links
relative to the API root; the server makes them absolute for each request's host and codebase.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psa.connectwise.sandbox import catalog, records
from psa.connectwise.sandbox.catalog import CompanySeed, Topic
from psa.connectwise.sandbox.errors import JsonObject
from psa.connectwise.sandbox.records import DEFAULT_ANCHOR, iso

FIRST_TICKET_ID = 48200
TICKET_COUNT = 200
MAX_TICKET_COUNT = 20_000  # a bench's dataset; more would only slow the sandbox's start
FIRST_NOTE_ID = 301000
FIRST_CONFIGURATION_ID = 7001
OPEN_TICKET_ID = 48213
CLOSED_TICKET_ID = 48207
NEW_TICKET_ID = 48250
ESCALATION_TICKET_ID = 48299
DEFAULT_SEED = 7

__all__ = ["DEFAULT_ANCHOR", "DEFAULT_SEED", "Dataset", "build_dataset"]


@dataclass
class Dataset:
    companies: dict[int, JsonObject] = field(default_factory=dict)
    boards: dict[int, JsonObject] = field(default_factory=dict)
    statuses: dict[int, JsonObject] = field(default_factory=dict)
    priorities: dict[int, JsonObject] = field(default_factory=dict)
    members: dict[int, JsonObject] = field(default_factory=dict)
    tickets: dict[int, JsonObject] = field(default_factory=dict)
    notes: dict[int, JsonObject] = field(default_factory=dict)
    configurations: dict[int, list[JsonObject]] = field(default_factory=dict)


@dataclass(frozen=True)
class NotePlan:
    kind: str  # "description" | "internal" | "resolution"
    text: str
    member: str
    created: datetime


@dataclass
class TicketPlan:
    """What the generator decided for one ticket before it becomes a record."""

    id: int
    company: CompanySeed
    contact_index: int
    board_id: int
    status_id: int
    priority_id: int
    owner: str | None
    summary: str
    entered: datetime
    updated: datetime
    source: tuple[int, str]
    notes: list[NotePlan] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _slots(company: CompanySeed, contact_index: int, rng: random.Random) -> dict[str, str]:
    contact = company.contacts[contact_index % len(company.contacts)]
    prefix = "".join(ch for ch in company.identifier if ch.isupper())
    room = rng.choice(catalog.ROOMS)
    return {
        "contact": contact,
        "initials": "".join(w[0] for w in contact.split() if w[:1].isalpha()).upper(),
        "room": room,
        "room_code": "".join(ch for ch in room if ch.isalnum())[:6].upper(),
        "printer": rng.choice(catalog.PRINTERS),
        "server": f"{prefix}-{rng.choice(('FS01', 'DC01', 'APP01', 'SQL01'))}",
        "newhire": rng.choice(catalog.NEW_HIRES),
        "domain": company.domain,
    }


def _device(template: str, slots: dict[str, str], company: CompanySeed) -> str:
    name = template.format(**slots)
    prefix = "".join(ch for ch in company.identifier if ch.isupper())
    return name if name.startswith(prefix + "-") else f"{prefix}-{name}"


def _random_plan(index: int, count: int, rng: random.Random, anchor: datetime) -> TicketPlan:
    ticket_id = FIRST_TICKET_ID + index
    span = timedelta(days=120)
    entered = anchor - span + span * index / count + timedelta(minutes=rng.randint(0, 180))
    entered = min(entered, anchor - timedelta(minutes=30))
    clients = [c for c in catalog.COMPANIES if c.weight > 0]
    company = rng.choices(clients, weights=[c.weight for c in clients])[0]
    contact_index = rng.randrange(len(company.contacts))
    board_id = (
        catalog.ESCALATIONS_BOARD_ID if rng.random() < 0.15 else catalog.SERVICE_DESK_BOARD_ID
    )
    age = anchor - entered
    closed = rng.random() < (0.65 if age.days > 45 else 0.4 if age.days > 10 else 0.1)
    board_statuses = [s for s in catalog.STATUSES if s.board_id == board_id and not s.inactive]
    if closed:
        candidates = [s for s in board_statuses if s.closed]
        status = rng.choices(candidates, weights=[3, 7][: len(candidates)])[0]
    else:
        candidates = [s for s in board_statuses if not s.closed]
        status = rng.choices(candidates, weights=[s.weight for s in candidates])[0]
    priority = rng.choices(catalog.PRIORITIES, weights=[p.weight for p in catalog.PRIORITIES])[0]
    topic: Topic = rng.choice(catalog.TOPICS)
    slots = _slots(company, contact_index, rng)
    summary = rng.choice(topic.summaries).format(**slots)[:100]
    owner: str | None
    if status.default and rng.random() < 0.7:
        owner = None
    elif board_id == catalog.ESCALATIONS_BOARD_ID:
        owner = rng.choice(catalog.ESCALATION_TECHS)
    elif closed and age.days > 75 and rng.random() < 0.3:
        owner = "rbrooks"  # left the company; his old tickets stay assigned to him
    else:
        owner = rng.choice(catalog.ACTIVE_TECHS)
    if closed:
        updated = entered + timedelta(minutes=rng.randint(60, 5 * 24 * 60))
    else:
        window = min(int(age.total_seconds() // 60), 10 * 24 * 60)
        updated = entered + timedelta(minutes=rng.randint(0, max(window, 0)))
    updated = min(updated, anchor - timedelta(minutes=1))
    plan = TicketPlan(
        ticket_id,
        company,
        contact_index,
        board_id,
        status.id,
        priority.id,
        owner,
        summary,
        entered,
        updated,
        rng.choice(catalog.SOURCES),
    )
    writer = owner or rng.choice(catalog.ACTIVE_TECHS)
    count = rng.choices((0, 1, 2, 3), weights=(55, 25, 15, 5))[0]
    for n in range(count):
        text = rng.choice(topic.notes + catalog.GENERIC_NOTES).format(**slots)
        kind = "internal" if rng.random() < 0.6 else "description"
        created = entered + (updated - entered) * (n + 1) / (count + 2)
        plan.notes.append(NotePlan(kind, text, writer, created))
    if closed and rng.random() < 0.7:
        plan.notes.append(NotePlan("resolution", topic.resolution.format(**slots), writer, updated))
    if topic.devices and rng.random() < 0.15:
        chosen = rng.sample(topic.devices, k=min(len(topic.devices), rng.randint(1, 2)))
        plan.devices.extend(_device(d, slots, company) for d in chosen)
    return plan


def _company(identifier: str) -> CompanySeed:
    return next(c for c in catalog.COMPANIES if c.identifier == identifier)


def _well_known(anchor: datetime) -> dict[int, TicketPlan]:
    """Tickets that look the same for every seed (see the module docstring)."""
    day, hour = timedelta(days=1), timedelta(hours=1)
    open_entered = anchor - 3 * day - 4 * hour
    printer = TicketPlan(
        OPEN_TICKET_ID,
        _company("ContosoDental"),
        2,
        catalog.SERVICE_DESK_BOARD_ID,
        3,
        4,
        "jdoe",
        "Front desk printer jams on every print job",
        open_entered,
        anchor - 2 * hour,
        (2, "Phone"),
        notes=[
            NotePlan(
                "description",
                "The HP LaserJet M404 at the front desk jams on every "
                "job since Monday; patients are waiting for printed forms.",
                "jdoe",
                open_entered + timedelta(minutes=20),
            ),
            NotePlan(
                "internal",
                "Fuser error 50.2 on the panel. Replacement fuser ordered, "
                "ETA Thursday; loaner printer set up meanwhile.",
                "jdoe",
                anchor - 2 * hour,
            ),
        ],
        devices=["CD-FRONTDESK-PRN01", "CD-RECEPTION-PC02"],
    )
    onboarding = TicketPlan(
        CLOSED_TICKET_ID,
        _company("NorthwindLogistics"),
        0,
        catalog.SERVICE_DESK_BOARD_ID,
        7,
        4,
        "pnguyen",
        "New hire onboarding: Maria Lopez starts Monday",
        anchor - 40 * day,
        anchor - 36 * day,
        (3, "Email"),
        notes=[
            NotePlan(
                "resolution",
                "Onboarding checklist complete; credentials handed to the office manager.",
                "pnguyen",
                anchor - 36 * day,
            )
        ],
    )
    vpn = TicketPlan(
        NEW_TICKET_ID,
        _company("FabrikamLaw"),
        0,
        catalog.SERVICE_DESK_BOARD_ID,
        1,
        7,
        None,
        "VPN disconnects every 20 minutes for Olivia Grant",
        anchor - day,
        anchor - day + timedelta(minutes=5),
        (5, "Portal"),
    )
    backup = TicketPlan(
        ESCALATION_TICKET_ID,
        _company("AlpineCU"),
        0,
        catalog.ESCALATIONS_BOARD_ID,
        22,
        8,
        "dokafor",
        "Backup job failed on ACU-FS01 last night",
        anchor - 2 * day,
        anchor - 5 * hour,
        (6, "Alert"),
        notes=[
            NotePlan(
                "internal",
                "Job failed with VSS error 0x800423f4; rebooting ACU-FS01 after hours tonight.",
                "dokafor",
                anchor - 5 * hour,
            )
        ],
        devices=["ACU-FS01"],
    )
    return {p.id: p for p in (printer, onboarding, vpn, backup)}


def ticket_record(plan: TicketPlan, data: Dataset, rng: random.Random) -> JsonObject:
    """One ticket record as ConnectWise returns it (seeded tickets, and tickets POSTed)."""
    status = data.statuses[plan.status_id]
    priority_seed = next(p for p in catalog.PRIORITIES if p.id == plan.priority_id)
    closed = bool(status["closedStatus"])
    company = data.companies[plan.company.id]
    updated_by = plan.owner or "jdoe"
    source_id, source_name = plan.source
    ticket: JsonObject = {
        "id": plan.id,
        "summary": plan.summary,
        "recordType": "ServiceTicket",
        "board": records.board_ref(data.boards[plan.board_id]),
        "status": records.status_ref(status),
        "company": records.company_ref(company),
        "site": copy.deepcopy(company["site"]),
        "addressLine1": plan.company.address,
        "city": plan.company.city,
        "stateIdentifier": plan.company.state,
        "zip": plan.company.zip,
        **records.contact_fields(plan.company, plan.contact_index),
        "priority": records.priority_ref(data.priorities[plan.priority_id]),
        "serviceLocation": {
            "id": 1,
            "name": "Remote",
            "_info": {"location_href": "service/locations/1"},
        },
        "source": {
            "id": source_id,
            "name": source_name,
            "_info": {"source_href": f"service/sources/{source_id}"},
        },
        "severity": priority_seed.severity,
        "impact": priority_seed.impact,
        "allowAllClientsPortalView": False,
        "customerUpdatedFlag": False,
        "automaticEmailContactFlag": False,
        "automaticEmailResourceFlag": False,
        "automaticEmailCcFlag": False,
        "closedFlag": closed,
        "approved": True,
        "resolveMinutes": 0,
        "resPlanMinutes": 0,
        "respondMinutes": 0,
        "isInSla": rng.random() < 0.85,
        "hasChildTicket": False,
        "hasMergedChildTicketFlag": False,
        "billTime": "Billable",
        "billExpenses": "Billable",
        "billProducts": "Billable",
        "location": {"id": 2, "name": "Main", "_info": {"location_href": "system/locations/2"}},
        "department": copy.deepcopy(data.boards[plan.board_id]["department"]),
        "mobileGuid": _guid(rng),
        "sla": {"id": 3, "name": "Standard SLA", "_info": {"sla_href": "service/SLAs/3"}},
        "requestForChangeFlag": False,
        "_info": {
            "lastUpdated": iso(plan.updated),
            "updatedBy": updated_by,
            "dateEntered": iso(plan.entered),
            "enteredBy": "jdoe" if source_name == "Phone" else "EmailConnector",
            **{
                f"{part}_href": f"service/tickets/{plan.id}/{part}"
                for part in (
                    "activities",
                    "timeentries",
                    "scheduleentries",
                    "documents",
                    "products",
                    "configurations",
                    "tasks",
                    "notes",
                )
            },
        },
    }
    if plan.owner is not None:
        owner = next(m for m in data.members.values() if m["identifier"] == plan.owner)
        ticket["owner"] = records.member_ref(owner)
        ticket["resources"] = plan.owner
    if closed:
        ticket["closedDate"] = iso(plan.updated)
        ticket["closedBy"] = updated_by
        ticket["dateResolved"] = iso(plan.updated)
        ticket["actualHours"] = round(rng.uniform(0.25, 4.0) * 4) / 4
    return ticket


def note_record(
    note_id: int,
    ticket_id: int,
    text: str,
    member: JsonObject,
    created: datetime,
    created_by: str,
    *,
    description: bool = False,
    internal: bool = False,
    resolution: bool = False,
) -> JsonObject:
    return {
        "id": note_id,
        "ticketId": ticket_id,
        "text": text,
        "detailDescriptionFlag": description,
        "internalAnalysisFlag": internal,
        "resolutionFlag": resolution,
        "issueFlag": False,
        "member": records.member_ref(member),
        "dateCreated": iso(created),
        "createdBy": created_by,
        # internal = hidden from the customer; the other two sections are customer-visible
        "internalFlag": internal,
        "externalFlag": description or resolution,
        "_info": records.info(created, created_by),
    }


def check_ticket_count(ticket_count: int) -> int:
    """`ticket_count` if the dataset can have that many tickets (the well-known ones included)."""
    if isinstance(ticket_count, bool) or not isinstance(ticket_count, int):
        raise ValueError("the ticket count must be a whole number")
    if not TICKET_COUNT <= ticket_count <= MAX_TICKET_COUNT:
        raise ValueError(f"the ticket count must be from {TICKET_COUNT} to {MAX_TICKET_COUNT}")
    return ticket_count


def build_dataset(
    seed: int = DEFAULT_SEED,
    anchor: datetime = DEFAULT_ANCHOR,
    ticket_count: int = TICKET_COUNT,
) -> Dataset:
    """All demo records for `seed`; `anchor` is the "now" the data was generated at.

    The first 200 tickets of a larger `ticket_count` are not the 200 of the default dataset
    (entry dates spread over the same 120 days), but the well-known ones are the same.
    """
    check_ticket_count(ticket_count)
    rng = random.Random(seed)
    data = Dataset()
    for b in catalog.BOARDS:
        data.boards[b.id] = records.board_record(b, anchor)
    for s in catalog.STATUSES:
        data.statuses[s.id] = records.status_record(s, anchor, data.boards)
    for p in catalog.PRIORITIES:
        data.priorities[p.id] = records.priority_record(p)
    for m in catalog.MEMBERS:
        data.members[m.id] = records.member_record(m, anchor, data.boards)
    for c in catalog.COMPANIES:
        data.companies[c.id] = records.company_record(c, anchor, _guid(rng))

    fixed = _well_known(anchor)
    plans = [_random_plan(i, ticket_count, rng, anchor) for i in range(ticket_count)]
    plans = [fixed.get(p.id, p) for p in plans]
    by_identifier = {m["identifier"]: m for m in data.members.values()}
    pending_notes: list[tuple[datetime, int, NotePlan]] = []
    device_ids: dict[str, int] = {}
    for plan in plans:
        data.tickets[plan.id] = ticket_record(plan, data, rng)
        pending_notes.extend((n.created, plan.id, n) for n in plan.notes)
        for device in plan.devices:
            config_id = device_ids.setdefault(device, FIRST_CONFIGURATION_ID + len(device_ids))
            data.configurations.setdefault(plan.id, []).append(
                {
                    "id": config_id,
                    "deviceIdentifier": device,
                    "_info": {"configuration_href": f"company/configurations/{config_id}"},
                }
            )
    pending_notes.sort(key=lambda item: (item[0], item[1]))
    for offset, (created, ticket_id, note) in enumerate(pending_notes):
        note_id = FIRST_NOTE_ID + offset
        member = by_identifier[note.member]
        data.notes[note_id] = note_record(
            note_id,
            ticket_id,
            note.text,
            member,
            created,
            note.member,
            description=note.kind == "description",
            internal=note.kind == "internal",
            resolution=note.kind == "resolution",
        )
    return data
