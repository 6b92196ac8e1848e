"""Which fields each endpoint lets `conditions` and `orderBy` name, and their types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["int", "str", "bool", "datetime"]


@dataclass(frozen=True)
class FieldSpec:
    path: tuple[str, ...]
    kind: Kind


@dataclass(frozen=True)
class Resource:
    """A queryable collection; field names are matched case-insensitively, as ConnectWise does."""

    name: str
    fields: Mapping[str, FieldSpec]

    def field(self, name: str) -> FieldSpec | None:
        return self.fields.get(name.casefold())


def _resource(name: str, spec: Mapping[str, Kind | tuple[str, Kind]]) -> Resource:
    fields: dict[str, FieldSpec] = {}
    for field_name, value in spec.items():
        path, kind = (field_name, value) if isinstance(value, str) else value
        fields[field_name.casefold()] = FieldSpec(tuple(path.split("/")), kind)
    return Resource(name, fields)


_INFO_DATES: dict[str, Kind | tuple[str, Kind]] = {
    "lastUpdated": ("_info/lastUpdated", "datetime"),
    "_info/lastUpdated": "datetime",
    "_info/updatedBy": "str",
}

TICKETS = _resource(
    "ticket",
    {
        "id": "int",
        "summary": "str",
        "recordType": "str",
        "closedFlag": "bool",
        "closedDate": "datetime",
        "closedBy": "str",
        "company/id": "int",
        "company/name": "str",
        "company/identifier": "str",
        "board/id": "int",
        "board/name": "str",
        "status/id": "int",
        "status/name": "str",
        "priority/id": "int",
        "priority/name": "str",
        "owner/id": "int",
        "owner/identifier": "str",
        "owner/name": "str",
        "contact/id": "int",
        "contact/name": "str",
        "contactName": "str",
        "contactEmailAddress": "str",
        "resources": "str",
        "severity": "str",
        "impact": "str",
        "source/name": "str",
        "parentTicketId": "int",
        "customerUpdatedFlag": "bool",
        "dateEntered": ("_info/dateEntered", "datetime"),
        "_info/dateEntered": "datetime",
        "enteredBy": ("_info/enteredBy", "str"),
        **_INFO_DATES,
    },
)

NOTES = _resource(
    "serviceNote",
    {
        "id": "int",
        "ticketId": "int",
        "text": "str",
        "detailDescriptionFlag": "bool",
        "internalAnalysisFlag": "bool",
        "resolutionFlag": "bool",
        "issueFlag": "bool",
        "internalFlag": "bool",
        "externalFlag": "bool",
        "member/id": "int",
        "member/identifier": "str",
        "member/name": "str",
        "dateCreated": "datetime",
        "createdBy": "str",
        **_INFO_DATES,
    },
)

CONFIGURATIONS = _resource(
    "configurationReference",
    {
        "id": "int",
        "deviceIdentifier": "str",
    },
)

BOARDS = _resource(
    "board",
    {
        "id": "int",
        "name": "str",
        "inactiveFlag": "bool",
        "projectFlag": "bool",
        "location/id": "int",
        "department/id": "int",
        "department/name": "str",
        **_INFO_DATES,
    },
)

STATUSES = _resource(
    "boardStatus",
    {
        "id": "int",
        "name": "str",
        "board/id": "int",
        "board/name": "str",
        "sortOrder": "int",
        "displayOnBoard": "bool",
        "inactive": "bool",
        "closedStatus": "bool",
        "defaultFlag": "bool",
        "escalationStatus": "str",
        **_INFO_DATES,
    },
)

PRIORITIES = _resource(
    "priority",
    {
        "id": "int",
        "name": "str",
        "color": "str",
        "sortOrder": "int",
        "defaultFlag": "bool",
    },
)

COMPANIES = _resource(
    "company",
    {
        "id": "int",
        "identifier": "str",
        "name": "str",
        "deletedFlag": "bool",
        "status/id": "int",
        "status/name": "str",
        "city": "str",
        "state": "str",
        "zip": "str",
        "phoneNumber": "str",
        "website": "str",
        "leadFlag": "bool",
        **_INFO_DATES,
    },
)

MEMBERS = _resource(
    "member",
    {
        "id": "int",
        "identifier": "str",
        "firstName": "str",
        "lastName": "str",
        "title": "str",
        "inactiveFlag": "bool",
        "primaryEmail": "str",
        "officeEmail": "str",
        "licenseClass": "str",
        "adminFlag": "bool",
        "securityRole/name": "str",
        **_INFO_DATES,
    },
)

TIME_ENTRIES = _resource(
    "timeEntry",
    {
        "id": "int",
        "chargeToId": "int",
        "chargeToType": "str",
        "member/id": "int",
        "member/identifier": "str",
        "company/id": "int",
        "notes": "str",
        "billableOption": "str",
        "status": "str",
        "timeStart": "datetime",
        "timeEnd": "datetime",
        "ticket/id": "int",
        "dateEntered": "datetime",
        "enteredBy": "str",
        **_INFO_DATES,
    },
)

CALLBACKS = _resource(
    "callbackEntry",
    {
        "id": "int",
        "url": "str",
        "type": "str",
        "level": "str",
        "objectId": "int",
        "description": "str",
        "inactiveFlag": "bool",
    },
)
