"""Builders for records and reference objects in ConnectWise wire shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psa.connectwise.sandbox import catalog
from psa.connectwise.sandbox.catalog import CompanySeed, MemberSeed, StatusSeed
from psa.connectwise.sandbox.errors import JsonObject

# fixed, and in the past, so that edits made "now" always sort as the most recent
DEFAULT_ANCHOR = datetime(2025, 11, 3, 16, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def info(moment: datetime, by: str, **hrefs: str) -> JsonObject:
    return {"lastUpdated": iso(moment), "updatedBy": by, **hrefs}


def company_ref(company: JsonObject) -> JsonObject:
    return {
        "id": company["id"],
        "identifier": company["identifier"],
        "name": company["name"],
        "_info": {"company_href": f"company/companies/{company['id']}"},
    }


def board_ref(board: JsonObject) -> JsonObject:
    return {
        "id": board["id"],
        "name": board["name"],
        "_info": {"board_href": f"service/boards/{board['id']}"},
    }


def status_ref(status: JsonObject) -> JsonObject:
    board_id = status["board"]["id"]
    return {
        "id": status["id"],
        "name": status["name"],
        "sort": status["sortOrder"],
        "_info": {"status_href": f"service/boards/{board_id}/statuses/{status['id']}"},
    }


def member_ref(member: JsonObject) -> JsonObject:
    return {
        "id": member["id"],
        "identifier": member["identifier"],
        "name": f"{member['firstName']} {member['lastName']}",
        "_info": {
            "member_href": f"system/members/{member['id']}",
            "image_href": f"system/members/{member['identifier']}/image?lm={iso(DEFAULT_ANCHOR)}",
        },
    }


def priority_ref(priority: JsonObject) -> JsonObject:
    return {
        "id": priority["id"],
        "name": priority["name"],
        "sort": priority["sortOrder"],
        "_info": {
            "priority_href": f"service/priorities/{priority['id']}",
            "image_href": f"service/priorities/{priority['id']}/image?lm={iso(DEFAULT_ANCHOR)}",
        },
    }


def company_record(seed: CompanySeed, anchor: datetime, guid: str) -> JsonObject:
    record: JsonObject = {
        "id": seed.id,
        "identifier": seed.identifier,
        "name": seed.name,
        "status": {
            "id": 2 if seed.deleted else 1,
            "name": "Inactive" if seed.deleted else "Active",
            "_info": {"status_href": f"company/companies/statuses/{2 if seed.deleted else 1}"},
        },
        "addressLine1": seed.address,
        "city": seed.city,
        "state": seed.state,
        "zip": seed.zip,
        "country": {
            "id": 1,
            "identifier": "US",
            "name": "United States",
            "_info": {"country_href": "company/countries/1"},
        },
        "phoneNumber": seed.phone,
        "website": f"www.{seed.domain}",
        "territory": {"id": 2, "name": "Main", "_info": {"location_href": "system/locations/2"}},
        "dateAcquired": iso(anchor - timedelta(days=400 + 37 * (seed.id % 11))),
        "leadFlag": False,
        "unsubscribeFlag": False,
        "deletedFlag": seed.deleted,
        "mobileGuid": guid,
        "isVendorFlag": False,
        "types": [
            {
                "id": 5 if seed.type_name == "Owner" else 1,
                "name": seed.type_name,
                "_info": {"type_href": "company/companies/types/1"},
            }
        ],
        "site": {
            "id": 1000 + seed.id,
            "name": "Main",
            "_info": {"site_href": f"company/companies/{seed.id}/sites/{1000 + seed.id}"},
        },
        "_info": info(
            anchor - timedelta(days=30 + seed.id % 17),
            "jdoe",
            contacts_href=f"company/contacts?conditions=company/id={seed.id}",
            sites_href=f"company/companies/{seed.id}/sites",
        ),
    }
    if seed.deleted:
        record["dateDeleted"] = iso(anchor - timedelta(days=60))
        record["deletedBy"] = "jdoe"
    return record


def member_record(seed: MemberSeed, anchor: datetime, boards: dict[int, JsonObject]) -> JsonObject:
    record: JsonObject = {
        "id": seed.id,
        "identifier": seed.identifier,
        "firstName": seed.first_name,
        "lastName": seed.last_name,
        "title": seed.title,
        "licenseClass": seed.license_class,
        "disableOnlineFlag": seed.license_class == "A",
        "inactiveFlag": seed.inactive,
        "hireDate": iso(anchor - timedelta(days=300 + 53 * (seed.id % 13))),
        "defaultEmail": "Office",
        "defaultPhone": "Office",
        "officePhone": f"813-555-{seed.id:04d}",
        "securityRole": {
            "id": 60 + len(seed.security_role),
            "name": seed.security_role,
            "_info": {"securityRole_href": "system/securityroles/63"},
        },
        "adminFlag": seed.admin,
        "dailyCapacity": 8.0,
        "timeZone": {
            "id": 1,
            "name": "US Eastern",
            "_info": {"timeZoneSetup_href": "system/timeZoneSetups/1"},
        },
        "defaultLocation": {
            "id": 2,
            "name": "Main",
            "_info": {"location_href": "system/locations/2"},
        },
        "defaultDepartment": {
            "id": 10,
            "identifier": "Services",
            "name": "Managed Services",
            "_info": {"department_href": "system/departments/10"},
        },
        "serviceDefaultBoard": board_ref(boards[seed.default_board_id]),
        "_info": info(anchor - timedelta(days=20 + seed.id % 9), "jdoe"),
    }
    if seed.office_email:
        record["officeEmail"] = seed.office_email
    if seed.primary_email:
        record["primaryEmail"] = seed.primary_email
    if seed.inactive:
        record["inactiveDate"] = iso(anchor - timedelta(days=75))
    return record


def board_record(seed: catalog.BoardSeed, anchor: datetime) -> JsonObject:
    dept_id, dept_identifier, dept_name = seed.department
    return {
        "id": seed.id,
        "name": seed.name,
        "location": {"id": 2, "name": "Main", "_info": {"location_href": "system/locations/2"}},
        "department": {
            "id": dept_id,
            "identifier": dept_identifier,
            "name": dept_name,
            "_info": {"department_href": f"system/departments/{dept_id}"},
        },
        "inactiveFlag": seed.inactive,
        "sendToContactFlag": False,
        "sendToResourceFlag": True,
        "projectFlag": False,
        "billTicketsAfterClosedFlag": False,
        "billTicketSeparatelyFlag": False,
        "billUnapprovedTimeExpenseFlag": False,
        "overrideBillingSetupFlag": False,
        "workRole": {
            "id": 11,
            "name": "Technician",
            "_info": {"workRole_href": "time/workRoles/11"},
        },
        "workType": {
            "id": 4,
            "name": "Remote Support",
            "_info": {"workType_href": "time/workTypes/4"},
        },
        "billTime": "Billable",
        "billExpense": "Billable",
        "billProduct": "Billable",
        "autoAssignNewTicketsFlag": False,
        "discussionsLockedFlag": False,
        "timeEntryLockedFlag": False,
        "problemSort": "Descending",
        "resolutionSort": "Ascending",
        "internalAnalysisSort": "Descending",
        "_info": info(anchor - timedelta(days=200), "jdoe"),
    }


def status_record(seed: StatusSeed, anchor: datetime, boards: dict[int, JsonObject]) -> JsonObject:
    return {
        "id": seed.id,
        "name": seed.name,
        "board": board_ref(boards[seed.board_id]),
        "sortOrder": seed.sort,
        "displayOnBoard": not seed.inactive,
        "inactive": seed.inactive,
        "closedStatus": seed.closed,
        "timeEntryNotAllowed": False,
        "roundRobinCatchall": False,
        "defaultFlag": seed.default,
        "escalationStatus": seed.escalation,
        "customerPortalFlag": not seed.inactive,
        "saveTimeAsNote": False,
        "_info": info(anchor - timedelta(days=180), "jdoe"),
    }


def priority_record(seed: catalog.PrioritySeed) -> JsonObject:
    return {
        "id": seed.id,
        "name": seed.name,
        "color": seed.color,
        "sortOrder": seed.sort,
        "defaultFlag": seed.default,
        "_info": {
            "priority_href": f"service/priorities/{seed.id}",
            "image_href": f"service/priorities/{seed.id}/image?lm={iso(DEFAULT_ANCHOR)}",
        },
    }


def contact_fields(company: CompanySeed, contact_index: int) -> JsonObject:
    name = company.contacts[contact_index % len(company.contacts)]
    local = ".".join(part.lower().replace("'", "") for part in name.split())
    contact_id = company.id * 10 + contact_index % len(company.contacts)
    return {
        "contact": {
            "id": contact_id,
            "name": name,
            "_info": {"contact_href": f"company/contacts/{contact_id}"},
        },
        "contactName": name,
        "contactPhoneNumber": company.phone.replace("-", ""),
        "contactEmailAddress": f"{local}@{company.domain}",
    }
