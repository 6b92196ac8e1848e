"""The fixed part of the demo data: companies, members, boards, statuses, priorities, phrasing."""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_DESK_BOARD_ID = 1
ESCALATIONS_BOARD_ID = 3
LEGACY_BOARD_ID = 4
OWNER_COMPANY_ID = 2
API_MEMBER_IDENTIFIER = "PsabotAPI"
RESTRICTED_MEMBER_IDENTIFIER = "RestrictedAPI"


@dataclass(frozen=True)
class CompanySeed:
    id: int
    identifier: str
    name: str
    address: str
    city: str
    state: str
    zip: str
    phone: str
    domain: str
    contacts: tuple[str, ...]
    type_name: str = "Client"
    deleted: bool = False
    weight: int = 10


COMPANIES: tuple[CompanySeed, ...] = (
    CompanySeed(
        OWNER_COMPANY_ID,
        "PsabotMSP",
        "Psabot Demo MSP",
        "400 Harbor Blvd, Suite 210",
        "Tampa",
        "FL",
        "33602",
        "813-555-0100",
        "psabot-msp.example.com",
        ("Jane Doe",),
        type_name="Owner",
        weight=2,
    ),
    CompanySeed(
        250,
        "ContosoDental",
        "Contoso Dental Group",
        "1200 Bayshore Dr",
        "Tampa",
        "FL",
        "33606",
        "813-555-0142",
        "contosodental.example.com",
        ("Laura Chen", "Mike Patel", "Front Desk"),
        weight=16,
    ),
    CompanySeed(
        251,
        "NorthwindLogistics",
        "Northwind Logistics",
        "88 Commerce Park",
        "Lakeland",
        "FL",
        "33801",
        "863-555-0177",
        "northwind.example.com",
        ("Greg Holt", "Sandra Ruiz", "Warehouse Office"),
        weight=18,
    ),
    CompanySeed(
        252,
        "FabrikamLaw",
        "Fabrikam Law Partners LLP",
        "501 E Kennedy Blvd, Floor 9",
        "Tampa",
        "FL",
        "33602",
        "813-555-0190",
        "fabrikamlaw.example.com",
        ("Olivia Grant", "Ethan Brooks", "Paralegal Team"),
        weight=14,
    ),
    CompanySeed(
        253,
        "AlpineCU",
        "Alpine Credit Union",
        "17 Summit Way",
        "Clearwater",
        "FL",
        "33755",
        "727-555-0118",
        "alpinecu.example.com",
        ("Henry Walsh", "Nina Ortiz"),
        weight=12,
    ),
    CompanySeed(
        254,
        "OBrienVet",
        "O'Brien Veterinary Clinic",
        "2300 Gulf to Bay Blvd",
        "Clearwater",
        "FL",
        "33765",
        "727-555-0163",
        "obrienvet.example.com",
        ("Siobhan O'Brien", "Carlos Mendes"),
        weight=9,
    ),
    CompanySeed(
        255,
        "LitwareAccounting",
        "Litware Accounting & Tax",
        "9 Main St",
        "Brandon",
        "FL",
        "33510",
        "813-555-0125",
        "litware.example.com",
        ("Priscilla Young", "Tom Becker"),
        weight=11,
    ),
    CompanySeed(
        256,
        "BlueYonderArch",
        "Blue Yonder Architects",
        "77 Channelside Dr",
        "Tampa",
        "FL",
        "33602",
        "813-555-0199",
        "blueyonder.example.com",
        ("Adam Fisher",),
        deleted=True,
        weight=0,
    ),
)


@dataclass(frozen=True)
class MemberSeed:
    id: int
    identifier: str
    first_name: str
    last_name: str
    title: str
    primary_email: str = ""
    office_email: str = ""
    license_class: str = "F"
    inactive: bool = False
    admin: bool = False
    security_role: str = "Technician"
    default_board_id: int = SERVICE_DESK_BOARD_ID


MEMBERS: tuple[MemberSeed, ...] = (
    MemberSeed(
        142,
        "jdoe",
        "Jane",
        "Doe",
        "Service Desk Lead",
        "jane.doe@example.com",
        "jane.doe@example.com",
        admin=True,
        security_role="Admin",
    ),
    MemberSeed(
        143,
        "msmith",
        "Marcus",
        "Smith",
        "Systems Engineer",
        "marcus.smith@example.com",
        "marcus.smith@example.com",
    ),
    MemberSeed(
        144,
        "pnguyen",
        "Priya",
        "Nguyen",
        "Help Desk Technician",
        "priya.nguyen@example.com",
        "priya.nguyen@example.com",
    ),
    MemberSeed(
        145,
        "tgarcia",
        "Tomás",
        "García",
        "Network Engineer",
        "tomas.garcia@example.com",
        "tomas.garcia@example.com",
        default_board_id=ESCALATIONS_BOARD_ID,
    ),
    MemberSeed(
        146,
        "akowalski",
        "Anna",
        "Kowalski",
        "Help Desk Technician",
        "anna.kowalski@example.com",
        "anna.kowalski@example.com",
    ),
    # primary and office addresses differ so email matching has to look at both
    MemberSeed(
        147,
        "dokafor",
        "David",
        "Okafor",
        "Escalations Engineer",
        "d.okafor@example.com",
        "david.okafor@example.com",
        default_board_id=ESCALATIONS_BOARD_ID,
    ),
    MemberSeed(
        148,
        "rbrooks",
        "Ryan",
        "Brooks",
        "Help Desk Technician",
        "ryan.brooks@example.com",
        "ryan.brooks@example.com",
        inactive=True,
    ),
    MemberSeed(
        150,
        API_MEMBER_IDENTIFIER,
        "Psabot",
        "Integration",
        "API member for psabot",
        license_class="A",
        security_role="Admin",
    ),
    MemberSeed(
        151,
        RESTRICTED_MEMBER_IDENTIFIER,
        "Restricted",
        "Integration",
        "API member without rights",
        license_class="A",
        security_role="No Access",
    ),
)

ACTIVE_TECHS = ("jdoe", "msmith", "pnguyen", "tgarcia", "akowalski", "dokafor")
ESCALATION_TECHS = ("dokafor", "tgarcia", "msmith")


@dataclass(frozen=True)
class BoardSeed:
    id: int
    name: str
    department: tuple[int, str, str]
    inactive: bool = False


BOARDS: tuple[BoardSeed, ...] = (
    BoardSeed(SERVICE_DESK_BOARD_ID, "Service Desk", (10, "Services", "Managed Services")),
    BoardSeed(ESCALATIONS_BOARD_ID, "Escalations", (12, "Engineering", "Engineering")),
    BoardSeed(
        LEGACY_BOARD_ID, "Legacy Helpdesk", (10, "Services", "Managed Services"), inactive=True
    ),
)


@dataclass(frozen=True)
class StatusSeed:
    id: int
    board_id: int
    name: str
    sort: int
    escalation: str
    closed: bool = False
    inactive: bool = False
    default: bool = False
    weight: int = 0  # share of open tickets generated in this status


STATUSES: tuple[StatusSeed, ...] = (
    StatusSeed(1, SERVICE_DESK_BOARD_ID, "New", 0, "NotResponded", default=True, weight=20),
    StatusSeed(2, SERVICE_DESK_BOARD_ID, "Assigned", 1, "Responded", weight=20),
    StatusSeed(3, SERVICE_DESK_BOARD_ID, "In Progress", 2, "ResolutionPlan", weight=30),
    StatusSeed(4, SERVICE_DESK_BOARD_ID, "Waiting on Customer", 3, "NoEscalation", weight=20),
    StatusSeed(5, SERVICE_DESK_BOARD_ID, "Scheduled", 4, "ResolutionPlan", weight=10),
    StatusSeed(6, SERVICE_DESK_BOARD_ID, "Resolved", 5, "Resolved", closed=True),
    StatusSeed(7, SERVICE_DESK_BOARD_ID, "Closed", 6, "Resolved", closed=True),
    StatusSeed(
        8, SERVICE_DESK_BOARD_ID, "Waiting on Parts (retired)", 7, "NoEscalation", inactive=True
    ),
    StatusSeed(21, ESCALATIONS_BOARD_ID, "New", 0, "NotResponded", default=True, weight=25),
    StatusSeed(22, ESCALATIONS_BOARD_ID, "Engineering Review", 1, "ResolutionPlan", weight=50),
    StatusSeed(23, ESCALATIONS_BOARD_ID, "Waiting on Vendor", 2, "NoEscalation", weight=25),
    StatusSeed(24, ESCALATIONS_BOARD_ID, "Resolved", 3, "Resolved", closed=True),
    StatusSeed(25, ESCALATIONS_BOARD_ID, "Closed", 4, "Resolved", closed=True),
    StatusSeed(31, LEGACY_BOARD_ID, "Open", 0, "NotResponded", default=True),
    StatusSeed(32, LEGACY_BOARD_ID, "Closed", 1, "Resolved", closed=True),
)


@dataclass(frozen=True)
class PrioritySeed:
    id: int
    name: str
    color: str
    sort: int
    severity: str
    impact: str
    weight: int
    default: bool = False


PRIORITIES: tuple[PrioritySeed, ...] = (
    PrioritySeed(8, "Priority 1 - Emergency Response", "Red", 1, "High", "High", 7),
    PrioritySeed(7, "Priority 2 - Quick Response", "Orange", 2, "Medium", "High", 15),
    PrioritySeed(
        4, "Priority 3 - Normal Response", "Blue", 3, "Medium", "Medium", 60, default=True
    ),
    PrioritySeed(15, "Priority 4 - Schedule Maintenance", "Green", 4, "Low", "Low", 15),
    PrioritySeed(16, "Do Not Respond", "Gray", 5, "Low", "Low", 3),
)

SOURCES: tuple[tuple[int, str], ...] = ((2, "Phone"), (3, "Email"), (5, "Portal"), (6, "Alert"))


@dataclass(frozen=True)
class Topic:
    """A kind of problem: ticket summaries plus the notes engineers write about it."""

    summaries: tuple[str, ...]
    notes: tuple[str, ...]
    resolution: str
    devices: tuple[str, ...] = ()


TOPICS: tuple[Topic, ...] = (
    Topic(
        (
            "Printer in {room} jams on every print job",
            "{printer} showing offline for the whole office",
            "Scan to email stopped working on the {printer}",
        ),
        (
            "Remoted into the print server, queue was stuck; restarted the spooler.",
            "Toner low and fuser error 50.2 on the panel, ordered replacement parts.",
            "Asked {contact} to power cycle the printer and send a photo of the panel.",
        ),
        "Replaced the fuser and cleared the queue; test page printed fine.",
        ("PRN01", "PRN02", "MFP01"),
    ),
    Topic(
        (
            "VPN disconnects every 20 minutes for {contact}",
            "Cannot connect to VPN from home since the FortiClient update",
            "Remote staff get 'credential prompt' loop on VPN",
        ),
        (
            "Checked firewall logs: DPD timeouts from the user's ISP.",
            "Reinstalled FortiClient 7.2 and re-imported the profile.",
            "Waiting for {contact} to test from home tonight.",
        ),
        "Lowered the IKE lifetime and pushed the new VPN profile; stable for 48 hours.",
        ("FW01", "LT-{initials}"),
    ),
    Topic(
        (
            "Outlook not syncing shared mailbox for {contact}",
            "Emails to {domain} bouncing with 550 5.7.1",
            "Suspicious email reported by {contact} (possible phish)",
        ),
        (
            "Rebuilt the Outlook profile; shared mailbox re-added with full access.",
            "Message trace shows SPF fail from the new marketing platform.",
            "Purged the message from all mailboxes and blocked the sender domain.",
        ),
        "Mail flow confirmed with a message trace; user confirmed everything syncs.",
        ("LT-{initials}",),
    ),
    Topic(
        (
            "Backup job failed on {server} last night",
            "Veeam offsite copy job stuck at 0%",
            "Restore request: deleted folder on S: drive",
        ),
        (
            "Job failed with VSS error 0x800423f4; rebooted {server} after hours.",
            "Repository is 94% full, pruned old restore points.",
            "Restored the folder from last night's restore point to a temp location.",
        ),
        "Backups completed successfully two nights in a row; closing.",
        ("{server}", "NAS01"),
    ),
    Topic(
        (
            "New hire onboarding: {newhire} starts Monday",
            "Offboarding: disable accounts for {newhire}",
            "Microsoft 365 license request for {newhire}",
        ),
        (
            "Created the AD and M365 accounts, license assigned, added to groups.",
            "Laptop imaged and enrolled in Intune; waiting for hardware token.",
            "Accounts disabled, mailbox converted to shared, manager given access.",
        ),
        "Onboarding checklist complete; credentials handed to the office manager.",
        ("LT-{initials}",),
    ),
    Topic(
        (
            "Wi-Fi very slow in {room}",
            "Conference room TV will not cast from laptops",
            "Network drop in {room} is dead",
        ),
        (
            "Channel utilization at 85% on the {room} AP, moved to channel 149.",
            "Toned out the drop: patch cable in the closet was unplugged.",
            "Firmware on the access points is two versions behind, scheduled update.",
        ),
        "Updated AP firmware and re-balanced channels; speed tests back to normal.",
        ("AP-{room_code}", "SW01"),
    ),
    Topic(
        (
            "{server} disk space low (C: 92% full)",
            "Windows updates failing on {server}",
            "Domain certificate expires in 14 days",
        ),
        (
            "Cleared WinSxS and old IIS logs, 18 GB freed.",
            "Update KB5034439 fails with 0x80070643, recovery partition too small.",
            "Generated a CSR and sent it to {contact} for approval.",
        ),
        "Freed space and set up a log rotation task; monitoring alert cleared.",
        ("{server}",),
    ),
    Topic(
        (
            "QuickBooks will not open after the update",
            "Line-of-business app crashes on launch for {contact}",
            "Install Adobe Acrobat Pro for {contact}",
        ),
        (
            "Repaired the installation and rebuilt the company file index.",
            "App log shows missing .NET 4.8 runtime, installed it.",
            "Deployed the package through Intune; waiting on the license key.",
        ),
        "Application launches normally; confirmed with {contact}.",
        ("WS-{initials}",),
    ),
    Topic(
        (
            "MFA prompt not appearing on new phone for {contact}",
            "Password reset and account unlock for {contact}",
            "Locked out after too many attempts",
        ),
        (
            "Verified identity by callback, reset MFA registration.",
            "Account locked by a stale credential on the old phone's mail app.",
            "Sent the self-service password reset link.",
        ),
        "User signed in with MFA successfully.",
        (),
    ),
    Topic(
        (
            "Laptop screen flickering for {contact}",
            "Docking station not detecting monitors",
            "Keyboard and mouse lag on {contact}'s workstation",
        ),
        (
            "Updated the Intel graphics driver and dock firmware.",
            "Swapped the USB-C dock with a spare, issue follows the laptop.",
            "Booked an onsite visit to replace the display panel under warranty.",
        ),
        "Replaced the display panel under warranty; no flicker since.",
        ("LT-{initials}", "WS-{initials}"),
    ),
)

ROOMS = (
    "Reception",
    "Conference Room B",
    "2nd floor",
    "Exam Room 3",
    "Warehouse",
    "Break Room",
    "Main Office",
    "Records Room",
)
PRINTERS = (
    "HP LaserJet M404",
    "Brother MFC-L8900",
    "Canon imageRUNNER C3530",
    "Xerox VersaLink C405",
)
NEW_HIRES = (
    "Maria Lopez",
    "Kevin Park",
    "Aisha Khan",
    "Daniel Novak",
    "Grace Kim",
    "Luis Romero",
    "Emily Carter",
    "Sam Whitfield",
)
GENERIC_NOTES = (
    "Called {contact}, left a voicemail to schedule a time.",
    "Remoted in with ScreenConnect and reproduced the issue.",
    "{contact} confirmed the workaround is fine for now.",
    "Escalated to vendor support, case opened.",
)
