"""The SSRF guard: only ConnectWise cloud hosts and allow-listed hosts are reachable."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from psa.connectwise.hosts import GuardedResolver, HostPolicy
from psa.errors import SiteNotAllowed

REFUSED = [
    "127.0.0.1",
    "localhost",
    "10.0.0.5",
    "169.254.169.254",
    "[::1]",
    "evil.com",
    "myconnectwise.net.evil.com",
    "http://na.myconnectwise.net",
    "na.myconnectwise.net:8443",
    "https://user:pw@na.myconnectwise.net",
    "na.myconnectwise.net/v4_6_release",
    "ftp://na.myconnectwise.net",
    "",
]


@pytest.mark.parametrize("site", REFUSED)
def test_refused_unless_allow_listed(site: str) -> None:
    with pytest.raises(SiteNotAllowed):
        HostPolicy().check_site(site)


@pytest.mark.parametrize(
    "site", ["na.myconnectwise.net", "https://eu.myconnectwise.net/", "api-na.myconnectwise.net"]
)
def test_cloud_hosts_accepted(site: str) -> None:
    checked = HostPolicy().check_site(site)
    assert checked.scheme == "https" and checked.port is None


@pytest.mark.parametrize(
    ("allowed", "site", "origin"),
    [
        ("127.0.0.1", "127.0.0.1", "http://127.0.0.1"),
        ("localhost:8765", "localhost:8765", "http://localhost:8765"),
        ("10.0.0.5", "10.0.0.5", "https://10.0.0.5"),
        ("169.254.169.254", "https://169.254.169.254", "https://169.254.169.254"),
        ("::1", "[::1]", "http://[::1]"),
        ("[::1]:9000", "[::1]:9000", "http://[::1]:9000"),
        ("cw.internal.example", "cw.internal.example", "https://cw.internal.example"),
    ],
)
def test_allow_listed_hosts_accepted(allowed: str, site: str, origin: str) -> None:
    assert HostPolicy([allowed]).check_site(site).origin == origin


def test_plain_http_only_for_loopback() -> None:
    with pytest.raises(SiteNotAllowed, match="loopback"):
        HostPolicy(["10.0.0.5"]).check_site("http://10.0.0.5")


def test_allow_list_port_must_match() -> None:
    with pytest.raises(SiteNotAllowed):
        HostPolicy(["127.0.0.1:8000"]).check_site("127.0.0.1:9000")


def test_api_host_and_web_host() -> None:
    site = HostPolicy().check_site("na.myconnectwise.net")
    assert site.api_host_for("v2025_1/").host == "api-na.myconnectwise.net"
    assert site.api_host_for("v4_6_release/").host == "na.myconnectwise.net"
    assert site.api_host_for("v2025_1/").web_host().host == "na.myconnectwise.net"
    local = HostPolicy(["127.0.0.1:1"]).check_site("127.0.0.1:1")
    assert local.api_host_for("v2025_1/") == local


class _FakeDNS(AbstractResolver):
    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.answers
        ]

    async def close(self) -> None:
        return None


async def test_resolver_refuses_cloud_names_pointing_inside() -> None:
    rebinding = GuardedResolver(HostPolicy(), _FakeDNS(["169.254.169.254", "10.1.2.3"]))
    with pytest.raises(OSError, match="private"):
        await rebinding.resolve("na.myconnectwise.net", 443)
    mixed = GuardedResolver(HostPolicy(), _FakeDNS(["10.1.2.3", "52.1.2.3"]))
    assert [r["host"] for r in await mixed.resolve("na.myconnectwise.net", 443)] == ["52.1.2.3"]
    listed = GuardedResolver(HostPolicy(["cw.lan"]), _FakeDNS(["10.1.2.3"]))
    assert [r["host"] for r in await listed.resolve("cw.lan", 443)] == ["10.1.2.3"]
