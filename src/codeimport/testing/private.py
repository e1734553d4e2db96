"""Private sources for tests: servers that ask for a password, and a
sampler that looks for it in every process's command line.

`ProcessSampler.sample` reads ``/proc/*/cmdline`` (what ``ps`` shows
every user) and ``/proc/*/environ`` (readable for our own processes)
and records any that holds the secret.  The servers call it while they
serve an authenticated request, so the sample is taken exactly while
the import worker and its tools are running, without any timing guess:

* `BasicAuthWSGI` wraps a WSGI application (dulwich's Git smart HTTP,
  Mercurial's hgweb) in HTTP basic authentication;
* `SamplingProxy` forwards TCP connections to a server of its own
  (``svnserve``, a CVS pserver) and samples when one arrives.
"""

from __future__ import annotations

import base64
import os
import socket
import socketserver
import threading
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

__all__ = ["BasicAuthWSGI", "ProcessSampler", "SamplingProxy",
           "static_files"]


class ProcessSampler:
    """Looks for `secret` in the processes of this machine, as it is and
    percent-encoded (as in a URL).

    :ivar samples: how many samples were taken.
    :ivar leaks: ``(pid, "cmdline" or "environ", command line)`` of each
        process found holding the secret.
    :ivar commands: the command lines seen (to show the sample caught
        the worker's processes).
    """

    def __init__(self, secret: str):
        self.secrets = {secret.encode("utf-8"),
                        quote(secret, safe="").encode("ascii")}
        self.samples = 0
        self.leaks: list[tuple[int, str, str]] = []
        self.commands: set[str] = set()
        self._lock = threading.Lock()

    def sample(self) -> None:
        """Read every process's command line and environment now."""
        me = os.getpid()
        found = []
        commands = set()
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            command = self._read(name, "cmdline")
            if command is None:
                continue
            shown = command.replace(b"\0", b" ").decode("utf-8", "replace")
            commands.add(shown.strip())
            if any(secret in command for secret in self.secrets):
                found.append((int(name), "cmdline", shown))
            environ = self._read(name, "environ")
            if environ is not None and any(
                    secret in environ for secret in self.secrets):
                found.append((int(name), "environ", shown))
        with self._lock:
            self.samples += 1
            self.leaks += found
            self.commands |= commands

    @staticmethod
    def _read(pid: str, what: str) -> bytes | None:
        try:
            with open(f"/proc/{pid}/{what}", "rb") as stream:
                return stream.read()
        except OSError:
            return None

    def saw(self, text: str) -> bool:
        """Whether a sampled command line contained `text`."""
        return any(text in command for command in self.commands)


def static_files(root: str):
    """A WSGI application serving the files under `root` (whole files,
    as a plain web server does: enough for Breezy's HTTP transport)."""
    root = os.path.realpath(root)

    def app(environ, start_response):
        path = os.path.realpath(os.path.join(
            root, environ.get("PATH_INFO", "").lstrip("/")))
        if (environ["REQUEST_METHOD"] not in ("GET", "HEAD")
                or not path.startswith(root + os.sep)
                or not os.path.isfile(path)):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        with open(path, "rb") as stream:
            data = stream.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(data)))])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else data]

    return app


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class BasicAuthWSGI:
    """Serves `app` on 127.0.0.1 to clients that give `username` and
    `password` (HTTP basic authentication); 401 to others.

    Each authenticated request first takes a `sampler` sample.

    :ivar refused: how many requests came without the right password.
    """

    def __init__(self, app, username: str, password: str,
                 sampler: ProcessSampler | None = None):
        self._app = app
        self._expected = "Basic " + base64.b64encode(
            f"{username}:{password}".encode()).decode()
        self._sampler = sampler
        self.refused = 0
        self._server = make_server(
            "127.0.0.1", 0, self._serve, server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler)
        self.port = self._server.server_address[1]
        # serve_forever accepts only after select said a client waits;
        # should that client be gone by then, a blocking accept would
        # hang the thread, and `close` waiting for it, for good.
        self._server.socket.setblocking(False)
        threading.Thread(target=self._server.serve_forever, args=(0.05,),
                         daemon=True).start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def _serve(self, environ, start_response):
        if environ.get("HTTP_AUTHORIZATION") != self._expected:
            self.refused += 1
            start_response("401 Unauthorized", [
                ("WWW-Authenticate", 'Basic realm="private"'),
                ("Content-Type", "text/plain")])
            return [b"authentication required\n"]
        if self._sampler is not None:
            self._sampler.sample()
        return self._app(environ, start_response)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class SamplingProxy:
    """Forwards connections on a port of 127.0.0.1 to `port`, taking a
    `sampler` sample as each one arrives."""

    def __init__(self, port: int, sampler: ProcessSampler):
        self._target = port
        self._sampler = sampler
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self._closed = threading.Event()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            self._sampler.sample()
            try:
                server = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink),
                                 daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        try:
            # Closing alone does not wake a thread blocked in accept.
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._accepting.join(10)
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
