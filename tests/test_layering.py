"""The dependency rules of DESIGN.md §2, checked on the source rather than hoped for."""

from __future__ import annotations

import ast
import re
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


def test_handlers_and_core_import_no_transport() -> None:
    transports = ("bot.slack", "bot.teams", "bot.shell", "bot.teams_package")
    assert offenders("handlers", transports) + offenders("bot/core", transports) == []


SLACK_MARKUP = (
    ("a `/ticket` literal (format the transport's prefix)", re.compile(r"/ticket\b")),
    ("Slack bold", re.compile(r"(?<![\w*])\*(?=[^\s*])[^*\n]*[^\s*\\]\*(?![\w*])")),
    ("a Slack link", re.compile(r"<(?:https?|mailto):[^>]*\|")),
    ("a Slack mention", re.compile(r"<@U")),
)


def _joined(node: ast.JoinedStr) -> str:
    """An f-string's text with `{…}` where values go (so `*{name}*` is seen whole)."""
    return "".join(part.value if isinstance(part, ast.Constant) else "{…}" for part in node.values)


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string a user could see: constants and f-strings, function docstrings included
    (help shows them); the module docstring is for readers of the source only, patterns
    given to `re.compile` are not text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_doc = ast.get_docstring(tree, clean=False)
    patterns = {  # regular expressions are not text anyone reads
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compile"
        for arg in node.args
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in patterns:
            continue
        if isinstance(node, ast.JoinedStr):
            found.append((node.lineno, _joined(node)))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value != module_doc
        ):
            found.append((node.lineno, node.value))
    return found


def markup_offenders(package: str) -> list[str]:
    bad = []
    for path in modules(package):
        for line, text in string_literals(path):
            for what, pattern in SLACK_MARKUP:
                if pattern.search(text):
                    bad.append(f"{path.relative_to(ROOT)}:{line} has {what}: {text[:60]!r}")
    return bad


@pytest.mark.parametrize("package", ["handlers", "bot/core"])
def test_no_slack_markup_or_command_prefix_in_handlers_or_core(package: str) -> None:
    assert markup_offenders(package) == []


def test_the_markup_check_catches_slack_markup(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'A = "Run `/ticket help`."\nB = f"now *{name}*"\nC = "*Open*"\n'
        'D = "<https://x.example|x>"\nE = "<@U123|jane>"\nF = "**fine** `code` {cmd}"\n',
        encoding="utf-8",
    )
    found = {
        what for _, text in string_literals(sample) for what, p in SLACK_MARKUP if p.search(text)
    }
    assert len(found) == len(SLACK_MARKUP)
    fine = [t for _, t in string_literals(sample) if t.startswith("**")]
    assert fine and not any(p.search(fine[0]) for _, p in SLACK_MARKUP)


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


@pytest.mark.parametrize("package", ["bot", "psa", "handlers", "storage"])
def test_bench_only_dependencies_stay_out_of_the_product(package: str) -> None:
    # pyconnectwise is the `bench` extra (bench/peer.py compares with it); a deployment
    # installed without that extra must still import every module
    assert offenders(package, ("pyconnectwise",)) == []
