"""``codeimport web``: serve the web interface.

Usage::

    codeimport web --dsn DSN [--bind 127.0.0.1:8081] [--workers 2]
        [--threads 4] [--credentials-file FILE] [--settings-file FILE]
        [--session-secret-file FILE] [--secure-cookies]
        [--header-timeout 10] [--request-timeout 30]

People sign in with the ``name:password`` pairs of
``$CODEIMPORT_WEB_CREDENTIALS`` and/or ``--credentials-file`` (one pair a
line, mode 600); each name is a person's name.  The session cookie is
signed with the key in ``--session-secret-file`` or
``$CODEIMPORT_WEB_SESSION_SECRET``; without one a random key is made at
start (every worker shares it; sessions end when the service restarts).

The web interface is its own service, not a path of ``codeimport
serve``: it serves people, not import machines, with other credentials,
other database roles (webapp, and machineadmin for machine changes
only) and usually another exposure, and either can be restarted alone.  It runs
on the same server as ``codeimport serve``
(`codeimport.scripts.httpserver`), with the same deadlines for slow
clients.
"""

from __future__ import annotations

import os
import secrets
import sys

from codeimport.errors import ConfigurationError
from codeimport.scripts.httpchannel import Deadlines
from codeimport.scripts.httpserver import ServiceOptions
from codeimport.scripts.httpserver import check_bind
from codeimport.scripts.httpserver import run_service
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import first_line
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import positive
from codeimport.scripts.options import setup_logging
from codeimport.xmlrpc.auth import load_credentials

__all__ = ["CREDENTIALS_VARIABLE", "SECRET_VARIABLE", "main"]

DSN_VARIABLE = "CODEIMPORT_DSN"
CREDENTIALS_VARIABLE = "CODEIMPORT_WEB_CREDENTIALS"
SECRET_VARIABLE = "CODEIMPORT_WEB_SESSION_SECRET"
MIN_SECRET = 32
#: Forms are small: larger bodies get 413.
MAX_REQUEST_BYTES = 1024 * 1024


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport web",
        description="Serve the web interface: imports, their history, "
        "charts and logs, machines, and the operators' actions.")
    parser.add_argument(
        "--dsn", default=os.environ.get(DSN_VARIABLE),
        help=f"PostgreSQL DSN (default: ${DSN_VARIABLE})")
    parser.add_argument(
        "--bind", default="127.0.0.1:8081",
        help="HOST:PORT or unix:PATH to listen on (%(default)s)")
    parser.add_argument("--workers", type=positive(int), default=2,
                        help="processes (%(default)s)")
    parser.add_argument("--threads", type=positive(int), default=4,
                        help="threads per process (%(default)s)")
    parser.add_argument("--credentials-file",
                        help="name:password lines of people who may sign in")
    parser.add_argument("--settings-file",
                        help="INI file with a [codeimport] section")
    parser.add_argument("--session-secret-file",
                        help="a file holding the key that signs sessions")
    parser.add_argument("--secure-cookies", action="store_true",
                        help="send the session cookie over HTTPS only "
                        "(behind a TLS proxy)")
    parser.add_argument(
        "--statement-timeout", type=positive(float), default=30.0,
        help="seconds before a database statement is cancelled "
        "(%(default)s)")
    parser.add_argument(
        "--header-timeout", type=positive(float), default=10.0,
        help="seconds a request's headers may take to arrive; slower "
        "ones get 408 (%(default)s)")
    parser.add_argument(
        "--request-timeout", type=positive(float), default=30.0,
        help="seconds a request's body may take to arrive after its "
        "headers; slower ones get 408 (%(default)s)")
    parser.add_argument("--access-log", default="-",
                        help="access log file; - for stdout (%(default)s)")
    parser.add_argument(
        "--log-level", default="info",
        choices=["debug", "info", "warning", "error"])
    return parser


def load_session_secret(path: str | None, environ=None) -> str:
    """The session key from `path` or the environment, else a new one.

    :raises ConfigurationError: for an unreadable file or a short key.
    """
    environ = os.environ if environ is None else environ
    if path is not None:
        try:
            with open(path, encoding="utf-8") as stream:
                secret = stream.read().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(
                f"Cannot read the session secret file {path}: "
                f"{error.__class__.__name__}") from None
        source = path
    else:
        secret = environ.get(SECRET_VARIABLE, "").strip()
        source = f"${SECRET_VARIABLE}"
        if not secret:
            return secrets.token_urlsafe(48)
    if len(secret) < MIN_SECRET:
        raise ConfigurationError(
            f"The session secret in {source} is too short: use "
            f"{MIN_SECRET} characters or more.")
    return secret


def main(argv: list[str] | None = None) -> int:
    parser = _make_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as exit:
        return int(exit.code or 0)
    try:
        if not options.dsn:
            raise ConfigurationError(f"--dsn or ${DSN_VARIABLE} is required.")
        credentials = load_credentials(
            path=options.credentials_file, variable=CREDENTIALS_VARIABLE,
            kind="web", scoped=False)
        settings = load_settings(options.settings_file)
        session_secret = load_session_secret(options.session_secret_file)
        check_bind(options.bind)
        _check_database(options.dsn)
    except ConfigurationError as error:
        print(f"codeimport web: {error}", file=sys.stderr)
        return 2
    setup_logging(level=options.log_level)

    def app_factory():
        from codeimport.web.app import make_app

        return make_app(
            options.dsn, credentials, session_secret=session_secret,
            settings=settings, secure_cookies=options.secure_cookies,
            statement_timeout=options.statement_timeout)

    try:
        return run_service(app_factory, ServiceOptions(
            bind=options.bind, name="codeimport web",
            processes=options.workers, threads=options.threads,
            deadlines=Deadlines(header=options.header_timeout,
                                body=options.request_timeout),
            max_request_bytes=MAX_REQUEST_BYTES, graceful_timeout=30.0,
            access_log=options.access_log))
    except ConfigurationError as error:
        print(f"codeimport web: {error}", file=sys.stderr)
        return 2


def _check_database(dsn: str) -> None:
    """Connect once as each role the interface uses."""
    from codeimport import database
    from codeimport.xmlrpc.transactions import service_dsn

    for role in ("webapp", "machineadmin"):
        store = None
        try:
            store = database.make_store(
                service_dsn(dsn, "codeimport-web-check", 10), role=role)
            database.require_schema(store)
        except ConfigurationError:
            raise
        except Exception as error:
            raise ConfigurationError(
                f"Cannot use the database as role "
                f"{database.role_name(role)}: {first_line(error)}") from None
        finally:
            if store is not None:
                store.close()
