"""Which ConnectWise web links name a ticket of *this* connection (for unfurls).

ConnectWise's web UI opens a ticket under two addresses, both carried after the codebase
folder (`v4_6_release/` on premises, `v2025_1/` and the like in the cloud):

* `…/services/system_io/Service/fv_sr100_request.rails?service_recid=<id>&companyName=<co>`:
  the ticket page; `ConnectWiseProvider.ticket_url` builds this one for "Open in ConnectWise";
* `…/ConnectWise.aspx?routeTo=ServiceFV&recid=<id>&companyName=<co>`: the router the UI's
  own "copy link" and e-mail links go through.

The cloud hosts (na.myconnectwise.net, …) serve every ConnectWise customer, so there the
host alone says nothing about whose ticket it is: the link must also name the connection's
company id. On an MSP's own server the host is theirs; a company name, when given, must
still match. Anything else (another host, another port, another company, a bare number) is
not ours and is never looked up.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from psa.connectwise.hosts import DEFAULT_PORTS, Site

MAX_URL = 2048  # characters; a ticket link is about 150
MAX_TICKET_ID = 2**31 - 1  # ConnectWise record ids are 32-bit integers
_CODEBASE = r"(?:[A-Za-z0-9_.\-]{1,40}/)?"
_TICKET_PAGE = re.compile(
    rf"^/{_CODEBASE}services/system_io/service/fv_sr100_request\.rails$", re.IGNORECASE
)
_ROUTER_PAGE = re.compile(rf"^/{_CODEBASE}connectwise\.aspx$", re.IGNORECASE)


def _record_id(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_TICKET_ID else None


def _same_site(scheme: str, host: str, port: int | None, site: Site) -> bool:
    if scheme not in DEFAULT_PORTS or host.rstrip(".").lower() != site.host.lower():
        return False
    return (port or DEFAULT_PORTS[scheme]) == (site.port or DEFAULT_PORTS[site.scheme])


def ticket_id_in_url(url: str, site: Site, company_id: str) -> int | None:
    """The ticket id a link to `site`'s web UI names for `company_id`, or None."""
    if len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port out of range, brackets that do not close
        return None
    if parts.username or parts.password or not parts.hostname:
        return None
    if not _same_site(parts.scheme.lower(), parts.hostname, port, site):
        return None
    try:
        query = {k.lower(): v for k, v in parse_qsl(parts.query, max_num_fields=20)}
    except ValueError:  # more fields than any ticket link has
        return None
    if _TICKET_PAGE.match(parts.path):
        ticket = _record_id(query.get("service_recid"))
    elif _ROUTER_PAGE.match(parts.path) and query.get("routeto", "").lower() == "servicefv":
        ticket = _record_id(query.get("recid"))
    else:
        return None
    company = query.get("companyname")
    if company is None:
        return None if site.is_cloud else ticket  # a shared cloud host: whose ticket?
    return ticket if company.strip().casefold() == company_id.strip().casefold() else None
