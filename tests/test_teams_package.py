"""`psabot teams-package`: a Teams app package that Teams' own v1.30 schema accepts.

The schema is a local copy (tests/data/teams/README.md); nothing is downloaded. The PNGs are
read back with a decoder written here from the PNG specification, not with the encoder.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from bot.core.router import Router
from bot.teams_package import (
    POST_TO_TICKET_COMMAND_ID,
    SEARCH_COMMAND_ID,
    PackageError,
    PackageOptions,
    build_manifest,
    build_package,
)
from handlers import root_router

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = (
    Path(__file__).resolve().parent / "data" / "teams" / "MicrosoftTeams.v1.30.schema.json"
)
SCHEMA_SHA256 = "dfc85799e94527a16a622988620c82de1f58e790f97001e5e6bbe37fcf6846df"
APP_ID = "1d8e5a2c-7b3f-4e21-9c0d-5a6b7c8d9e0f"
PACKAGE_FILES = ["manifest.json", "color.png", "outline.png"]

Manifest = dict[str, Any]


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    data = SCHEMA_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256, "the schema copy was edited"
    # Draft 7, not the declared draft 4: draft 4 would ignore `const` on manifestVersion.
    return Draft7Validator(json.loads(data))


def schema_errors(validator: Draft7Validator, manifest: Manifest) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]


def options(**overrides: Any) -> PackageOptions:
    values: dict[str, Any] = {"app_id": APP_ID, "base_url": "https://bot.example.com"}
    values.update(overrides)
    return PackageOptions(**values)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info) for info in archive.infolist()}


@pytest.fixture(scope="module")
def package() -> dict[str, bytes]:
    return unzip(build_package(options()))


@pytest.fixture(scope="module")
def manifest(package: dict[str, bytes]) -> Manifest:
    loaded: Manifest = json.loads(package["manifest.json"].decode("utf-8"))
    return loaded


@dataclass
class Image:
    width: int
    height: int
    pixels: list[tuple[int, int, int, int]]  # RGBA, row by row

    def at(self, x: int, y: int) -> tuple[int, int, int, int]:
        return self.pixels[y * self.width + x]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(data: bytes) -> Image:
    """Decode an 8-bit RGBA, non-interlaced PNG, checking signature, chunk CRCs and filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC on {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _comp, _filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 6, 0), "expected 8-bit RGBA, not interlaced"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * 4
    assert len(raw) == height * (stride + 1)
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up, up_left = previous[i], previous[i - 4] if i >= 4 else 0
            predictor = (0, left, up, (left + up) // 2, _paeth(left, up, up_left))[kind]
            line[i] = (line[i] + predictor) & 0xFF
        rows.append(line)
        previous = line
    pixels = [
        (row[i], row[i + 1], row[i + 2], row[i + 3]) for row in rows for i in range(0, stride, 4)
    ]
    return Image(width, height, pixels)


def psabot(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PSABOT_", "SLACK_", "MICROSOFT_APP_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the manifest -----------------------------------------------------------------------------


def test_manifest_validates_against_the_teams_schema_of_its_version(
    validator: Draft7Validator, manifest: Manifest
) -> None:
    assert manifest["manifestVersion"] == "1.30"
    assert manifest["$schema"].endswith("/teams/v1.30/MicrosoftTeams.schema.json")
    assert schema_errors(validator, manifest) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda m: m.update(manifestVersion="1.29"),
        lambda m: m["bots"][0].update(botId="not-a-guid"),
        lambda m: m["bots"][0]["commandLists"][0]["commands"].extend(
            [{"title": f"extra {i}"} for i in range(13)]
        ),
        lambda m: m["composeExtensions"][0]["commands"][0].update(title="x" * 33),
        lambda m: m.pop("icons"),
    ],
    ids=["other-version", "bad-bot-id", "too-many-commands", "long-title", "no-icons"],
)
def test_the_schema_check_catches_a_broken_manifest(
    validator: Draft7Validator, manifest: Manifest, breakage: Any
) -> None:
    broken = copy.deepcopy(manifest)
    breakage(broken)
    assert schema_errors(validator, broken) != []


def test_bot_and_message_extension_belong_to_the_azure_bot(manifest: Manifest) -> None:
    (bot,) = manifest["bots"]
    (extension,) = manifest["composeExtensions"]
    assert manifest["id"] == bot["botId"] == extension["botId"] == APP_ID
    assert sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    assert bot["isNotificationOnly"] is False

    commands = {c["id"]: c for c in extension["commands"]}
    search, post = commands[SEARCH_COMMAND_ID], commands[POST_TO_TICKET_COMMAND_ID]
    assert search["type"] == "query"
    assert len(search["parameters"]) == 1 and search["parameters"][0]["name"]
    assert post["type"] == "action"
    assert post["title"] == "Post to ticket"
    assert post["context"] == ["message"]
    assert post["fetchTask"] is True
    assert "webApplicationInfo" not in manifest  # no Teams SSO: psabot maps users itself


def test_ticket_links_of_the_connectwise_cloud_unfurl_by_default(manifest: Manifest) -> None:
    (extension,) = manifest["composeExtensions"]
    assert extension["messageHandlers"] == [
        {"type": "link", "value": {"domains": ["*.myconnectwise.net"]}}
    ]


def test_unfurl_domains_option(validator: Draft7Validator) -> None:
    own = build_manifest(
        options(unfurl_domains=("psa.msp.example", "*.myconnectwise.net", "PSA.msp.example.")),
        root_router().commands,
    )
    assert schema_errors(validator, own) == []
    (handler,) = own["composeExtensions"][0]["messageHandlers"]
    assert handler["value"]["domains"] == ["psa.msp.example", "*.myconnectwise.net"]
    for bad in ((), ("https://psa.msp.example/x",), ("*",), ("a b.example",)):
        with pytest.raises(PackageError, match="unfurl-domain"):
            build_manifest(options(unfurl_domains=bad), [])
    with pytest.raises(PackageError, match="unfurl-domain"):
        build_manifest(options(unfurl_domains=tuple(f"h{i}.example.com" for i in range(11))), [])


def test_valid_domains_and_developer_pages_come_from_the_base_url(manifest: Manifest) -> None:
    assert manifest["validDomains"] == ["bot.example.com"]
    developer = manifest["developer"]
    assert {developer[k] for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl")} == {
        "https://bot.example.com"
    }

    own = build_manifest(
        options(
            base_url="https://bot.example.com:8443/psabot/", developer_url="https://msp.example"
        ),
        [],
    )
    assert own["validDomains"] == ["bot.example.com:8443"]
    assert own["developer"]["privacyUrl"] == "https://msp.example"


def test_name_and_version_options(validator: Draft7Validator) -> None:
    named = build_manifest(options(name="Tickets", version="2.3.4"), root_router().commands)
    assert named["name"]["short"] == "Tickets"
    assert named["version"] == "2.3.4"
    assert schema_errors(validator, named) == []


@pytest.mark.parametrize(
    ("override", "flag"),
    [
        ({"app_id": "psabot"}, "MICROSOFT_APP_ID"),
        ({"name": "n" * 31}, "--name"),
        ({"base_url": "http://bot.example.com"}, "--base-url"),
        ({"base_url": None}, "--base-url"),
        ({"version": "1.0"}, "--app-version"),
    ],
)
def test_bad_options_get_one_sentence(override: dict[str, Any], flag: str) -> None:
    with pytest.raises(PackageError) as caught:
        build_manifest(options(**override), [])
    message = str(caught.value)
    assert flag in message
    assert message.endswith(".") and message.count(". ") == 0


# --- the command menu -------------------------------------------------------------------------


def test_command_menu_is_the_routers_commands(manifest: Manifest) -> None:
    (command_list,) = manifest["bots"][0]["commandLists"]
    menu = command_list["commands"]
    titles = [c["title"] for c in menu]
    specs = {" ".join(s.words): s for s in root_router().commands}

    assert set(titles) <= set(specs), "every menu entry is a command psabot understands"
    assert len(titles) == len(set(titles)) <= 12
    assert titles[-1] == "help"
    assert {"link", "note", "status", "search", "map me", "connect"} <= set(titles)
    for entry in menu:
        spec = specs[entry["title"]]
        assert not spec.hidden and not spec.owner_only
        assert entry["description"] == spec.summary.replace("`", "")
    order = [" ".join(s.words) for s in root_router().commands]
    assert titles[:-1] == sorted(titles[:-1], key=order.index), "the router's order is kept"


def test_a_larger_router_still_fits_teams_limits(validator: Draft7Validator) -> None:
    router = Router("many")
    for i in range(30):

        async def handler(request: Any) -> Any:
            raise AssertionError("never called")

        handler.__doc__ = "Does a thing. " * 400  # 5,600 characters
        router.command(f"command{i} " + "w" * 150)(handler)
    manifest = build_manifest(options(), router.commands)
    menu = manifest["bots"][0]["commandLists"][0]["commands"]
    assert len(menu) == 12
    assert schema_errors(validator, manifest) == []


# --- icons and the zip ------------------------------------------------------------------------


def test_the_zip_holds_exactly_the_manifest_and_two_icons(
    package: dict[str, bytes], manifest: Manifest
) -> None:
    assert sorted(package) == sorted(PACKAGE_FILES)
    assert {manifest["icons"]["color"], manifest["icons"]["outline"]} == {
        "color.png",
        "outline.png",
    }
    assert build_package(options()) == build_package(options()), "same inputs, same bytes"


def test_color_icon_is_192_square_opaque_and_in_colour(package: dict[str, bytes]) -> None:
    image = read_png(package["color.png"])
    assert (image.width, image.height) == (192, 192)
    assert all(a == 255 for *_rgb, a in image.pixels)
    colours = {p[:3] for p in image.pixels}
    assert (255, 255, 255) in colours and len(colours) > 2
    assert image.at(0, 0)[:3] != (255, 255, 255), "a coloured background, not white"


def test_outline_icon_is_32_square_white_on_transparent(package: dict[str, bytes]) -> None:
    image = read_png(package["outline.png"])
    assert (image.width, image.height) == (32, 32)
    visible = [p for p in image.pixels if p[3] > 0]
    assert all(p[:3] == (255, 255, 255) for p in visible), "only white may show"
    assert sum(1 for p in visible if p[3] == 255) >= 40, "a drawn outline, fully opaque in places"
    assert len(visible) < len(image.pixels) / 2, "mostly transparent: an outline, not a fill"
    for x, y in ((0, 0), (31, 0), (0, 31), (31, 31), (16, 16)):
        assert image.at(x, y)[3] == 0, f"({x}, {y}) should be transparent"


def test_the_package_imports_no_microsoft_sdk() -> None:
    forbidden = ("microsoft_agents", "microsoft_teams", "botbuilder", "botframework", "PIL")
    for path in sorted((ROOT / "bot" / "teams_package").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"


# --- the command line -------------------------------------------------------------------------


def test_cli_writes_the_package(tmp_path: Path, validator: Draft7Validator) -> None:
    result = psabot(
        "teams-package",
        "--out",
        "psabot-teams.zip",
        "--base-url",
        "https://bot.example.com",
        "--name",
        "PSA Tickets",
        cwd=tmp_path,
        env={"MICROSOFT_APP_ID": APP_ID.upper()},
    )
    assert result.returncode == 0, result.stderr
    assert "psabot-teams.zip" in result.stdout
    files = unzip((tmp_path / "psabot-teams.zip").read_bytes())
    assert sorted(files) == sorted(PACKAGE_FILES)
    written = json.loads(files["manifest.json"])
    assert written["id"] == APP_ID and written["name"]["short"] == "PSA Tickets"
    assert schema_errors(validator, written) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["psabot-teams.zip"], "no temp files left"


def test_cli_without_app_id_says_so_in_one_sentence(tmp_path: Path) -> None:
    result = psabot(
        "teams-package",
        "--out",
        "psabot-teams.zip",
        "--base-url",
        "https://bot.example.com",
        cwd=tmp_path,
        env={"MICROSOFT_APP_ID": ""},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MICROSOFT_APP_ID is not set" in lines[0]
    assert not (tmp_path / "psabot-teams.zip").exists()


def test_cli_refuses_a_missing_folder_and_a_bad_app_id(tmp_path: Path) -> None:
    missing = psabot(
        "teams-package",
        "--out",
        "nowhere/psabot-teams.zip",
        "--base-url",
        "https://bot.example.com",
        cwd=tmp_path,
        env={"MICROSOFT_APP_ID": APP_ID},
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "does not exist" in missing.stderr

    bad = psabot(
        "teams-package",
        "--out",
        "p.zip",
        "--base-url",
        "https://bot.example.com",
        cwd=tmp_path,
        env={"MICROSOFT_APP_ID": "my-bot"},
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "GUID" in bad.stderr
    assert list(tmp_path.iterdir()) == []
