"""Command-line plumbing shared by the scripts: DSN, settings, errors.

Every script turns bad input into one clear line on stderr and exit
status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import configparser
import os
import sys

import psycopg2

from codeimport.errors import CodeImportError
from codeimport.settings import Settings

__all__ = [
    "ArgumentParser",
    "add_database_options",
    "load_settings",
    "resolve_dsn",
    "run",
]


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn", default=None,
        help="PostgreSQL DSN (default: $CODEIMPORT_DSN)")
    parser.add_argument(
        "--settings-file", default=None,
        help="an INI file with a [codeimport] section of Settings")


def resolve_dsn(options) -> str:
    dsn = options.dsn or os.environ.get("CODEIMPORT_DSN")
    if not dsn:
        raise CodeImportError(
            "No database given: use --dsn or set CODEIMPORT_DSN.")
    return dsn


def load_settings(path: str | None) -> Settings:
    """Read `Settings` from the [codeimport] section of an INI file."""
    if path is None:
        return Settings()
    parser = configparser.ConfigParser()
    try:
        with open(path) as stream:
            parser.read_file(stream)
    except (OSError, configparser.Error) as error:
        raise CodeImportError(f"Cannot read settings file {path}: {error}")
    if not parser.has_section("codeimport"):
        raise CodeImportError(f"{path} has no [codeimport] section.")
    return Settings.fromMapping(dict(parser.items("codeimport")))


def run(prog: str, body, argv) -> int:
    """Run `body(argv)`, turning expected failures into one stderr line."""
    try:
        return body(argv)
    except KeyboardInterrupt:
        return 130
    except CodeImportError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    except psycopg2.Error as error:
        message = str(error).strip().splitlines()[0] if str(error) else error
        print(f"{prog}: database error: {message}", file=sys.stderr)
        return 1
