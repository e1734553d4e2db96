"""A real XML-RPC service for tests: ``codeimport serve`` on a free port.

`XMLRPCTestServer` runs the production command (waitress and all) as a
subprocess on 127.0.0.1, with freshly generated credentials, against a
test database.  `xmlrpc_test_server` gives every test of a session the
same one, so the second caller pays nothing::

    >>> from codeimport.testing.server import xmlrpc_test_server
    >>> server = xmlrpc_test_server(codeimport)  # doctest: +SKIP
    >>> scheduler = xmlrpc.client.ServerProxy(server.scheduler_url)

The server commits in its own connections: commit what a test set up
before calling it, and roll back (``codeimport.abort()``) before reading
what it wrote.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

__all__ = ["XMLRPCTestServer", "stop_shared_servers", "xmlrpc_test_server"]

_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class XMLRPCTestServer:
    """``codeimport serve`` on 127.0.0.1, for one test database.

    It may be stopped and started again: it comes back on the same port,
    with the same credentials (to test clients that outlive a restart).

    :param port: the port to listen on; by default a free one, chosen
        at the first start.  Give one to start the service after its
        clients.
    :param extra_args: more ``codeimport serve`` options.
    :param credential_lines: more ``NAME:SECRET[:ENDPOINTS[:HOSTS]]``
        lines, beside the test user's (which may do everything).
    """

    user = "codeimport-test"

    def __init__(self, dsn: str, *, threads: int = 8,
                 max_request_bytes: int = 1024 * 1024,
                 request_timeout: float = 30.0, port: int | None = None,
                 extra_args=(), credential_lines=()):
        self.dsn = dsn
        self.secret = secrets.token_urlsafe(16)
        self.port = port
        self._args = [
            "--dsn", dsn, "--workers", "1",
            "--threads", str(threads),
            "--max-request-bytes", str(max_request_bytes),
            "--request-timeout", str(request_timeout),
            "--graceful-timeout", "5", *extra_args,
        ]
        self._credential_lines = list(credential_lines)
        self._process = None
        self._log = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without credentials."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, user: str | None = None,
            secret: str | None = None) -> str:
        """The URL of `path`, with this server's credentials by default."""
        user = self.user if user is None else user
        secret = self.secret if secret is None else secret
        return f"http://{user}:{secret}@127.0.0.1:{self.port}{path}"

    @property
    def scheduler_url(self) -> str:
        return self.url("/codeimportscheduler")

    @property
    def authserver_url(self) -> str:
        return self.url("/authserver")

    @property
    def healthz_url(self) -> str:
        return f"{self.base_url}/healthz"

    @property
    def credentials(self) -> tuple[str, str]:
        return self.user, self.secret

    def start(self, timeout: float = 30.0) -> XMLRPCTestServer:
        """Start the service and wait until /healthz answers."""
        if self._log is None:
            # A restart appends to the same log.
            self._log = tempfile.NamedTemporaryFile(
                prefix="codeimport-serve-", suffix=".log", delete=False)
        env = dict(os.environ)
        env["CODEIMPORT_XMLRPC_CREDENTIALS"] = "\n".join(
            [f"{self.user}:{self.secret}", *self._credential_lines])
        bind = f"127.0.0.1:{self.port or 0}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "serve", "--bind", bind,
             *self._args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while self.port is None:
            self._checkAlive(deadline)
            match = _LISTENING.search(self.log())
            if match:
                self.port = int(match.group(1))
            else:
                time.sleep(0.05)
        while not self._healthy():
            self._checkAlive(deadline)
            time.sleep(0.05)
        return self

    def _checkAlive(self, deadline: float) -> None:
        if self._process.poll() is not None:
            raise RuntimeError(
                f"codeimport serve exited ({self._process.returncode}):\n"
                + self.log())
        if time.monotonic() > deadline:
            self.stop()
            raise RuntimeError("codeimport serve did not start:\n"
                               + self.log())

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.healthz_url, timeout=2) as reply:
                return reply.status == 200
        except (OSError, urllib.error.URLError):
            return False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def log(self) -> str:
        """Everything the service has logged so far."""
        if self._log is None:
            return ""
        with open(self._log.name, encoding="utf-8",
                  errors="replace") as stream:
            return stream.read()

    def stop(self, timeout: float = 15.0,
             signum: int = signal.SIGTERM) -> int | None:
        """Send `signum` (SIGTERM: a graceful stop) and wait; return the
        exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def close(self) -> None:
        """Stop the service at once (SIGINT) and delete its log."""
        self.stop(signum=signal.SIGINT)
        if self._log is not None:
            self._log.close()
            os.unlink(self._log.name)
            self._log = None


_SHARED: dict[str, XMLRPCTestServer] = {}


def xmlrpc_test_server(codeimport) -> XMLRPCTestServer:
    """The session's service on `codeimport`'s database (started once).

    :param codeimport: the test fixture object (or anything with a
        ``dsn``).
    """
    server = _SHARED.get(codeimport.dsn)
    if server is None:
        server = XMLRPCTestServer(codeimport.dsn).start()
        _SHARED[codeimport.dsn] = server
        atexit.register(server.close)
    return server


def stop_shared_servers() -> None:
    """Stop every server `xmlrpc_test_server` started."""
    while _SHARED:
        _, server = _SHARED.popitem()
        server.close()
