"""Reading ConnectWise's `Link` header: the next page, and the pages a listing will have.

ConnectWise's navigable paging answers each page with RFC 5988 links: `first`, `prev`, `next`
and `last`, each the request URL with its `page` parameter changed. Following `next` one page
at a time is always right. When page 1 names both page 2 (`next`) and the last page (`last`),
and the two differ in nothing but the value of `page`, the URLs of pages 3 to last are known
too, so a listing may ask for several at once (see `ConnectWiseClient.get_all`). Anything else
(no `last`, as in forward-only paging; a link that changes more than `page`) gives no plan,
and the listing follows `next` page by page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from yarl import URL

log = logging.getLogger(__name__)

_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]*)"?')


def link(headers: Mapping[str, str], url: URL, rel: str) -> URL | None:
    """The first `rel` link of a response to `url`, resolved; None if absent or off-origin."""
    # Split on the <...> targets, not on commas: the URLs themselves contain commas.
    for target, rels in _LINK_RE.findall(headers.get("Link", "")):
        if rel not in rels.split():
            continue
        resolved = url.join(URL(target, encoded=True))
        # The next page must stay on the host we already trust.
        if resolved.origin() != url.origin():
            log.warning("ignoring Link header to another origin: %s", resolved.origin())
            return None
        return resolved
    return None


def _page_at(url: URL) -> tuple[list[str], int] | None:
    """The raw query's `name=value` parts and the index of the only `page` one, if any."""
    parts = url.raw_query_string.split("&")
    found = [i for i, part in enumerate(parts) if part.split("=", 1)[0].lower() == "page"]
    return (parts, found[0]) if len(found) == 1 else None


def _page_number(part: str) -> int | None:
    value = part.split("=", 1)[1] if "=" in part else ""
    return int(value) if value.isascii() and value.isdigit() else None


def later_pages(headers: Mapping[str, str], url: URL) -> list[URL] | None:
    """URLs of pages 2 to last, from page 1's `next` and `last` links; None without a plan.

    Each URL is the `next` link with only its `page` value changed, kept in the server's own
    encoding; a plan is made only when `next` is page 2 and `last` is the same URL with a
    larger page number.
    """
    nxt, last = link(headers, url, "next"), link(headers, url, "last")
    if nxt is None or last is None or nxt.with_query(None) != last.with_query(None):
        return None
    nxt_at, last_at = _page_at(nxt), _page_at(last)
    if nxt_at is None or last_at is None or nxt_at[1] != last_at[1]:
        return None
    (parts, at), (last_parts, _) = nxt_at, last_at
    count = _page_number(last_parts[at])
    others_match = parts[:at] + parts[at + 1 :] == last_parts[:at] + last_parts[at + 1 :]
    if _page_number(parts[at]) != 2 or count is None or count < 2 or not others_match:
        return None
    name = parts[at].split("=", 1)[0]
    base = str(nxt.with_query(None))
    return [
        URL(base + "?" + "&".join([*parts[:at], f"{name}={n}", *parts[at + 1 :]]), encoded=True)
        for n in range(2, count + 1)
    ]
