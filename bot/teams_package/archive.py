"""The app package: a zip holding exactly manifest.json and the two icons."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bot.teams_package.manifest import COLOR_ICON, OUTLINE_ICON

MANIFEST_FILE = "manifest.json"
# A fixed timestamp makes the same inputs give the same bytes (reproducible packages).
_EPOCH = (2025, 1, 1, 0, 0, 0)


def package_bytes(manifest: dict[str, Any], color: bytes, outline: bytes) -> bytes:
    """The zip in memory; Teams wants the three files at its root, no folders."""
    files = {
        MANIFEST_FILE: (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(),
        COLOR_ICON: color,
        OUTLINE_ICON: outline,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file beside `path`, so a failed run leaves no half a zip."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
