"""Bot Framework token check for POST /api/messages: every failure is a 401, never a 500.

The SDK's JwtTokenValidator does the validation (signature from Microsoft's published keys,
audience = our app id, issuer/tenant binding). Around it: a missing or malformed header, a
token without a key id, keys that cannot be fetched (Microsoft's metadata unreachable) and a
validation that takes too long all end as "not authenticated", never as an exception.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientCacheEntry,
    _JwkClientManager,
)

log = logging.getLogger(__name__)

VALIDATION_BUDGET = 10.0  # seconds; Teams retries a request that gets no answer


class _KeysFrom(_JwkClientManager):
    """Signing keys from one fixed JWKS address (a test's own key server)."""

    def __init__(self, jwks_url: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.jwks_url = jwks_url

    def _get_jwk_client(self, jwks_uri: str) -> _JwkClientCacheEntry:
        return super()._get_jwk_client(self.jwks_url)


class TokenCheck:
    """Validates the Authorization header of one request against our app registration."""

    def __init__(self, config: AgentAuthConfiguration, *, jwks_url: str | None = None) -> None:
        self.config = config
        self.validator = JwtTokenValidator(config)
        if jwks_url is not None:
            # an instance attribute shadows the SDK's process-wide key cache
            self.validator._jwk_client_manager = _KeysFrom(jwks_url)

    async def identity(self, header: str | None) -> ClaimsIdentity | None:
        """The caller's verified claims, or None (answer 401)."""
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        try:
            return await asyncio.wait_for(
                self.validator.validate_token(parts[1]), timeout=VALIDATION_BUDGET
            )
        except Exception as exc:  # any failure of any kind: not authenticated
            log.warning("teams request refused: token not valid (%s)", type(exc).__name__)
            return None


def claims_for_app(app_id: str | None) -> ClaimsIdentity:
    """The identity proactive sends use: our app's own (anonymous when auth is off)."""
    if not app_id:
        return ClaimsIdentity()
    claims: dict[str, Any] = {"aud": app_id, "appid": app_id}
    return ClaimsIdentity(claims, authentication_type="Bearer")
