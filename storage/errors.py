"""Telling a database outage (wait and try again) from a bug (report it)."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc


def is_unavailable(error: BaseException) -> bool:
    """True when the database could not be reached, dropped the connection, or was busy.

    Such an error says nothing about the data: the same work done again later succeeds.
    """
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        # asyncpg's connection-level errors arrive wrapped; their names say what they are.
        name = type(error.orig).__name__ if error.orig is not None else ""
        return any(
            part in name
            for part in (
                "ConnectionDoesNotExist",
                "CannotConnectNow",
                "AdminShutdown",
                "ConnectionFailure",
                "ConnectionRejection",
                "TooManyConnections",
                "InterfaceError",
                "ConnectionError",
            )
        )
    return isinstance(error, ConnectionError | OSError | TimeoutError)
