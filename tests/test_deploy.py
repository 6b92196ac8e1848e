"""The shipped deployment files and docs: the unit verifies, its command exists, links resolve."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "psabot.service"
INSTALL_PREFIX = "/opt/psabot/.venv/bin/"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_unit_runs_an_existing_psabot_command_with_a_hardened_sandbox() -> None:
    service = unit()["Service"]
    words = shlex.split(service["ExecStart"])
    assert words[0] == INSTALL_PREFIX + "psabot"
    args = build_parser().parse_args(words[1:])  # `serve --host … --port …` parses
    assert args.command == "serve"
    installed = Path(sys.prefix) / "bin" / "psabot"  # the same entry point, in this checkout
    run = subprocess.run(
        [str(installed), *words[1:2], "--help"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and "usage: psabot serve" in run.stdout
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service.get("User") or service.get("DynamicUser") == "yes"
    assert service["EnvironmentFile"] == "/etc/psabot/psabot.env"
    assert service["UMask"] == "0077"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here; the unit is checked on systemd hosts")
    # The unit names the installed path; point it at this checkout's psabot so that
    # verify's "is the command executable" check means something here.
    text = UNIT.read_text(encoding="utf-8").replace(INSTALL_PREFIX, f"{sys.prefix}/bin/")
    copy = tmp_path / "psabot.service"
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", str(copy)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert result.returncode == 0, result.stderr
    assert "psabot.service" not in result.stderr, result.stderr  # no warning about our unit


def test_environment_example_names_only_real_settings() -> None:
    example = (ROOT / "deploy" / "psabot.env.example").read_text(encoding="utf-8")
    names = re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE)
    known = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        known.update(c for c in getattr(alias, "choices", ()) if isinstance(c, str) and c.isupper())
    assert names and set(names) <= known, set(names) - known


def test_scripts_the_readme_names_exist_and_run() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for script in re.findall(r"\./scripts/(\w+)", readme):
        path = ROOT / "scripts" / script
        assert path.exists() and os.access(path, os.X_OK), path
    setup = readme.split("## Quick start")[1].split("\n## ")[0]
    assert re.findall(r"^    (\./scripts/\w+)", setup, flags=re.MULTILINE) == [
        "./scripts/serve",
        "./scripts/test",
    ]


def test_docs_cite_only_files_in_the_repository() -> None:
    docs = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text and "API-NOTES" not in text, doc
        for target in re.findall(r"\b((?:docs|deploy|scripts)/[\w./-]+\.\w+)", text):
            assert (ROOT / target).exists(), f"{doc.name} cites {target}"


def test_help_claims_nothing_that_does_not_exist() -> None:
    text = build_parser().format_help()
    from bot.teams import check_bind  # Teams is there: its transport and its package command

    assert "Microsoft Teams" in text and "teams-package" in text and callable(check_bind)
