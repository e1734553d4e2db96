"""Connections, the schema installer and finding a PostgreSQL server.

The schema ships as SQL inside the package: ``schema/codeimport.sql`` is
patch 0000 and ``schema/patches/NNNN-*.sql`` are applied after it, once
each, recorded in ``schemaversion``.  Roles and grants come from
``schema/roles.cfg``.  `install` is idempotent and safe to run from
several processes at once (it takes an advisory lock).
"""

from __future__ import annotations

import configparser
import os
import tempfile
from dataclasses import dataclass
from importlib import resources

import psycopg2
import psycopg2.extensions
from psycopg2 import sql
from storm.database import URI
from storm.store import Store

from codeimport.errors import ConfigurationError
from codeimport.model._storm import SessionPostgres
from codeimport.prepared import preparing_by_default

__all__ = [
    "DB_ROLES",
    "Server",
    "create_database",
    "drop_database",
    "find_server",
    "install",
    "make_store",
    "redact_dsn",
    "role_name",
]

# Short names used by people (switch_db_user, --db-role) -> real roles.
DB_ROLES = {
    "webapp": "codeimport_webapp",
    "importd": "codeimport_importd",
    "branchpuller": "codeimport_branchpuller",
}
_LOCK_ID = 0x636F6465  # "code": serialises concurrent installs
_TABLES = (
    "scriptactivity codeimporteventdata codeimportevent codeimportresult "
    "libraryfilealias libraryfilecontent codeimportjob codeimport "
    "codeimportmachine branch teamparticipation person"
).split()


def role_name(name: str | None) -> str | None:
    """Map a short role name (``importd``) to its database role."""
    if name is None or name in DB_ROLES.values():
        return name
    try:
        return DB_ROLES[name]
    except KeyError:
        raise ConfigurationError(
            f"Unknown database role {name!r}; expected one of "
            f"{', '.join(sorted(DB_ROLES))}."
        ) from None


class CodeImportPostgres(SessionPostgres):
    """Storm's PostgreSQL backend with UTC sessions and an optional role.

    It takes a libpq DSN (URI or key=value form) as it is, so every libpq
    option works, including ``host=/path/to/socket``.
    """

    def __init__(self, dsn: str, role: str | None = None,
                 isolation: str = "read-committed",
                 prepare: bool | None = None):
        super().__init__(URI(f"postgres:?isolation={isolation}"), dsn)
        self.role = role_name(role)
        #: Whether the hot statements run prepared (`codeimport.prepared`).
        self.prepare = preparing_by_default() if prepare is None else prepare

    def setUpSession(self, connection) -> None:
        cursor = connection.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")
        if self.role is not None:
            cursor.execute(sql.SQL("SET ROLE {}").format(
                sql.Identifier(self.role)))
        connection.commit()


def make_store(dsn: str, role: str | None = None,
               isolation: str = "read-committed",
               prepare: bool | None = None) -> Store:
    """Return a new Storm store on `dsn`, acting as database `role`.

    :param prepare: whether the scheduler's hot statements run as
        server-side prepared statements; None means the environment's
        choice, on unless ``CODEIMPORT_PREPARED_STATEMENTS=off`` (see
        `codeimport.prepared`).
    """
    return Store(CodeImportPostgres(dsn, role=role, isolation=isolation,
                                    prepare=prepare))


def _read_resource(*parts: str) -> str:
    return resources.files("codeimport.schema").joinpath(*parts).read_text()


def _patches() -> list[tuple[str, str]]:
    """Return (name, sql) for every patch, baseline first."""
    patches = [("0000-baseline", _read_resource("codeimport.sql"))]
    folder = resources.files("codeimport.schema").joinpath("patches")
    names = sorted(
        entry.name for entry in folder.iterdir() if entry.name.endswith(".sql")
    )
    for name in names:
        patches.append((name[:-4], folder.joinpath(name).read_text()))
    return patches


def _grants() -> dict[str, dict[str, list[str]]]:
    parser = configparser.ConfigParser()
    parser.read_string(_read_resource("roles.cfg"))
    grants = {}
    for role in parser.sections():
        grants[role] = {
            table: [p.strip().upper() for p in value.split(",") if p.strip()]
            for table, value in parser.items(role)
        }
    return grants


def _install_roles(cursor) -> None:
    for role, tables in _grants().items():
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cursor.fetchone() is None:
            try:
                cursor.execute("SAVEPOINT create_role")
                cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(
                    sql.Identifier(role)))
                cursor.execute("RELEASE SAVEPOINT create_role")
            except (psycopg2.errors.DuplicateObject,
                    psycopg2.errors.UniqueViolation):
                # Another database on this cluster created it meanwhile.
                cursor.execute("ROLLBACK TO SAVEPOINT create_role")
        for table, privileges in tables.items():
            ident = sql.Identifier(table)
            cursor.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(
                ident, sql.Identifier(role)))
            cursor.execute(sql.SQL("GRANT {} ON {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges),
                ident, sql.Identifier(role)))
            if "INSERT" in privileges:
                cursor.execute(
                    "SELECT pg_get_serial_sequence(table_name, 'id')"
                    " FROM information_schema.columns WHERE table_name = %s"
                    " AND column_name = 'id'"
                    " AND table_schema = current_schema()", (table,))
                row = cursor.fetchone()
                sequence = row[0] if row else None
                if sequence:
                    cursor.execute(sql.SQL("GRANT USAGE ON {} TO {}").format(
                        sql.SQL(sequence), sql.Identifier(role)))


def install(dsn: str) -> list[str]:
    """Create or upgrade the schema and roles in `dsn`'s database.

    :return: the names of the patches applied by this call.
    """
    connection = psycopg2.connect(dsn)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schemaversion ("
            " patch text PRIMARY KEY,"
            " date_applied timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        cursor.execute("SELECT patch FROM schemaversion")
        done = {row[0] for row in cursor.fetchall()}
        applied = []
        for name, body in _patches():
            if name in done:
                continue
            cursor.execute(body)
            cursor.execute(
                "INSERT INTO schemaversion (patch) VALUES (%s)", (name,))
            applied.append(name)
        _install_roles(cursor)
        connection.commit()
        return applied
    finally:
        connection.close()


def truncate_all(dsn: str) -> None:
    """Delete every row of every codeimport table (tests and demos)."""
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            # DELETE (children first) and restarting the sequences is ten
            # times faster than TRUNCATE on the near-empty tables of a
            # test run, which resets before every test.  TRUNCATE stays
            # as the fallback for rows of tables this list does not know.
            try:
                cursor.execute("; ".join(
                    f"DELETE FROM {table}" for table in _TABLES))
                cursor.execute(
                    "SELECT setval(c.oid, 1, false) FROM pg_class c"
                    " WHERE c.relkind = 'S'"
                    " AND c.relnamespace = current_schema()::regnamespace")
            except psycopg2.errors.ForeignKeyViolation:
                connection.rollback()
                cursor.execute("TRUNCATE %s RESTART IDENTITY CASCADE"
                               % ", ".join(_TABLES))
        connection.commit()
    finally:
        connection.close()


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


def redact_dsn(dsn: str) -> str:
    """Return `dsn` with any password replaced by ``***``."""
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.Error:
        return "(an unreadable DSN)"
    if "password" not in params:
        return dsn
    params["password"] = "***"
    return psycopg2.extensions.make_dsn(**params)


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
