"""Turn a failure outside chat into one or two sentences an operator can act on."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

from bot.settings import ConfigError, Settings
from storage.crypto import CredentialDecryptError, InvalidEncryptionKey
from storage.doctor import url_parts


class OperatorError(Exception):
    """A failure whose message already says what to do; printed as is, without a traceback."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _where(settings: Settings | None) -> str:
    parts = url_parts(settings.database_url) if settings and settings.database_url else None
    return f"{parts.host}:{parts.port}" if parts else "the database"


def _database_name(settings: Settings | None) -> str:
    parts = url_parts(settings.database_url) if settings and settings.database_url else None
    return (parts.database if parts else "") or "psabot"


def explain(exc: BaseException, settings: Settings | None = None) -> str | None:
    """The operator's sentence for a known failure, or None for an unexpected one."""
    for cause in _chain(exc):
        if isinstance(cause, OperatorError | ConfigError | InvalidEncryptionKey):
            text = str(cause)
            if isinstance(cause, InvalidEncryptionKey) and "PSABOT_ENCRYPTION_KEYS" not in text:
                text = f"PSABOT_ENCRYPTION_KEYS: {text}."
            return text
        if isinstance(cause, CredentialDecryptError):
            return (
                "A stored credential cannot be decrypted with the keys in PSABOT_ENCRYPTION_KEYS: "
                "list every key still in use, newest first (`new,old`), and try again."
            )
        if isinstance(cause, ModuleNotFoundError) or type(cause).__name__ == "NoSuchModuleError":
            return (
                "PSABOT_DATABASE_URL uses a database driver psabot does not ship: write it as "
                "postgresql+asyncpg://user:password@host:5432/dbname."
            )
        name = type(cause).__name__
        text = str(cause)
        if name == "InvalidCatalogNameError" or ('database "' in text and "does not exist" in text):
            db = _database_name(settings)
            return (
                f"The database `{db}` does not exist on {_where(settings)}: create it "
                f"(`createdb {db}`), then run `psabot migrate`."
            )
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return (
                f"PostgreSQL at {_where(settings)} refused the user or password: fix them in "
                "PSABOT_DATABASE_URL."
            )
        if isinstance(cause, ConnectionRefusedError):
            return (
                f"Nothing is listening at {_where(settings)} (connection refused): start "
                "PostgreSQL there, or fix the host and port in PSABOT_DATABASE_URL."
            )
        if isinstance(cause, socket.gaierror):
            return (
                f"The database host of {_where(settings)} does not resolve: fix the host in "
                "PSABOT_DATABASE_URL."
            )
        if isinstance(cause, TimeoutError):
            return (
                f"The database at {_where(settings)} did not answer in time: check that it is "
                "up and that no firewall drops the connection."
            )
    return None


def port_problem(exc: OSError, host: str, port: int) -> OperatorError:
    """A bind failure as an OperatorError naming the fix."""
    if exc.errno == errno.EADDRINUSE:
        return OperatorError(
            f"Port {port} on {host} is already in use (another psabot?): stop that process "
            "or choose another port with --port."
        )
    if exc.errno == errno.EACCES:
        return OperatorError(
            f"Not allowed to listen on port {port}: use a port above 1023 (and a reverse "
            "proxy for 443), or run with the needed capability."
        )
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return OperatorError(
            f"Cannot listen on {host}: it is not an address of this machine; use --host "
            "127.0.0.1 or 0.0.0.0."
        )
    return OperatorError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket for host:port, or an OperatorError that says what is in the way."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise port_problem(exc, host, port) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise port_problem(exc, host, port) from None
    sock.setblocking(False)
    return sock
