"""Credentials at rest: Fernet encryption with rotatable keys, and masked hints for display.

Keys come newest first (PSABOT_ENCRYPTION_KEYS). New ciphertext always uses the newest key;
any listed key decrypts, so an operator rotates by putting a new key in front, running
`psabot rotate-keys`, and later dropping the old key.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

KEY_FILE_NAME = "encryption.key"


class CredentialDecryptError(Exception):
    """Stored credentials could not be decrypted (wrong keys, or the data was altered)."""


class InvalidEncryptionKey(ValueError):
    """A configured key is not a valid Fernet key."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(raw: str) -> list[str]:
    """Comma-separated keys, newest first; blanks ignored."""
    return [k.strip() for k in raw.split(",") if k.strip()]


class CredentialCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise InvalidEncryptionKey("no encryption key configured")
        fernets: list[Fernet] = []
        for index, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError) as exc:
                # Never echo the key itself, only its position.
                raise InvalidEncryptionKey(
                    f"encryption key #{index} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes; `psabot keygen` makes one)"
                ) from exc
        self._multi = MultiFernet(fernets)
        self._newest = fernets[0]
        self._keys = tuple(keys)

    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys

    def __repr__(self) -> str:
        return f"CredentialCipher(<{len(self._keys)} key(s)>)"

    def encrypt(self, plaintext: bytes) -> str:
        return self._newest.encrypt(plaintext).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        try:
            return self._multi.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise CredentialDecryptError(
                "stored PSA credentials could not be decrypted: the encryption keys do not "
                "match (check PSABOT_ENCRYPTION_KEYS) or the stored data was altered"
            ) from exc

    def encrypt_json(self, value: dict[str, str]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode())

    def decrypt_json(self, token: str) -> dict[str, str]:
        data = json.loads(self.decrypt(token))
        if not isinstance(data, dict):
            raise CredentialDecryptError("stored PSA credentials have an unexpected shape")
        return {str(k): str(v) for k, v in data.items()}

    def rotate(self, token: str) -> str:
        """Re-encrypt with the newest key (no-op in effect if it already is)."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise CredentialDecryptError(
                "a stored credential could not be decrypted with any configured key"
            ) from exc


def mask(secret: str, visible: int = 4) -> str:
    """`••••••ghij`: enough to recognise a key, never enough to use it."""
    secret = secret.strip()
    if len(secret) <= visible * 2:
        return "•" * 6
    return "•" * 6 + secret[-visible:]


def load_or_create_key_file(data_dir: Path) -> list[str]:
    """The embedded-mode key: read it, or generate it once with mode 0600 and a warning."""
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return parse_keys(path.read_text(encoding="ascii"))
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    log.warning(
        "PSABOT_ENCRYPTION_KEYS is not set: generated an encryption key at %s (mode 0600). "
        "Back it up; without it stored PSA credentials cannot be read. In production set "
        "PSABOT_ENCRYPTION_KEYS instead.",
        path,
    )
    return [key]
