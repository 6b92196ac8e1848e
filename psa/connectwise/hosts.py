"""Which ConnectWise sites psabot may talk to (the SSRF guard).

A connection's site is typed by an account owner, so it is untrusted input that decides where
the bot sends credentials and requests. Accepted: the ConnectWise cloud domains (over https,
default port) and hosts listed in PSABOT_CW_ALLOWED_HOSTS (on-prem servers, a loopback
sandbox). An entry `host:port` allows that port; a bare `host` allows only the scheme's
default port (80 for http, 443 for https), never "any port". Everything else is refused, in
particular IP literals and names in private, loopback and link-local ranges. Plain http is
accepted only for allow-listed loopback hosts. At connect time `GuardedResolver` refuses DNS
answers in private ranges for hosts that are not allow-listed, so a cloud-looking name that
resolves to 169.254.169.254 is refused as well.

A site must also be a host name the URL library accepts: letters, digits and hyphens in dot
separated labels (international names are turned into their `xn--` form), or an IP literal.
Anything else (a backslash, a space, bad IDNA) is `InvalidSite`, which the connect form shows
on the site field.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from psa.errors import InvalidSite, SiteNotAllowed

CLOUD_DOMAINS = ("myconnectwise.net", "connectwisedev.com")
ON_PREM_CODEBASE = "v4_6_release/"
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Site:
    """A checked site: scheme, host and optional port."""

    scheme: str
    host: str
    port: int | None = None

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def is_cloud(self) -> bool:
        return is_cloud_host(self.host)

    def api_host_for(self, codebase: str) -> Site:
        """Cloud codebases are served from the `api-` host (ConnectWise's developer guide)."""
        if codebase != ON_PREM_CODEBASE and self.is_cloud and not self.host.startswith("api-"):
            return Site(self.scheme, "api-" + self.host, self.port)
        return self

    def web_host(self) -> Site:
        """The host of the web UI (without the `api-` prefix)."""
        if self.is_cloud and self.host.startswith("api-"):
            return Site(self.scheme, self.host.removeprefix("api-"), self.port)
        return self


def is_cloud_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in CLOUD_DOMAINS)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_private_address(address: str) -> bool:
    ip = _ip(address)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _is_loopback_name(host: str) -> bool:
    ip = _ip(host)
    return host == "localhost" or host.endswith(".localhost") or bool(ip and ip.is_loopback)


def _ascii_host(host: str, raw: str) -> str:
    """The host in the form DNS and the URL library use; `InvalidSite` if it has none."""
    bad = InvalidSite(f"{raw!r} is not a valid host name; enter one like na.myconnectwise.net")
    ip = _ip(host.strip("[]"))
    if ip is not None:
        return str(ip)
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        raise bad from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise bad
    if any(label.startswith("xn--") for label in labels):
        try:  # an xn-- label must decode back, or the URL library refuses it later
            ascii_host.encode("ascii").decode("idna")
        except (UnicodeError, ValueError):
            raise bad from None
    return ascii_host


def _split_host_port(entry: str) -> tuple[str, int | None]:
    bare = _ip(entry.strip())
    if bare is not None:  # a bare IPv6 address such as ::1 has colons but no port
        return str(bare), None
    parsed = urlsplit("//" + entry.strip())
    host = (parsed.hostname or "").lower().rstrip(".")
    try:
        port = parsed.port
    except ValueError as exc:
        raise ValueError(f"bad port in allowed host {entry!r}") from exc
    if not host:
        raise ValueError(f"bad allowed host {entry!r}")
    return host, port


class HostPolicy:
    """Checks site URLs against the cloud domains and the operator's allow-list."""

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        self._allowed: set[tuple[str, int | None]] = {
            _split_host_port(h) for h in allowed_hosts if h.strip()
        }

    def is_allow_listed(self, host: str, port: int | None, scheme: str | None = None) -> bool:
        """Listed for this port; a port-less entry covers only the default port of `scheme`.

        Without a scheme (the resolver, which sees only the port it connects to) a port-less
        entry covers 80 and 443, the two defaults.
        """
        host = host.lower().rstrip(".")
        defaults = {DEFAULT_PORTS[scheme]} if scheme else set(DEFAULT_PORTS.values())
        if port is None:
            if scheme is None:
                return (host, None) in self._allowed
            port = DEFAULT_PORTS[scheme]
        return (host, port) in self._allowed or ((host, None) in self._allowed and port in defaults)

    def check_site(self, site: str) -> Site:
        """Parse and check a site as typed by an owner; `SiteNotAllowed` says why not."""
        raw = site.strip()
        if not raw:
            raise SiteNotAllowed("Enter the ConnectWise site, for example na.myconnectwise.net")
        has_scheme = "://" in raw
        try:
            parsed = urlsplit(raw if has_scheme else "//" + raw)
            port = parsed.port
        except ValueError as exc:
            raise InvalidSite(
                f"{raw!r} is not a valid site; enter a host name like na.myconnectwise.net"
            ) from exc
        host = (parsed.hostname or "").lower().rstrip(".")
        if not host or parsed.username or parsed.password:
            raise InvalidSite(f"{raw!r} is not a host name like na.myconnectwise.net")
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise InvalidSite(
                f"{raw!r} has a path; enter only the host name, like na.myconnectwise.net"
            )
        host = _ascii_host(host, raw)
        scheme = (parsed.scheme or "").lower() if has_scheme else ""
        if not scheme:
            loopback_http = _is_loopback_name(host) and self.is_allow_listed(host, port, "http")
            scheme = "http" if loopback_http else "https"
        if scheme not in ("http", "https"):
            raise SiteNotAllowed(f"{raw!r}: only https sites are supported")
        checked = self._checked(raw, scheme, host, port)
        try:  # the URL library is the final judge: it must accept the origin unchanged
            url = URL(checked.origin)
        except ValueError:
            url = None
        if url is None or url.raw_host is None or url.raw_host.strip("[]") != host:
            raise InvalidSite(
                f"{raw!r} is not a valid host name; enter one like na.myconnectwise.net"
            )
        return checked

    def _checked(self, raw: str, scheme: str, host: str, port: int | None) -> Site:
        listed = self.is_allow_listed(host, port, scheme)
        if listed:
            if scheme == "http" and not _is_loopback_name(host):
                raise SiteNotAllowed(f"{host}: plain http is only allowed for a loopback sandbox")
            return Site(scheme, host, port)
        if is_cloud_host(host) and _ip(host) is None:
            if scheme != "https":
                raise SiteNotAllowed(f"{host}: ConnectWise cloud sites need https")
            if port not in (None, 443):
                raise SiteNotAllowed(f"{host}: ConnectWise cloud sites use the default port")
            return Site("https", host, None)
        if _ip(host) is not None or _is_loopback_name(host):
            raise SiteNotAllowed(
                f"{host} is a private or raw address; ask the operator to add it to "
                "PSABOT_CW_ALLOWED_HOSTS if it really is your ConnectWise server"
            )
        raise SiteNotAllowed(
            f"{host} is not a ConnectWise cloud site; an on-premises server must be added to "
            "PSABOT_CW_ALLOWED_HOSTS by the operator"
        )

    def resolver(self) -> GuardedResolver:
        return GuardedResolver(self)


class GuardedResolver(AbstractResolver):
    """DNS resolution that drops private addresses for hosts that are not allow-listed."""

    def __init__(self, policy: HostPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._policy.is_allow_listed(host, port or None):
            return results
        public = [r for r in results if not is_private_address(r["host"])]
        if not public:
            raise OSError(f"{host} resolves only to private addresses; refused")
        return public

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - passthrough
        return getattr(self._inner, name)
