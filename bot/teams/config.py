"""psabot's MICROSOFT_APP_* settings mapped onto the Agents SDK's connection settings."""

from __future__ import annotations

import ipaddress

from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import AuthTypes

from bot.settings import Settings

SINGLE_TENANT = "singletenant"
MULTI_TENANT = "multitenant"
# Multi-tenant Entra apps get their Bot Framework tokens from this tenant.
BOT_FRAMEWORK_TENANT = "botframework.com"


def auth_enabled(settings: Settings) -> bool:
    return bool(settings.microsoft_app_id)


def app_type(settings: Settings) -> str:
    return (settings.microsoft_app_type or "SingleTenant").replace("-", "").replace(" ", "").lower()


def _loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> str | None:
    """Why `psabot serve` must not start with these Teams settings on `host`, or None."""
    if not auth_enabled(settings):
        if _loopback(host):
            return None
        return (
            f"Teams authentication is off because MICROSOFT_APP_ID is not set, which is only "
            f"allowed on a loopback address; set MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD "
            f"or serve with --host 127.0.0.1 (not {host})."
        )
    kind = app_type(settings)
    if kind not in (SINGLE_TENANT, MULTI_TENANT):
        return (
            f"MICROSOFT_APP_TYPE must be SingleTenant or MultiTenant, not "
            f"{settings.microsoft_app_type!r}."
        )
    if settings.microsoft_app_password is None:
        return (
            "MICROSOFT_APP_ID is set but MICROSOFT_APP_PASSWORD is not; set the bot's "
            "client secret."
        )
    if kind == SINGLE_TENANT and not settings.microsoft_app_tenant_id:
        return (
            "A SingleTenant bot needs MICROSOFT_APP_TENANT_ID (the Entra tenant of its app "
            "registration); set it, or MICROSOFT_APP_TYPE=MultiTenant."
        )
    return None


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The SDK's SERVICE_CONNECTION settings (CLIENTID, CLIENTSECRET, TENANTID, AUTHTYPE)."""
    if not auth_enabled(settings):
        return AgentAuthConfiguration(anonymous_allowed=True)
    tenant = (
        settings.microsoft_app_tenant_id
        if app_type(settings) == SINGLE_TENANT
        else BOT_FRAMEWORK_TENANT
    )
    secret = settings.microsoft_app_password
    return AgentAuthConfiguration(
        auth_type=AuthTypes.client_secret,
        client_id=settings.microsoft_app_id,
        tenant_id=tenant,
        client_secret=secret.get_secret_value() if secret is not None else None,
        connection_name="SERVICE_CONNECTION",
    )


def connection_manager(config: AgentAuthConfiguration) -> MsalConnectionManager:
    return MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": config})
