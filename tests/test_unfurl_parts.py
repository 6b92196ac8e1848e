"""The pieces behind unfurls: which links are the connection's tickets, `#number` mentions,
the per-channel budget, the stored owner choice (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from bot.core.unfurl import MentionBudget, preview_command, ticket_mentions
from psa.connectwise.hosts import Site
from psa.connectwise.links import ticket_id_in_url
from storage.store import Store

CLOUD = Site("https", "na.myconnectwise.net")
ON_PREM = Site("https", "psa.msp.example")
PAGE = "services/system_io/Service/fv_sr100_request.rails"


@pytest.mark.parametrize(
    ("url", "site", "expected"),
    [
        # what ConnectWiseProvider.ticket_url builds, cloud and on premises
        (
            f"https://na.myconnectwise.net/v2025_1/{PAGE}?service_recid=48213&companyName=acme",
            CLOUD,
            48213,
        ),
        (
            f"https://psa.msp.example/v4_6_release/{PAGE}?service_recid=7&companyName=ACME",
            ON_PREM,
            7,
        ),
        # the UI's router links
        (
            "https://na.myconnectwise.net/v4_6_release/ConnectWise.aspx?locale=en_US&routeTo=ServiceFV&recid=99&companyName=Acme",
            CLOUD,
            99,
        ),
        (
            "https://psa.msp.example/v4_6_release/connectwise.aspx?routeto=servicefv&recid=99",
            ON_PREM,
            99,
        ),
        # no company: fine on the MSP's own host, unknowable on a shared cloud host
        (f"https://psa.msp.example/v4_6_release/{PAGE}?service_recid=5", ON_PREM, 5),
        (f"https://na.myconnectwise.net/v4_6_release/{PAGE}?service_recid=5", CLOUD, None),
        # another company, another host, another port, credentials in the link
        (
            f"https://na.myconnectwise.net/v4_6_release/{PAGE}?service_recid=5&companyName=globex",
            CLOUD,
            None,
        ),
        (
            f"https://eu.myconnectwise.net/v4_6_release/{PAGE}?service_recid=5&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"https://na.myconnectwise.net:8443/v4_6_release/{PAGE}?service_recid=5&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"https://na.myconnectwise.net:443/v4_6_release/{PAGE}?service_recid=5&companyName=acme",
            CLOUD,
            5,
        ),
        (
            f"https://u:p@na.myconnectwise.net/v4_6_release/{PAGE}?service_recid=5&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"https://na.myconnectwise.net.evil.example/v4_6_release/{PAGE}?service_recid=5&companyName=acme",
            CLOUD,
            None,
        ),
        # not a ticket page or not a ticket id
        (
            "https://na.myconnectwise.net/v4_6_release/ConnectWise.aspx?routeTo=CompanyFV&recid=5&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"https://na.myconnectwise.net/v4_6_release/{PAGE}?service_recid=0&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"https://na.myconnectwise.net/v4_6_release/{PAGE}?service_recid=99999999999&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"https://na.myconnectwise.net/v4_6_release/{PAGE}?service_recid=١٢&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"https://na.myconnectwise.net/a/b/c/{PAGE}?service_recid=5&companyName=acme",
            CLOUD,
            None,
        ),
        (
            f"ftp://na.myconnectwise.net/v4_6_release/{PAGE}?service_recid=5&companyName=acme",
            CLOUD,
            None,
        ),
        ("https://na.myconnectwise.net:99999/x", CLOUD, None),
        ("https://[::1/x", CLOUD, None),
        ("https://na.myconnectwise.net/" + "x" * 3000, CLOUD, None),
        ("#48213", CLOUD, None),
    ],
)
def test_only_the_connections_own_ticket_links_are_recognised(
    url: str, site: Site, expected: int | None
) -> None:
    assert ticket_id_in_url(url, site, "acme") == expected


def test_ticket_mentions() -> None:
    assert ticket_mentions("see #48213 and #48207, again #48213") == ["#48213", "#48207"]
    assert ticket_mentions("#1 #12 <#C123|general> &#12345; page#12345 #1234x a#999") == []
    assert ticket_mentions("#001234") == ["#1234"]
    assert ticket_mentions(" ".join(f"#{n}" for n in range(1000, 1010))) == [
        "#1000",
        "#1001",
        "#1002",
    ]
    assert preview_command(" #5 ").text == "unfurl card #5"


def test_mention_budget_answers_a_ticket_once_and_bounds_a_channel() -> None:
    now = [0.0]
    budget = MentionBudget(window=60, per_window=3, clock=lambda: now[0])
    assert budget.take("T", "C", "#1") is True
    assert budget.take("T", "C", "#1") is False  # the same ticket again
    assert budget.take("T", "C2", "#1") is True  # another channel has its own
    assert budget.take("T", "C", "#2") is True
    assert budget.take("T", "C", "#3") is True
    assert budget.take("T", "C", "#4") is False  # the channel's three cards are used
    now[0] = 61.0
    assert budget.take("T", "C", "#4") is True  # a new window
    assert budget.take("T", "C", "#1") is True  # and the first answer has expired


async def test_owner_choice_is_stored_per_account_and_channel(store: Store) -> None:
    async with store.unit() as uow:
        acme = await uow.accounts.get_or_create("slack", "T1", "Acme")
        globex = await uow.accounts.get_or_create("slack", "T2", "Globex")
    async with store.unit() as uow:
        assert await uow.unfurls.allowed(acme.id, "C1") is False
        assert await uow.unfurls.set(acme.id, "C1", True, "U1") is True
        assert await uow.unfurls.set(acme.id, "C1", True, "U2") is False  # no change
    async with store.unit() as uow:
        assert await uow.unfurls.allowed(acme.id, "C1") is True
        assert await uow.unfurls.allowed(acme.id, "C2") is False
        assert await uow.unfurls.allowed(globex.id, "C1") is False  # tenants never mix
        setting = await uow.unfurls.get(acme.id, "C1")
        assert setting is not None and setting.set_by == "U1"
        assert await uow.unfurls.set(acme.id, "C1", False, "U3") is True
    async with store.unit() as uow:
        assert await uow.unfurls.allowed(acme.id, "C1") is False
        setting = await uow.unfurls.get(acme.id, "C1")
        assert setting is not None and setting.set_by == "U3"
