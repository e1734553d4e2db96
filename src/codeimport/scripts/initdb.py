"""`codeimport initdb`: install or upgrade the schema and roles."""

from __future__ import annotations

from codeimport import database
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run

__all__ = ["main"]


def _main(argv) -> int:
    parser = ArgumentParser(
        prog="codeimport initdb",
        description="Create or upgrade the codeimport schema and database "
        "roles in an existing database.  Safe to run repeatedly.")
    add_database_options(parser)
    options = parser.parse_args(argv)
    applied = database.install(resolve_dsn(options))
    if applied:
        print("applied: " + ", ".join(applied))
    else:
        print("schema is up to date")
    return 0


def main(argv=None) -> int:
    return run("codeimport initdb", _main, argv)
