"""The Teams app package (manifest v1.30, icons, zip), built without any Microsoft SDK."""

from __future__ import annotations

from bot.teams_package.build import build_package, run
from bot.teams_package.manifest import (
    POST_TO_TICKET_COMMAND_ID,
    SEARCH_COMMAND_ID,
    SEARCH_PARAMETER,
    PackageError,
    PackageOptions,
    build_manifest,
)

__all__ = [
    "POST_TO_TICKET_COMMAND_ID",
    "SEARCH_COMMAND_ID",
    "SEARCH_PARAMETER",
    "PackageError",
    "PackageOptions",
    "build_manifest",
    "build_package",
    "run",
]
