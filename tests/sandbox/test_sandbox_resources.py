"""Sandbox: boards, statuses, priorities, companies, members, configurations, system info."""

from __future__ import annotations

import pytest

from psa.connectwise import conditions as c
from psa.connectwise.sandbox import ESCALATION_TICKET_ID, OPEN_TICKET_ID

from .helpers import CWClient


async def test_system_info(cw: CWClient) -> None:
    reply = await cw.get("/system/info")

    assert reply.body["version"].startswith("v2025.1")
    assert reply.body["isCloud"] is True
    assert reply.body["serverTimeZone"]
    assert reply.body["cloudRegion"] == "NA"


async def test_active_boards(cw: CWClient) -> None:
    every = await cw.get("/service/boards")
    active = await cw.get("/service/boards", params={"conditions": "inactiveFlag = False"})
    by_name = await cw.get(
        "/service/boards", params={"conditions": str(c.eq("name", "escalations"))}
    )

    assert len(every.body) == 3
    assert [b["name"] for b in active.body] == ["Service Desk", "Escalations"]
    assert [b["id"] for b in by_name.body] == [3]


async def test_board_by_id(cw: CWClient) -> None:
    reply = await cw.get("/service/boards/1")
    missing = await cw.get("/service/boards/77")

    assert reply.body["name"] == "Service Desk"
    assert reply.body["location"]["name"] and reply.body["department"]["name"]
    assert missing.status == 404


async def test_board_statuses(cw: CWClient) -> None:
    service = await cw.get("/service/boards/1/statuses")
    active = await cw.get("/service/boards/1/statuses", params={"conditions": "inactive=false"})
    escalations = await cw.get("/service/boards/3/statuses")
    one = await cw.get("/service/boards/1/statuses/6")
    elsewhere = await cw.get("/service/boards/3/statuses/6")

    names = [s["name"] for s in active.body]
    assert names == [
        "New",
        "Assigned",
        "In Progress",
        "Waiting on Customer",
        "Scheduled",
        "Resolved",
        "Closed",
    ]
    assert len(service.body) == 8
    assert {s["name"] for s in active.body if s["closedStatus"]} == {"Resolved", "Closed"}
    assert [s["defaultFlag"] for s in active.body].count(True) == 1
    assert all(s["board"]["id"] == 1 for s in service.body)
    escalation_ids = {s["id"] for s in escalations.body}
    assert escalation_ids.isdisjoint({s["id"] for s in service.body})
    assert {"New", "Closed"} <= {s["name"] for s in escalations.body}
    assert one.body["closedStatus"] is True
    assert elsewhere.status == 404


async def test_priorities(cw: CWClient) -> None:
    reply = await cw.get("/service/priorities", params={"orderBy": "sortOrder asc"})
    one = await cw.get("/service/priorities/4")

    assert reply.body[0]["name"] == "Priority 1 - Emergency Response"
    assert [p["defaultFlag"] for p in reply.body].count(True) == 1
    assert one.body["name"] == "Priority 3 - Normal Response"


async def test_companies(cw: CWClient) -> None:
    active = await cw.get("/company/companies", params={"conditions": "deletedFlag = false"})
    by_identifier = await cw.get(
        "/company/companies", params={"conditions": str(c.eq("identifier", "ContosoDental"))}
    )
    by_name = await cw.get(
        "/company/companies", params={"conditions": str(c.contains_words(["name"], "o'brien"))}
    )
    one = await cw.get("/company/companies/250")
    missing = await cw.get("/company/companies/1")

    assert len(active.body) == 7
    assert "BlueYonderArch" not in {co["identifier"] for co in active.body}
    assert [co["id"] for co in by_identifier.body] == [250]
    assert [co["name"] for co in by_name.body] == ["O'Brien Veterinary Clinic"]
    assert one.body["name"] == "Contoso Dental Group"
    assert missing.status == 404


async def test_members_by_email_as_the_provider_looks_them_up(cw: CWClient) -> None:
    condition = c.all_of(
        [c.eq("primaryEmail", "Jane.Doe@example.com"), c.eq("inactiveFlag", False)]
    )
    by_primary = await cw.get("/system/members", params={"conditions": str(condition)})
    by_office = await cw.get(
        "/system/members",
        params={"conditions": str(c.eq("officeEmail", "david.okafor@example.com"))},
    )
    listing = await cw.get(
        "/system/members",
        params={
            "conditions": 'inactiveFlag = false and licenseClass != "A"',
            "fields": "id,identifier,firstName,lastName,primaryEmail,officeEmail,inactiveFlag,"
            "licenseClass",
        },
    )

    assert [m["identifier"] for m in by_primary.body] == ["jdoe"]
    assert [m["identifier"] for m in by_office.body] == ["dokafor"]
    assert by_office.body[0]["primaryEmail"] != by_office.body[0]["officeEmail"]
    identifiers = {m["identifier"] for m in listing.body}
    assert identifiers == {"jdoe", "msmith", "pnguyen", "tgarcia", "akowalski", "dokafor"}
    assert all(
        set(m)
        <= {
            "id",
            "identifier",
            "firstName",
            "lastName",
            "primaryEmail",
            "officeEmail",
            "inactiveFlag",
            "licenseClass",
        }
        for m in listing.body
    )


async def test_member_list_includes_inactive_and_api_members(cw: CWClient) -> None:
    reply = await cw.get("/system/members")

    by_identifier = {m["identifier"]: m for m in reply.body}
    assert by_identifier["rbrooks"]["inactiveFlag"] is True
    assert by_identifier["PsabotAPI"]["licenseClass"] == "A"
    assert 8 <= len(reply.body) <= 10


@pytest.mark.parametrize("key", ["142", "jdoe", "JDoe"])
async def test_member_by_id_or_identifier(cw: CWClient, key: str) -> None:
    reply = await cw.get(f"/system/members/{key}")

    assert reply.status == 200
    assert reply.body["identifier"] == "jdoe"


async def test_missing_member_gets_404(cw: CWClient) -> None:
    reply = await cw.get("/system/members/nobody")

    assert reply.status == 404
    assert reply.body["code"] == "NotFound"


async def test_ticket_configurations(cw: CWClient) -> None:
    printer = await cw.get(f"/service/tickets/{OPEN_TICKET_ID}/configurations")
    backup = await cw.get(f"/service/tickets/{ESCALATION_TICKET_ID}/configurations")
    none = await cw.get("/service/tickets/48250/configurations")

    assert [x["deviceIdentifier"] for x in printer.body] == [
        "CD-FRONTDESK-PRN01",
        "CD-RECEPTION-PC02",
    ]
    assert all(set(x) == {"id", "deviceIdentifier", "_info"} for x in printer.body)
    assert [x["deviceIdentifier"] for x in backup.body] == ["ACU-FS01"]
    assert none.body == []
