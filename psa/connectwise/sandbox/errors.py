"""ConnectWise-style API errors raised by sandbox handlers and rendered by the middleware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class FieldProblem:
    """One `errors[]` entry of an InvalidObject body (schema ValidationError)."""

    field: str
    message: str
    code: str = "InvalidObject"


class ApiError(Exception):
    """An HTTP error with the body ConnectWise would send.

    `errors` is None for bodies that carry `"errors": null`; `with_errors_key=False` leaves the
    key out entirely, as the real 401 and 500 bodies do.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: list[FieldProblem] | None = None,
        resource: str = "",
        with_errors_key: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.resource = resource
        self.with_errors_key = with_errors_key

    def body(self) -> JsonObject:
        body: JsonObject = {"code": self.code, "message": self.message}
        if self.errors is not None:
            items: list[JsonObject] = []
            for problem in self.errors:
                item: JsonObject = {"code": problem.code, "message": problem.message}
                if self.resource:
                    item["resource"] = self.resource
                if problem.field:
                    item["field"] = problem.field
                items.append(item)
            body["errors"] = items
        elif self.with_errors_key:
            body["errors"] = None
        return body


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "NotFound", f"{what} Id {ident} not found")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "InvalidObject", message)


def invalid_object(resource: str, problems: list[FieldProblem]) -> ApiError:
    return ApiError(
        400, "InvalidObject", f"{resource} object is invalid", errors=problems, resource=resource
    )


def find_condition_error(message: str) -> ApiError:
    """The error the real API gives for a conditions/orderBy it cannot read."""
    return ApiError(400, "InvalidObject", f"ApiFindCondition --> {message}")
