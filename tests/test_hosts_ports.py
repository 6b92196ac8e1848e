"""Allow-list entries without a port allow only the default port; bad sites are field errors."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from transcript import Chat

from bot.runtime import Runtime
from psa.connectwise.hosts import GuardedResolver, HostPolicy
from psa.connectwise.sandbox import OPEN_TICKET_ID, SandboxServer
from psa.errors import InvalidSite, SiteNotAllowed
from psa.types import ConnectionSettings


@pytest.mark.parametrize(
    ("allowed", "site", "origin"),
    [
        ("localhost", "localhost", "http://localhost"),
        ("localhost", "http://localhost:80", "http://localhost:80"),
        ("127.0.0.1", "https://127.0.0.1:443", "https://127.0.0.1:443"),
        ("10.0.0.5", "10.0.0.5", "https://10.0.0.5"),
        ("10.0.0.5", "10.0.0.5:443", "https://10.0.0.5:443"),
        ("127.0.0.1:8765", "127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("cw.lan:8443", "cw.lan:8443", "https://cw.lan:8443"),
    ],
)
def test_port_less_entry_allows_the_default_port(allowed: str, site: str, origin: str) -> None:
    assert HostPolicy([allowed]).check_site(site).origin == origin


@pytest.mark.parametrize(
    ("allowed", "site"),
    [
        ("localhost", "localhost:5432"),  # what an owner could aim Basic auth at before
        ("localhost", "localhost:6379"),
        ("127.0.0.1", "127.0.0.1:5432"),
        ("127.0.0.1", "http://127.0.0.1:443"),  # 443 is not http's default port
        ("10.0.0.5", "10.0.0.5:8443"),
        ("::1", "[::1]:9000"),
        ("cw.lan", "https://cw.lan:80"),
        ("127.0.0.1:8765", "127.0.0.1"),  # a port entry does not allow the default port
    ],
)
def test_port_less_entry_refuses_other_ports(allowed: str, site: str) -> None:
    with pytest.raises(SiteNotAllowed):
        HostPolicy([allowed]).check_site(site)


@pytest.mark.parametrize(
    "site",
    [
        "127.0.0.1\\.myconnectwise.net",
        "na .myconnectwise.net",
        "na.myconnectwise.net\\",
        "xn--zz.myconnectwise.net",  # not valid punycode
        "-na.myconnectwise.net",
        "na..myconnectwise.net",
        ("a" * 64) + ".myconnectwise.net",
        "[::1",
        "na.myconnectwise.net:99999",
        "na.myconnectwise.net:port",
    ],
)
def test_sites_the_url_library_refuses_are_invalid_input(site: str) -> None:
    with pytest.raises(InvalidSite, match=r"like na\.myconnectwise\.net"):
        HostPolicy(["127.0.0.1"]).check_site(site)


def test_international_cloud_names_use_their_ascii_form() -> None:
    site = HostPolicy().check_site("bücher.myconnectwise.net")
    assert site.origin == "https://xn--bcher-kva.myconnectwise.net"


class _FakeDNS(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host="10.1.2.3", port=port, family=family, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


async def test_resolver_honours_the_port_of_the_entry() -> None:
    resolver = GuardedResolver(HostPolicy(["cw.lan"]), _FakeDNS())
    assert await resolver.resolve("cw.lan", 443)
    with pytest.raises(OSError, match="private"):
        await resolver.resolve("cw.lan", 5432)
    exact = GuardedResolver(HostPolicy(["cw.lan:8443"]), _FakeDNS())
    assert await exact.resolve("cw.lan", 8443)
    with pytest.raises(OSError, match="private"):
        await exact.resolve("cw.lan", 443)


async def test_connect_form_shows_an_unparseable_site_on_the_site_field(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    chat = Chat(sqlite_runtime, admin=True)
    creds = cw_sandbox.credentials
    form = [creds.company_id, creds.public_key, creds.private_key, ""]
    out = await chat.say(
        "/ticket connect",
        [
            "127.0.0.1\\.myconnectwise.net",
            *form,
            "na .myconnectwise.net",
            *form,
            cw_sandbox.host_port,
            *form,
        ],
    )
    assert "Site: '127.0.0.1\\\\.myconnectwise.net' is not a valid host name" in out
    assert "Site: 'na .myconnectwise.net' is not a valid host name" in out
    assert "Something went wrong" not in out
    assert "Connected: ConnectWise company Psabot Demo MSP" in out


async def test_a_stored_bad_site_is_reported_not_crashed(
    sqlite_runtime: Runtime, cw_sandbox: SandboxServer
) -> None:
    """A connection saved before the site check got stricter fails with a clear sentence."""
    creds = cw_sandbox.credentials
    bad = ConnectionSettings(
        "connectwise",
        "127.0.0.1\\.myconnectwise.net",
        creds.company_id,
        creds.public_key,
        creds.private_key,
        creds.client_id,
    )
    async with sqlite_runtime.store.unit() as uow:
        account = await uow.accounts.get_or_create("shell", "acme", "acme")
        await uow.connections.save(account.id, bad, saved_by="jane.doe")
        await uow.owners.add(account.id, "jane.doe", "jane.doe")
    out = await Chat(sqlite_runtime).say(f"/ticket link {OPEN_TICKET_ID}")
    assert "That ConnectWise site can't be used" in out and "not a valid host name" in out
    assert "Something went wrong" not in out
