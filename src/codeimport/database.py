"""Connections and the schema installer.

The schema ships as SQL inside the package: ``schema/codeimport.sql`` is
patch 0000 and ``schema/patches/NNNN-*.sql`` are applied after it, once
each, recorded in ``schemaversion``.  Roles and grants come from
``schema/roles.cfg``.  `install` is idempotent and safe to run from
several processes at once (it takes an advisory lock).
"""

from __future__ import annotations

import configparser
import re
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
    "NO_SCHEMA",
    "install",
    "make_store",
    "redact_dsn",
    "require_schema",
    "role_name",
]

# Short names used by people (switch_db_user, --db-role) -> real roles.
DB_ROLES = {
    "webapp": "codeimport_webapp",
    "machineadmin": "codeimport_machineadmin",
    "importd": "codeimport_importd",
    "branchpuller": "codeimport_branchpuller",
}
_LOCK_ID = 0x636F6465  # "code": serialises concurrent installs
_TABLES = (
    "scriptactivity codeimporteventdata codeimportevent codeimportresult "
    "libraryfilealias libraryfilecontent codeimportjob "
    "codeimportsourcecredential codeimport "
    "codeimportmachine branch teamparticipation person codeimportservice"
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


#: What every program says when its database has no schema.
NO_SCHEMA = ("The database has no codeimport schema; run `codeimport "
             "initdb` first.")


def require_schema(store: Store) -> None:
    """Check that the schema is installed in `store`'s database.

    Programs call this before their first real statement, so that a
    database nobody ran ``codeimport initdb`` on gets one line that says
    what to do rather than "relation ... does not exist".

    :raises ConfigurationError: `NO_SCHEMA` when it is not.
    """
    installed = store.execute(
        "SELECT to_regclass('codeimportjob') IS NOT NULL").get_one()[0]
    if not installed:
        raise ConfigurationError(NO_SCHEMA)


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


# One privilege of roles.cfg: a name, and optionally its columns.
_PRIVILEGE = re.compile(r"\s*([A-Za-z]+)\s*(?:\(([^)]*)\))?\s*(?:,|$)")


def _privileges(value: str) -> list[tuple[str, tuple[str, ...]]]:
    """``SELECT (a, b), INSERT`` -> ``[("SELECT", ("a", "b")),
    ("INSERT", ())]``."""
    privileges, position = [], 0
    value = value.strip()
    while position < len(value):
        match = _PRIVILEGE.match(value, position)
        if match is None or match.end() == position:
            raise ValueError(f"roles.cfg: cannot read {value!r}")
        columns = tuple(c.strip() for c in (match.group(2) or "").split(",")
                        if c.strip())
        privileges.append((match.group(1).upper(), columns))
        position = match.end()
    return privileges


def _grants() -> dict[str, dict[str, list[tuple[str, tuple[str, ...]]]]]:
    """``{role: {table: [(privilege, columns)]}}`` from roles.cfg; an
    empty `columns` means the whole table."""
    parser = configparser.ConfigParser()
    parser.read_string(_read_resource("roles.cfg"))
    grants = {}
    for role in parser.sections():
        grants[role] = {
            table: _privileges(value) for table, value in parser.items(role)
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
        # Exactly what roles.cfg says: nothing on a table it does not
        # list, even one an older roles.cfg granted (revoking a table's
        # privileges revokes its columns' too).
        cursor.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, _TABLES)),
            sql.Identifier(role)))
        for table, privileges in tables.items():
            ident = sql.Identifier(table)
            cursor.execute(sql.SQL("GRANT {} ON {} TO {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{} ({})").format(
                        sql.SQL(name),
                        sql.SQL(", ").join(map(sql.Identifier, columns)))
                    if columns else sql.SQL(name)
                    for name, columns in privileges),
                ident, sql.Identifier(role)))
            if any(name == "INSERT" for name, _ in privileges):
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
