"""The dependency rules of DESIGN.md §2, checked on the source rather than hoped for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAT_SDKS = (
    "slack_bolt",
    "slack_sdk",
    "botbuilder",
    "botframework",
    "microsoft_agents",
    "microsoft_teams",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in modules(package):
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_handlers_use_no_chat_sdk_and_no_http_server() -> None:
    assert (
        offenders("handlers", (*CHAT_SDKS, "aiohttp", "bot.slack", "bot.teams", "bot.shell")) == []
    )


@pytest.mark.parametrize("package", ["psa", "storage"])
def test_psa_and_storage_never_import_bot_or_handlers(package: str) -> None:
    assert offenders(package, ("bot", "handlers", *CHAT_SDKS)) == []


def test_core_is_platform_neutral() -> None:
    assert offenders("bot/core", (*CHAT_SDKS, "aiohttp", "bot.slack", "bot.teams")) == []


def test_only_the_slack_transport_imports_slack() -> None:
    bad = [
        o for o in offenders("bot", ("slack_bolt", "slack_sdk")) if not o.startswith("bot/slack/")
    ]
    assert bad == []


def test_only_the_teams_transport_imports_the_agents_sdk() -> None:
    forbidden = ("microsoft_agents", "microsoft_teams")
    bad = [o for o in offenders("bot", forbidden) if not o.startswith("bot/teams/")]
    assert bad == []


def test_no_sql_outside_storage() -> None:
    bad = []
    for package in ("bot", "handlers", "psa"):
        bad += offenders(package, ("sqlalchemy",))
    assert bad == []


TRANSPORTS = ("bot/slack", "bot/teams", "bot/shell")


def test_transports_share_the_core_worker_and_history_instead_of_their_own() -> None:
    """Bounded background work, the slot limiter and post-history wording live in bot/core
    (transport.py, history.py); a transport folder only uses them."""
    own = ("asyncio.Semaphore", "import working", "ticket linked by", "wanted to add", "NOTE_LABEL")
    bad = [
        f"{path.relative_to(ROOT)} has {needle!r}"
        for folder in TRANSPORTS
        for path in modules(folder)
        for needle in own
        if needle in path.read_text(encoding="utf-8")
    ]
    assert bad == []
