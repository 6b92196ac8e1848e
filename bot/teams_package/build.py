"""`psabot teams-package`: build the app package for MICROSOFT_APP_ID and write it out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.failures import OperatorError
from bot.settings import Settings
from bot.teams_package.archive import MANIFEST_FILE, package_bytes, write_atomically
from bot.teams_package.icons import color_icon, outline_icon
from bot.teams_package.manifest import (
    COLOR_ICON,
    DEFAULT_UNFURL_DOMAINS,
    OUTLINE_ICON,
    PackageError,
    PackageOptions,
    app_version,
    build_manifest,
)


def build_package(options: PackageOptions) -> bytes:
    """The zip's bytes; the command menu comes from the handlers' own router."""
    from handlers import root_router  # the command list never drifts from the handlers

    manifest = build_manifest(options, root_router().commands)
    return package_bytes(manifest, color_icon(), outline_icon())


def run(
    settings: Settings,
    *,
    out: str,
    base_url: str | None = None,
    name: str | None = None,
    developer_name: str | None = None,
    developer_url: str | None = None,
    version: str | None = None,
    unfurl_domains: Sequence[str] = (),
) -> int:
    """Build and write the package; bad input is an OperatorError of one sentence."""
    try:
        if not settings.microsoft_app_id:
            raise PackageError(
                "MICROSOFT_APP_ID is not set: set it to the Azure Bot's Microsoft App ID "
                "(docs/teams.md, step 1), then run psabot teams-package again."
            )
        target = Path(out)
        if target.suffix.lower() != ".zip":
            raise PackageError(
                f"--out must name a .zip file, for example psabot-teams.zip (got {out})."
            )
        if not target.parent.is_dir():
            raise PackageError(
                f"The folder {target.parent} does not exist; create it or pick another --out."
            )
        options = PackageOptions(
            app_id=settings.microsoft_app_id,
            name=name if name is not None else "psabot",
            base_url=base_url,
            developer_name=developer_name if developer_name is not None else "psabot",
            developer_url=developer_url,
            version=version if version is not None else app_version(__version__),
            unfurl_domains=tuple(unfurl_domains) or DEFAULT_UNFURL_DOMAINS,
        )
        write_atomically(target, build_package(options))
    except PackageError as exc:
        raise OperatorError(str(exc)) from None
    except OSError as exc:
        raise OperatorError(
            f"Cannot write {out} ({exc.strerror or exc}); pick another --out."
        ) from None
    print(
        f"wrote {out} ({MANIFEST_FILE}, {COLOR_ICON}, {OUTLINE_ICON}); upload it in the Teams "
        "admin center or as a custom app (docs/teams.md)"
    )
    return 0
