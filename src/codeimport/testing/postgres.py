"""Finding a PostgreSQL server for the tests, the demo and the
benchmarks, and throw-away databases on it.

In this order (`find_server`): a configured DSN, the local server, an
embedded one from the ``pgserver`` package (the ``embedded`` extra).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from codeimport.database import redact_dsn
from codeimport.errors import ConfigurationError

__all__ = ["Server", "create_database", "drop_database", "find_server"]


@dataclass
class Server:
    """A PostgreSQL server we may create databases on.

    `dsn` connects to its maintenance database; `origin` says where it
    came from ("configured", "local" or "embedded").
    """

    dsn: str
    origin: str
    _embedded: object = None

    def database_dsn(self, name: str) -> str:
        """Return a DSN for database `name` on this server."""
        params = psycopg2.extensions.parse_dsn(self.dsn)
        params["dbname"] = name
        return psycopg2.extensions.make_dsn(**params)

    def close(self) -> None:
        """Stop the embedded server if we started it and nobody else uses
        it (pgserver counts its users)."""
        if self._embedded is not None:
            self._embedded.cleanup()
            self._embedded = None


_LOCAL_CANDIDATES = (
    "host=/var/run/postgresql user=postgres dbname=postgres",
    "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
)


def _problem(dsn: str) -> str | None:
    """Why `dsn` does not answer (the driver's first line), or None."""
    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
    except psycopg2.Error as error:
        lines = str(error).strip().splitlines()
        return lines[0] if lines else type(error).__name__
    return None


def _answers(dsn: str) -> bool:
    return _problem(dsn) is None


def find_server(configured: str | None = None, *,
                allow_local: bool = True) -> Server:
    """Find a server: `configured`, else a local one, else an embedded one.

    A configured server that does not answer is an error, never a reason
    to fall back: data meant for it must not land elsewhere.

    :param configured: a DSN; None or "" means none is configured.
    :param allow_local: try the local candidates (a socket in
        ``/var/run/postgresql``, then 127.0.0.1:5432, as ``postgres``).
    :raises ConfigurationError: if `configured` is given but does not
        answer, or no server can be had at all.
    """
    if configured:
        problem = _problem(configured)
        if problem is not None:
            raise ConfigurationError(
                "Cannot connect to the configured database "
                f"{redact_dsn(configured)!r}: {problem}")
        return Server(configured, "configured")
    if allow_local:
        for candidate in _LOCAL_CANDIDATES:
            if _answers(candidate):
                return Server(candidate, "local")
    return _embedded_server()


def _embedded_server() -> Server:
    try:
        import pgserver
    except ImportError as error:  # pragma: no cover - declared dependency
        raise ConfigurationError(f"pgserver is not installed: {error}")
    pgdata = os.environ.get("CODEIMPORT_PGDATA") or os.path.join(
        tempfile.gettempdir(), f"codeimport-pgdata-{os.getuid()}")
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as error:
        raise ConfigurationError(
            f"Could not start the embedded PostgreSQL in {pgdata}: {error}"
        ) from error
    return Server(server.get_uri(), "embedded", server)


def create_database(server: Server, name: str) -> str:
    """(Re)create an empty database `name` and return its DSN."""
    drop_database(server, name)
    connection = psycopg2.connect(server.dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(
                sql.Identifier(name)))
    finally:
        connection.close()
    return server.database_dsn(name)


def drop_database(server: Server, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its users."""
    connection = psycopg2.connect(server.dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
    finally:
        connection.close()
