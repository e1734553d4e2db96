"""The benchmark database and its bulk loaders.

The server is chosen exactly as the tests choose it:
``CODEIMPORT_BENCH_DSN`` or ``CODEIMPORT_TEST_DSN`` if set, else the local
server, else the embedded one (`codeimport.postgres.find_server`).  The
benchmarks always work in their own database, ``codeimport_bench_<pid>``,
created on that server and dropped at the end, so a configured DSN is
only used to reach the server, never written to.

Every loader is one set-based statement (``INSERT ... SELECT`` over
``generate_series``): a million rows take seconds, not hours, and the
rows satisfy every constraint of the schema, because they go in through
the same tables, checks and indexes as rows the library writes.
"""

from __future__ import annotations

import os

import psycopg2

from codeimport import database
from codeimport.testing import postgres

__all__ = ["BenchDatabase"]

#: The person who owns and registers every benchmark import.
OWNER = "bench"

# Values of the enumerations the loaders write (see codeimport.enums).
_BRANCH_IMPORTED = 3
_RCS_GIT = 4
_REVIEWED = 20
_PENDING = 10
_RUNNING = 30
_MACHINE_ONLINE = 20

# One statement: branches, their imports and one job per import.
_LOAD_IMPORTS = """
WITH owner AS (SELECT id FROM person WHERE name = %(owner)s),
branches AS (
    INSERT INTO branch (owner, project, name, unique_name, branch_type)
    SELECT owner.id, 'bench', 'import-' || g,
           '~' || %(owner)s || '/bench/import-' || g, {branch_imported}
    FROM generate_series(%(first)s, %(last)s) AS g, owner
    RETURNING id, name),
imports AS (
    INSERT INTO codeimport
        (branch, registrant, owner, rcs_type, url, review_status)
    SELECT branches.id, owner.id, owner.id, {rcs_git},
           'http://example.com/' || branches.name, {reviewed}
    FROM branches, owner
    RETURNING id)
INSERT INTO codeimportjob
    (code_import, date_due, state, machine, heartbeat, date_started,
     logtail)
SELECT imports.id, {date_due}, %(state)s, {machine}, {heartbeat},
       {date_started}, {logtail}
FROM imports
"""


class BenchDatabase:
    """A dedicated, throw-away database with the schema installed."""

    def __init__(self):
        configured = (os.environ.get("CODEIMPORT_BENCH_DSN")
                      or os.environ.get("CODEIMPORT_TEST_DSN"))
        self.server = postgres.find_server(configured or None)
        self.name = f"codeimport_bench_{os.getpid()}"
        self.dsn = postgres.create_database(self.server, self.name)
        database.install(self.dsn)
        self._next = 1

    # -- plumbing --------------------------------------------------------

    def connect(self, autocommit=False):
        """Return a new psycopg2 connection to the benchmark database."""
        connection = psycopg2.connect(self.dsn)
        connection.autocommit = autocommit
        return connection

    def execute(self, statement, params=None, autocommit=False):
        """Run one statement in its own transaction; return its rows."""
        connection = self.connect(autocommit)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                rows = cursor.fetchall() if cursor.description else None
            if not autocommit:
                connection.commit()
            return rows
        finally:
            connection.close()

    def scalar(self, statement, params=None):
        return self.execute(statement, params)[0][0]

    def describe(self):
        """Return what a reader needs to know about the server."""
        version = self.scalar("SHOW server_version")
        settings = dict(self.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('shared_buffers', 'synchronous_commit', 'fsync',"
            "  'max_connections')"))
        return {"origin": self.server.origin, "version": version,
                "settings": settings}

    def close(self):
        postgres.drop_database(self.server, self.name)
        self.server.close()

    # -- data ------------------------------------------------------------

    def reset(self):
        """Empty every table and create the benchmark owner."""
        database.truncate_all(self.dsn)
        self.execute(
            "INSERT INTO person (name, displayname, email)"
            " VALUES (%s, 'Benchmark owner', 'bench@example.com')",
            (OWNER,))
        self._next = 1

    def vacuum(self):
        """VACUUM ANALYZE the tables the loaders fill, as autovacuum
        eventually would: plans and timings then reflect a settled
        database rather than the moment after a bulk load."""
        for table in ("branch", "codeimport", "codeimportjob",
                      "codeimportmachine"):
            self.execute(f"VACUUM ANALYZE {table}", autocommit=True)

    def _load(self, count, state, date_due, machine="NULL",
              heartbeat="NULL", date_started="NULL", logtail="NULL"):
        if count <= 0:
            return
        first = self._next
        self._next += count
        statement = _LOAD_IMPORTS.format(
            branch_imported=_BRANCH_IMPORTED, rcs_git=_RCS_GIT,
            reviewed=_REVIEWED, date_due=date_due, machine=machine,
            heartbeat=heartbeat, date_started=date_started, logtail=logtail)
        self.execute(statement, {"owner": OWNER, "first": first,
                                 "last": first + count - 1, "state": state})

    def load_pending(self, count, due=True):
        """Add `count` REVIEWED Git imports, each with a PENDING job.

        :param due: if true the jobs fell due within the last hour, else
            they fall due between one minute and six hours from now.
        """
        if due:
            date_due = ("CURRENT_TIMESTAMP - random() * interval '1 hour'"
                        " - interval '1 second'")
        else:
            date_due = ("CURRENT_TIMESTAMP + interval '1 minute'"
                        " + random() * interval '6 hours'")
        self._load(count, _PENDING, date_due)

    def load_machines(self, count, prefix="bench-runner"):
        """Add `count` ONLINE machines; return their ids."""
        rows = self.execute(
            "INSERT INTO codeimportmachine (hostname, state, heartbeat)"
            " SELECT %s || '-' || g, %s, CURRENT_TIMESTAMP"
            " FROM generate_series(1, %s) AS g RETURNING id",
            (prefix, _MACHINE_ONLINE, count))
        return [row[0] for row in rows]

    def load_running(self, count, machine_ids, stale=0):
        """Add `count` imports whose job is RUNNING on `machine_ids`.

        The first `stale` of them have a heartbeat older than the default
        reclaim limit (five minutes); the others heartbeated within the
        last minute.
        """
        machines = "ARRAY[%s]::integer[]" % ", ".join(
            str(int(i)) for i in machine_ids)
        machine = f"({machines})[1 + mod(imports.id, {len(machine_ids)})]"
        for number, heartbeat in (
                (stale, "CURRENT_TIMESTAMP - interval '10 minutes'"),
                (count - stale,
                 "CURRENT_TIMESTAMP - random() * interval '1 minute'")):
            self._load(
                number, _RUNNING,
                date_due="CURRENT_TIMESTAMP - interval '1 hour'",
                machine=machine, heartbeat=heartbeat,
                date_started="CURRENT_TIMESTAMP - interval '20 minutes'",
                logtail="''")
