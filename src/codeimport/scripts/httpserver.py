"""Running a WSGI application as a service (``codeimport serve`` and
``codeimport web``).

`run_service` binds the listening socket itself, so that an address in
use or a bad one is one line and exit status 2 (`ConfigurationError`),
then serves it with waitress and the deadlines of
`codeimport.scripts.httpchannel`: in this process, or, with more than
one process, in that many forked children that share the socket, each
building its own application after the fork (no database connection is
shared), restarted if one dies.  SIGTERM stops taking connections,
lets running calls finish (``graceful_timeout`` at most) and exits 0;
SIGINT stops at once.

Every answer gets an access log line (`AccessLog`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from codeimport.errors import ConfigurationError
from codeimport.scripts.httpchannel import Deadlines
from codeimport.text import printable

__all__ = ["AccessLog", "ServiceOptions", "check_bind", "listen",
           "run_service"]

log = logging.getLogger("codeimport.http")

#: Exit status of a process whose application could not be built.
BOOT_FAILED = 3
#: The one address whose X-Forwarded-Proto is believed.
TRUSTED_PROXY = "127.0.0.1"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class ServiceOptions:
    """How `run_service` serves: where, with how many processes and
    threads, and the limits a client must keep."""

    bind: str
    name: str
    processes: int = 1
    threads: int = 8
    deadlines: Deadlines = field(default_factory=Deadlines)
    #: Larger bodies are answered 413 by the front end.
    max_request_bytes: int = 1024 * 1024
    #: Open connections per process; more wait in the listen backlog.
    connection_limit: int = 1000
    graceful_timeout: float = 30.0
    #: A file to append access log lines to; "-" for stdout, None for
    #: none.
    access_log: str | None = "-"
    #: Called once, in the first process, when the socket listens: what
    #: a service says at start, once startup can no longer fail.
    on_listening: Callable[[], None] | None = None


def parse_bind(bind: str):
    """(socket family, address) of a ``HOST:PORT`` or ``unix:PATH``.

    :raises ConfigurationError: for anything else.
    """
    if bind.startswith("unix:"):
        path = bind[len("unix:"):]
        if not path:
            raise ConfigurationError(f"Bad --bind {bind!r}: no path.")
        return socket.AF_UNIX, path
    host, colon, port = bind.rpartition(":")
    if not colon or not host:
        raise ConfigurationError(
            f"Bad --bind {bind!r}: use HOST:PORT or unix:PATH.")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit():
        raise ConfigurationError(f"Bad --bind {bind!r}: no port {port!r}.")
    if not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"Bad --bind {bind!r}: no port {port}.")
    return socket.AF_INET, (host, int(port))


def check_bind(bind: str) -> None:
    """Refuse an address the service could never listen on, without
    listening.

    :raises ConfigurationError: for a bad port or an unknown host name.
    """
    family, address = parse_bind(bind)
    if family == socket.AF_UNIX:
        return
    try:
        socket.getaddrinfo(*address, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise ConfigurationError(
            f"Cannot listen on {bind!r}: {error}") from None


def listen(bind: str, backlog: int = 1024) -> socket.socket:
    """A socket listening on `bind`.

    :raises ConfigurationError: in one line, when the address is in use,
        not this machine's, or not an address at all.
    """
    check_bind(bind)
    family, address = parse_bind(bind)
    try:
        if family == socket.AF_UNIX:
            _remove_stale_unix_socket(address)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            family, kind, proto, _, address = socket.getaddrinfo(
                *address, type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
    except OSError as error:
        reason = ("the address is already in use"
                  if error.errno == errno.EADDRINUSE
                  else error.strerror or str(error))
        raise ConfigurationError(
            f"Cannot listen on {bind}: {reason}.") from None
    sock.set_inheritable(False)
    return sock


def _remove_stale_unix_socket(path: str) -> None:
    """Remove a socket file nothing listens on any more."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
    except OSError:
        pass  # bind says what is wrong
    else:
        raise OSError(errno.EADDRINUSE, "in use")
    finally:
        probe.close()


def _address_text(sock: socket.socket) -> str:
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}"
    host, port = address[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def run_service(app_factory, options: ServiceOptions) -> int:
    """Serve what `app_factory` builds until a stop signal; return the
    exit status.

    :raises ConfigurationError: when `options.bind` cannot be listened
        on (before anything is started).
    """
    sock = listen(options.bind)
    unix_path = (sock.getsockname() if sock.family == socket.AF_UNIX
                 else None)
    log.info("Listening at: %s (%d process(es) of %d threads, header "
             "deadline %gs, body deadline %gs)", _address_text(sock),
             options.processes, options.threads,
             options.deadlines.header, options.deadlines.body)
    if options.on_listening is not None:
        options.on_listening()
    try:
        if options.processes == 1:
            code = _serve(sock, app_factory, options)
        else:
            code = _supervise(sock, app_factory, options)
    finally:
        if unix_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(unix_path)
        sock.close()
    log.info("%s stopped", options.name)
    return code


def _supervise(sock, app_factory, options: ServiceOptions) -> int:
    """Run `options.processes` children serving `sock`, restarting any
    that dies, until a stop signal (which they are sent too)."""
    watched = {signal.SIGCHLD, *_STOP_SIGNALS}
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    children: dict[int, int] = {}  # pid -> slot

    def start(slot: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1  # a failure after the start: the child is replaced
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
                code = _serve(sock, app_factory, options)
            except BaseException:
                log.exception("worker process failed")
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = slot

    stopping = None
    failed = False
    deadline = None
    try:
        for slot in range(options.processes):
            start(slot)
        while children:
            if deadline is None:
                info = signal.sigwaitinfo(watched)
            else:
                info = signal.sigtimedwait(
                    watched, max(0.0, deadline - time.monotonic()))
                if info is None:
                    for pid in children:
                        os.kill(pid, signal.SIGKILL)
                    deadline = time.monotonic() + 5
                    continue
            if info.si_signo in _STOP_SIGNALS and stopping is None:
                stopping = info.si_signo
                for pid in children:
                    os.kill(pid, stopping)
                deadline = time.monotonic() + options.graceful_timeout + 5
            for pid, code in _reaped():
                slot = children.pop(pid, None)
                if slot is None or stopping is not None:
                    continue
                if code == BOOT_FAILED:
                    log.error("a worker process could not start; stopping")
                    failed = True
                    stopping = signal.SIGTERM
                    for other in children:
                        os.kill(other, stopping)
                    deadline = time.monotonic() + options.graceful_timeout
                else:
                    log.warning("worker process %d exited (%s); starting "
                                "another", pid, code)
                    start(slot)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    return 1 if failed else 0


def _reaped():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, os.waitstatus_to_exitcode(status)


def _serve(sock, app_factory, options: ServiceOptions) -> int:
    """Serve `sock` in this process until a stop signal."""
    from waitress import wasyncore
    from waitress.adjustments import Adjustments

    from codeimport.scripts import malloc
    from codeimport.scripts.httpchannel import dispatcher
    from codeimport.scripts.httpchannel import server_class

    malloc.use_one_arena()
    _log_waitress_like_us()
    stop = []
    handlers = {signum: signal.signal(signum, lambda s, f: stop.append(s))
                for signum in _STOP_SIGNALS}
    try:
        try:
            app = app_factory()
        except Exception:
            log.exception("cannot build the application")
            return BOOT_FAILED
        deadlines = options.deadlines
        adjustments = Adjustments(
            sockets=[sock], threads=options.threads,
            connection_limit=options.connection_limit,
            asyncore_use_poll=True,
            max_request_body_size=options.max_request_bytes + 1,
            ident="codeimport", expose_tracebacks=False,
            # A TLS proxy on this machine says the scheme, so that
            # absolute URLs (the web's redirects) stay https; nobody
            # else may.
            trusted_proxy=TRUSTED_PROXY,
            trusted_proxy_headers={"x-forwarded-proto"},
            clear_untrusted_proxy_headers=True,
            log_untrusted_proxy_headers=False)
        # Set after parsing, which would round them to whole seconds.
        # waitress's own timeout: a connection silent this long between
        # requests is closed.
        adjustments.channel_timeout = deadlines.header
        # How often overdue requests are looked for.
        adjustments.cleanup_interval = min(1.0, deadlines.header / 4,
                                           deadlines.body / 4)
        server = server_class(sock.family)(
            AccessLog(app, _open_access_log(options.access_log)),
            {}, _sock=sock, bind_socket=False, adj=adjustments,
            dispatcher=dispatcher(options.threads),
            sockinfo=(sock.family, sock.type, sock.proto,
                      sock.getsockname()))
        server.deadlines = deadlines
        server.on_timeout = _log_timeout
        channels = server._map
        while not stop:
            wasyncore.loop(timeout=0.2, map=channels, use_poll=True,
                           count=1)
        # Stop taking connections; let the calls under way finish.
        server.del_channel()
        server.accepting = False
        grace = options.graceful_timeout if stop[0] == signal.SIGTERM else 0
        ends = time.monotonic() + grace
        while time.monotonic() < ends and any(
                channel.requests or channel.total_outbufs_len
                for channel in server.active_channels.values()):
            wasyncore.loop(timeout=0.1, map=channels, use_poll=True,
                           count=1)
        server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(channels)
        close = getattr(app, "close", None)
        if close is not None:
            close()
        return 0
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _log_waitress_like_us() -> None:
    """Send waitress's warnings ("Task queue depth is 3": calls waiting
    for a thread) where ours go, in our format."""
    ours = logging.getLogger("codeimport")
    theirs = logging.getLogger("waitress")
    theirs.handlers = list(ours.handlers)
    theirs.propagate = not ours.handlers
    theirs.setLevel(max(ours.getEffectiveLevel(), logging.WARNING))


def _log_timeout(address, message: str) -> None:
    log.info("408 for %s: %s", _client(address), message)


def _client(address) -> str:
    if isinstance(address, tuple):
        return str(address[0])
    return "unix"


def _open_access_log(path: str | None):
    if path is None or path == os.devnull:
        return None
    if path == "-":
        return sys.stdout
    return open(path, "a", encoding="utf-8", buffering=1)


class AccessLog:
    """WSGI middleware: one line per answer.

    The line reads ``HOST USER [TIME] "REQUEST LINE" STATUS BYTES
    MILLISECONDSms "USER AGENT"``; the user is the authenticated name the
    application put in ``REMOTE_USER`` (never a password), and what the
    client sent is escaped (`codeimport.text.printable`).
    """

    def __init__(self, app, stream):
        self.app = app
        self.stream = stream

    def close(self):
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def __call__(self, environ, start_response):
        started = time.monotonic()
        answer = {"status": "-", "bytes": "-"}

        def start(status, headers, exc_info=None):
            answer["status"] = status.split(" ", 1)[0]
            for name, value in headers:
                if name.lower() == "content-length":
                    answer["bytes"] = value
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            if self.stream is not None:
                self._write(environ, answer, time.monotonic() - started)

    def _write(self, environ, answer, seconds):
        request = " ".join((
            environ.get("REQUEST_METHOD", "-"),
            environ.get("PATH_INFO", "") + (
                "?" + environ["QUERY_STRING"]
                if environ.get("QUERY_STRING") else ""),
            environ.get("SERVER_PROTOCOL", "-")))
        line = '%s %s [%s] "%s" %s %s %dms "%s"\n' % (
            _escaped(environ.get("REMOTE_ADDR", "-")),
            _escaped(environ.get("REMOTE_USER") or "-"),
            time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            _escaped(request), answer["status"], answer["bytes"],
            seconds * 1000, _escaped(environ.get("HTTP_USER_AGENT", "-")))
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a full disk or closed stdout must not fail the call


def _escaped(text: str, limit: int = 500) -> str:
    # The one escaping rule (codeimport.text), and quotes, which delimit
    # the fields of the line.
    return printable(text, limit).replace('"', "\\x22")
