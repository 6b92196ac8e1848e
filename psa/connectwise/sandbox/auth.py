"""API-member authentication and authorization, as ConnectWise answers it.

Decisions (the real API's exact bodies for these cases are not public):

* no or empty `clientId` header → 401 `{"code": "Unauthorized", "message": "A clientId header
  is required ..."}`; an unknown clientId (only when an allow-list is configured) → 401 too.
  401, not 400, because ConnectWise treats the clientId as part of the credentials.
* missing/malformed Basic auth, unknown company, wrong keys → 401
  `{"code": "Unauthorized", "message": "Authorization has been denied for this request."}`
  (the same text whatever was wrong, so the body never says which part was right).
* a key pair whose member has no rights → 403 `{"code": "Forbidden", ...}` on every call
  except `GET /system/info`, which any authenticated member may read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from psa.connectwise.sandbox.catalog import API_MEMBER_IDENTIFIER, RESTRICTED_MEMBER_IDENTIFIER
from psa.connectwise.sandbox.errors import ApiError

logger = logging.getLogger(__name__)

DEFAULT_COMPANY_ID = "psabot"
DENIED = "Authorization has been denied for this request."


@dataclass(frozen=True)
class ApiKey:
    """A public/private key pair and the member it acts as."""

    public_key: str
    private_key: str
    member_identifier: str
    full_access: bool = True


DEFAULT_API_KEYS: tuple[ApiKey, ...] = (
    ApiKey("sandbox-public", "sandbox-private", API_MEMBER_IDENTIFIER, full_access=True),
    ApiKey(
        "restricted-public", "restricted-private", RESTRICTED_MEMBER_IDENTIFIER, full_access=False
    ),
)

_MODULES = {
    "service": "Service Desk",
    "company": "Companies",
    "system": "System",
    "time": "Time & Expense",
}


def _basic_credentials(header: str) -> tuple[str, str]:
    """`Basic base64(login:password)` → (login, password); 401 when absent or malformed."""
    scheme, _, encoded = header.strip().partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError("not Basic auth")
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error):
        logger.debug("sandbox auth: missing or malformed Authorization header")
        raise ApiError(401, "Unauthorized", DENIED, with_errors_key=False) from None
    login, _, password = decoded.partition(":")
    return login, password


class Authenticator:
    def __init__(
        self,
        company_id: str = DEFAULT_COMPANY_ID,
        keys: Sequence[ApiKey] = DEFAULT_API_KEYS,
        client_ids: Collection[str] | None = None,
    ) -> None:
        self.company_id = company_id
        self.keys = tuple(keys)
        self.client_ids = None if client_ids is None else frozenset(client_ids)

    def authenticate(self, headers: Mapping[str, str]) -> ApiKey:
        """The key the request is signed with, or a 401 ApiError."""
        client_id = headers.get("clientId", "").strip()
        if not client_id:
            raise ApiError(
                401,
                "Unauthorized",
                "A clientId header is required. Register your integration at "
                "https://developer.connectwise.com/ClientID to get one.",
                with_errors_key=False,
            )
        if self.client_ids is not None and client_id not in self.client_ids:
            raise ApiError(401, "Unauthorized", "The clientId is not valid.", with_errors_key=False)
        login, password = _basic_credentials(headers.get("Authorization", ""))
        company, _, public_key = login.partition("+")
        for key in self.keys:
            if (
                company.casefold() == self.company_id.casefold()
                and hmac.compare_digest(public_key.encode(), key.public_key.encode())
                and hmac.compare_digest(password.encode(), key.private_key.encode())
            ):
                return key
        logger.debug("sandbox auth: unknown company or key pair")
        raise ApiError(401, "Unauthorized", DENIED, with_errors_key=False)

    @staticmethod
    def authorize(key: ApiKey, method: str, api_path: str) -> None:
        """403 unless the key's member may call `method api_path` (path below apis/3.0)."""
        if key.full_access or (method == "GET" and api_path.rstrip("/") == "/system/info"):
            return
        module = _MODULES.get(api_path.strip("/").split("/")[0], "this module")
        raise ApiError(
            403,
            "Forbidden",
            f"You do not have access to {module}. The security role of member "
            f"{key.member_identifier} does not allow this request.",
        )
