"""``codeimport serve``: run the XML-RPC services under gunicorn.

Usage::

    codeimport serve --dsn DSN [--bind 127.0.0.1:8080] [--workers 2]
        [--threads 8] [--credentials-file FILE] [--settings-file FILE]
        [--max-request-bytes N] [--request-timeout 30]
        [--statement-timeout 30] [--access-log -] [--log-level info]

The DSN may also come from ``$CODEIMPORT_DSN`` and the credentials from
``$CODEIMPORT_XMLRPC_CREDENTIALS`` (see `codeimport.xmlrpc.auth`).  The
settings file is an INI file whose ``[codeimport]`` section sets
`codeimport.settings.Settings` fields, e.g.::

    [codeimport]
    blacklisted_hostnames = localhost, 127.0.0.1
    mainsite_hostname = code.example.com

gunicorn runs ``--workers`` processes of ``--threads`` threads each; every
thread holds up to one database connection per endpoint.  SIGTERM stops
taking connections, lets running calls finish (30 s at most) and exits 0.
Bad options or configuration exit 2 with a one-line message.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import sys
import tempfile

from gunicorn.app.base import BaseApplication
from gunicorn.util import parse_address

from codeimport import database
from codeimport.errors import ConfigurationError
from codeimport.metrics import MULTIPROC_VARIABLE
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import positive
from codeimport.scripts.options import setup_logging
from codeimport.xmlrpc.app import DEFAULT_MAX_REQUEST_BYTES
from codeimport.xmlrpc.app import ENDPOINTS
from codeimport.xmlrpc.app import make_app
from codeimport.xmlrpc.auth import load_credentials
from codeimport.xmlrpc.transactions import service_dsn

__all__ = [
    "GunicornService", "check_bind", "check_database", "load_settings",
    "main",
]

DSN_VARIABLE = "CODEIMPORT_DSN"
ACCESS_LOG_FORMAT = '%(h)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


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
    parser.add_argument("--credentials-file",
                        help="user:secret lines allowed to call")
    parser.add_argument("--settings-file",
                        help="INI file with a [codeimport] section")
    parser.add_argument(
        "--max-request-bytes", type=positive(int),
        default=DEFAULT_MAX_REQUEST_BYTES,
        help="larger request bodies get 413 (%(default)s)")
    parser.add_argument(
        "--request-timeout", type=positive(float), default=30.0,
        help="seconds a stalled request body may wait (%(default)s)")
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


def check_bind(bind: str) -> None:
    """Refuse an address gunicorn could never listen on.

    :raises ConfigurationError: for a bad port or an unknown host name.
    """
    try:
        address = parse_address(bind)
    except (RuntimeError, ValueError) as error:
        raise ConfigurationError(f"Bad --bind {bind!r}: {error}") from None
    if not isinstance(address, tuple):
        return  # a Unix socket path or an inherited descriptor
    host, port = address
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"Bad --bind {bind!r}: no port {port}.")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise ConfigurationError(
            f"Cannot listen on {bind!r}: {error}") from None


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


class GunicornService(BaseApplication):
    """gunicorn's arbiter around the application made by `app_factory`.

    Each worker process calls `app_factory` once (after the fork, so no
    connection is shared between processes).
    """

    def __init__(self, app_factory, options: dict):
        self._app_factory = app_factory
        self._options = options
        self._app = None
        super().__init__()

    def load_config(self):
        for name, value in self._options.items():
            self.cfg.set(name, value)
        self.cfg.set("worker_exit", self._workerExit)

    def load(self):
        self._app = self._app_factory()
        return self._app

    def _workerExit(self, server, worker):
        if self._app is not None:
            self._app.close()


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
            body_timeout=options.request_timeout,
            statement_timeout=options.statement_timeout,
            record_reachability=True)

    service_options = {
        "bind": [options.bind],
        "workers": options.workers,
        "threads": options.threads,
        "worker_class": "gthread",
        "accesslog": options.access_log,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": options.log_level,
        "graceful_timeout": math.ceil(options.graceful_timeout),
        "keepalive": 5,
        "proc_name": "codeimport-serve",
        "control_socket_disable": True,
    }
    try:
        service = GunicornService(app_factory, service_options)
    except SystemExit:
        # gunicorn refused an option and printed why (a bad --bind ...).
        return 2
    metrics_dir = _share_metrics_between_workers()
    try:
        service.run()
    except SystemExit as exit:
        code = exit.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(f"codeimport serve: {code}", file=sys.stderr)
        return 1
    finally:
        if metrics_dir is not None:
            del os.environ[MULTIPROC_VARIABLE]
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _share_metrics_between_workers() -> str | None:
    """Point prometheus_client at a fresh directory that every worker
    writes its metrics to (`codeimport.metrics`); return it, or None
    when the environment already names one."""
    if os.environ.get(MULTIPROC_VARIABLE):
        return None
    path = tempfile.mkdtemp(prefix="codeimport-metrics-")
    os.environ[MULTIPROC_VARIABLE] = path
    return path
