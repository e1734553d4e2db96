"""``codeimport serve``: run the XML-RPC services.

Usage::

    codeimport serve --dsn DSN [--bind 127.0.0.1:8080] [--workers 2]
        [--threads 8] [--credentials-file FILE] [--settings-file FILE]
        [--max-request-bytes N] [--header-timeout 10]
        [--request-timeout 60] [--statement-timeout 30]
        [--access-log -] [--log-level info]

The DSN may also come from ``$CODEIMPORT_DSN`` and the credentials from
``$CODEIMPORT_XMLRPC_CREDENTIALS`` (see `codeimport.xmlrpc.auth`).  The
settings file is an INI file whose ``[codeimport]`` section sets
`codeimport.settings.Settings` fields, e.g.::

    [codeimport]
    blacklisted_hostnames = localhost, 127.0.0.1
    mainsite_hostname = code.example.com

The service (`codeimport.scripts.httpserver`) runs ``--workers``
processes of ``--threads`` threads each; every thread holds up to one
database connection per endpoint.  A request's headers must arrive
within ``--header-timeout`` seconds and its body within
``--request-timeout`` more, else it is answered 408 and its connection
closed; slow clients hold no thread meanwhile.  SIGTERM stops taking
connections, lets running calls finish (30 s at most) and exits 0.
Bad options or configuration, and an address in use, exit 2 with a
one-line message.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from codeimport import database
from codeimport.errors import ConfigurationError
from codeimport.metrics import MULTIPROC_VARIABLE
from codeimport.scripts.httpchannel import Deadlines
from codeimport.scripts.httpserver import ServiceOptions
from codeimport.scripts.httpserver import check_bind
from codeimport.scripts.httpserver import run_service
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import positive
from codeimport.scripts.options import setup_logging
from codeimport.xmlrpc.app import DEFAULT_MAX_REQUEST_BYTES
from codeimport.xmlrpc.app import ENDPOINTS
from codeimport.xmlrpc.app import make_app
from codeimport.xmlrpc.auth import load_credentials
from codeimport.xmlrpc.auth import warn_about_unscoped
from codeimport.xmlrpc.transactions import service_dsn

__all__ = ["check_bind", "check_database", "load_settings", "main"]

DSN_VARIABLE = "CODEIMPORT_DSN"


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport serve",
        description="Serve the code import scheduler and branch status "
        "XML-RPC APIs.",
    )
    parser.add_argument(
        "--dsn", default=os.environ.get(DSN_VARIABLE),
        help=f"PostgreSQL DSN (default: ${DSN_VARIABLE})")
    parser.add_argument(
        "--bind", default="127.0.0.1:8080",
        help="HOST:PORT or unix:PATH to listen on (%(default)s)")
    parser.add_argument("--workers", type=positive(int), default=2,
                        help="processes (%(default)s)")
    parser.add_argument("--threads", type=positive(int), default=8,
                        help="threads per process (%(default)s)")
    parser.add_argument(
        "--credentials-file",
        help="NAME:SECRET[:ENDPOINTS[:HOSTS]] lines allowed to call")
    parser.add_argument("--settings-file",
                        help="INI file with a [codeimport] section")
    parser.add_argument(
        "--max-request-bytes", type=positive(int),
        default=DEFAULT_MAX_REQUEST_BYTES,
        help="larger request bodies get 413 (%(default)s)")
    parser.add_argument(
        "--header-timeout", type=positive(float), default=10.0,
        help="seconds a request's headers may take to arrive; slower "
        "ones get 408 (%(default)s)")
    parser.add_argument(
        "--request-timeout", type=positive(float), default=60.0,
        help="seconds a request's body may take to arrive after its "
        "headers; slower ones get 408 (%(default)s)")
    parser.add_argument(
        "--statement-timeout", type=positive(float), default=30.0,
        help="seconds before a database statement is cancelled "
        "(%(default)s)")
    parser.add_argument(
        "--graceful-timeout", type=positive(float), default=30.0,
        help="seconds running calls get to finish on SIGTERM (%(default)s)")
    parser.add_argument("--access-log", default="-",
                        help="access log file; - for stdout (%(default)s)")
    parser.add_argument(
        "--log-level", default="info",
        choices=["debug", "info", "warning", "error"])
    return parser


def check_database(dsn: str) -> None:
    """Connect once as each endpoint's role and look for the schema.

    :raises ConfigurationError: saying what is wrong, in one line.
    """
    for path, (_, _, role) in ENDPOINTS.items():
        store = None
        try:
            store = database.make_store(
                service_dsn(dsn, "codeimport-serve-check", 10), role=role)
            database.require_schema(store)
        except ConfigurationError:
            raise
        except Exception as error:
            lines = str(error).strip().splitlines() or [type(error).__name__]
            raise ConfigurationError(
                f"Cannot use the database as role "
                f"{database.role_name(role)} (for {path}): {lines[0]}"
            ) from None
        finally:
            if store is not None:
                store.close()


def main(argv: list[str] | None = None) -> int:
    parser = _make_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as exit:
        return int(exit.code or 0)
    try:
        if not options.dsn:
            raise ConfigurationError(f"--dsn or ${DSN_VARIABLE} is required.")
        credentials = load_credentials(path=options.credentials_file)
        settings = load_settings(options.settings_file)
        check_bind(options.bind)
        check_database(options.dsn)
    except ConfigurationError as error:
        print(f"codeimport serve: {error}", file=sys.stderr)
        return 2
    setup_logging(level=options.log_level)

    def app_factory():
        return make_app(
            options.dsn, credentials, settings=settings,
            max_request_bytes=options.max_request_bytes,
            statement_timeout=options.statement_timeout,
            record_reachability=True)

    service = ServiceOptions(
        bind=options.bind, name="codeimport serve",
        processes=options.workers, threads=options.threads,
        deadlines=Deadlines(header=options.header_timeout,
                            body=options.request_timeout),
        max_request_bytes=options.max_request_bytes,
        graceful_timeout=options.graceful_timeout,
        access_log=options.access_log,
        # Once, when startup can no longer fail (a bad start is one line).
        on_listening=lambda: warn_about_unscoped(credentials))
    metrics_dir = _share_metrics_between_workers()
    try:
        return run_service(app_factory, service)
    except ConfigurationError as error:
        print(f"codeimport serve: {error}", file=sys.stderr)
        return 2
    finally:
        if metrics_dir is not None:
            del os.environ[MULTIPROC_VARIABLE]
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _share_metrics_between_workers() -> str | None:
    """Point prometheus_client at a fresh directory that every worker
    writes its metrics to (`codeimport.metrics`); return it, or None
    when the environment already names one."""
    if os.environ.get(MULTIPROC_VARIABLE):
        return None
    path = tempfile.mkdtemp(prefix="codeimport-metrics-")
    os.environ[MULTIPROC_VARIABLE] = path
    return path
