"""Every database command on a database nobody ran ``codeimport initdb``
on says so, in one line, with exit status 2, and creates nothing."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from scripthelpers import cli

from codeimport.testing import postgres

NO_SCHEMA = ("The database has no codeimport schema; run `codeimport "
             "initdb` first.")


@pytest.fixture(scope="module")
def empty_dsn(codeimport_database):
    name = f"codeimport_noschema_{uuid.uuid4().hex[:8]}"
    server = codeimport_database.server
    dsn = postgres.create_database(server, name)
    yield dsn
    postgres.drop_database(server, name)


def tables(dsn):
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_class WHERE relkind = 'r'"
                " AND relnamespace = current_schema()::regnamespace")
            return cursor.fetchone()[0]
    finally:
        connection.close()


@pytest.mark.parametrize("args", [
    ["status"],
    ["watchdog", "--once"],
    ["add-import", "--owner", "vcs-imports", "--project", "p", "--name",
     "n", "--git-url", "https://example.org/x.git"],
    ["request-import", "~vcs-imports/p/n", "--by", "alice"],
    ["imports"],
    ["show", "1"],
    ["machines"],
    ["machine", "online", "m1", "--create"],
    ["person", "add", "alice"],
    ["team", "add", "vcs-imports"],
    ["suspend", "1"],
], ids=lambda args: " ".join(args[:2]))
def test_a_command_on_a_database_without_the_schema_says_run_initdb(
        empty_dsn, args):
    ran = cli(*args, env={"CODEIMPORT_DSN": empty_dsn})

    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    assert ran.stdout == ""
    assert ran.stderr.endswith(f": {NO_SCHEMA}\n"), ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert tables(empty_dsn) == 0


def test_serve_on_a_database_without_the_schema_says_run_initdb(empty_dsn):
    ran = cli("serve", "--bind", "127.0.0.1:0",
              env={"CODEIMPORT_DSN": empty_dsn,
                   "CODEIMPORT_XMLRPC_CREDENTIALS": "m:secret"})

    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    assert ran.stderr == f"codeimport serve: {NO_SCHEMA}\n"


def test_web_on_a_database_without_the_schema_says_run_initdb(empty_dsn):
    ran = cli("web", "--bind", "127.0.0.1:0",
              env={"CODEIMPORT_DSN": empty_dsn,
                   "CODEIMPORT_WEB_CREDENTIALS": "nora:secret"})

    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    assert ran.stderr == f"codeimport web: {NO_SCHEMA}\n"
