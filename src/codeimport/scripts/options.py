"""The script toolkit: what every ``codeimport`` command is built from.

One parser class, one set of argument types, one settings loader, one
logging set-up, the database options and `run`, which turns expected
failures into one clear line on stderr and exit status 2, so no
traceback reaches the user.

An import machine runs some of these commands, so nothing here loads
the database driver.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import sys
from typing import TYPE_CHECKING

from codeimport.errors import CodeImportError
from codeimport.errors import ConfigurationError
from codeimport.redact import redact
from codeimport.text import printable

if TYPE_CHECKING:
    from codeimport.settings import Settings

__all__ = [
    "ArgumentParser",
    "PrintableFormatter",
    "add_database_options",
    "first_line",
    "load_settings",
    "networks_option",
    "positive",
    "resolve_dsn",
    "run",
    "setup_logging",
]

#: The one log line format of every command.
LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
#: The longest error message a command prints.
ERROR_WIDTH = 1000
#: The longest message a log line holds.
LOG_MESSAGE_WIDTH = 4000


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def networks_option(text: str) -> str:
    """An argparse type: comma-separated CIDR blocks (the
    ``allowed_source_networks`` setting), normalised."""
    from codeimport.addresses import parse_networks

    try:
        return ",".join(str(network) for network in parse_networks(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive(kind=int, *, allow_zero: bool = False):
    """An argparse type: a number of `kind` (int or float) above zero,
    or zero and above with `allow_zero`."""
    rule = "must not be negative" if allow_zero else "must be more than 0"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a number: {text!r}") from None
        # "not value > 0" also refuses NaN.
        if not (value >= 0 if allow_zero else value > 0):
            raise argparse.ArgumentTypeError(f"{rule}: {text!r}")
        return value

    convert.__name__ = kind.__name__
    return convert


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message is logged."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class PrintableFormatter(logging.Formatter):
    """Formats each message with `codeimport.text.printable`.

    Messages quote host names, URLs, faults and workers' output: escape
    codes, newlines and bidi controls in them would rewrite a terminal
    showing the log or forge log lines.  A traceback still follows on
    lines of its own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.message = printable(record.message, LOG_MESSAGE_WIDTH)
        return super().formatMessage(record)


def setup_logging(name: str = "codeimport", *, verbose: bool = False,
                  level: str | int | None = None,
                  log_file: str | None = None) -> logging.Logger:
    """Log one line per message (`LOG_FORMAT`) to `log_file`, appending,
    or to stderr; return logger `name`.

    Handlers are replaced, not added: ``main()`` may run more than once
    in one process (tests), each time with the stderr of the moment.
    """
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = (logging.FileHandler(log_file) if log_file
               else _StderrHandler())
    handler.setFormatter(PrintableFormatter(LOG_FORMAT))
    logger.addHandler(handler)
    logger.propagate = False
    if level is None:
        level = logging.DEBUG if verbose else logging.INFO
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    return logger


def first_line(error: BaseException) -> str:
    """The first line of an error's message, with its type if empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
    """Read `Settings` from the ``[codeimport]`` section of `path`.

    Values are taken literally: interpolation is off, so a ``%`` in a
    value is just a character.

    :raises ConfigurationError: for an unreadable file or a bad setting.
    """
    # Imported here: the import worker uses this module, and starts
    # faster without the enumerations Settings load.
    from codeimport.settings import Settings

    if path is None:
        return Settings()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as stream:
            parser.read_file(stream)
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        message = str(error).splitlines()[0]
        raise ConfigurationError(
            f"Cannot read the settings file {path}: {message}") from None
    if not parser.has_section("codeimport"):
        raise ConfigurationError(f"{path} has no [codeimport] section.")
    return Settings.fromMapping(dict(parser.items("codeimport")))


def run(prog: str, body, argv) -> int:
    """Run `body(argv)`, turning expected failures into one stderr line."""
    try:
        return body(argv)
    except KeyboardInterrupt:
        return 130
    except CodeImportError as error:
        # Messages quote user input; show it harmlessly.
        print(f"{prog}: {printable(redact(str(error)), ERROR_WIDTH)}",
              file=sys.stderr)
        return 2
    except Exception as error:
        # Only a command that loaded the driver can meet its errors.
        driver = sys.modules.get("psycopg2")
        if driver is None or not isinstance(error, driver.Error):
            raise
        print(f"{prog}: database error: "
              f"{printable(redact(first_line(error)), ERROR_WIDTH)}",
              file=sys.stderr)
        return 1
