"""The HTTP front end both services run on: waitress, with deadlines.

waitress reads every request, headers and body, in one event loop and
hands a request to a thread only once it has all arrived (bodies over
half a megabyte wait in a temporary file, not in memory).  So a slow
client never holds a thread; it holds a connection, and waitress's own
``channel_timeout`` closes a connection only when it is *silent*.  A
client trickling one header line every few seconds is never silent, so
this module adds what waitress lacks:

* a **header deadline**: the request line and headers must have arrived
  `Deadlines.header` seconds after the request's first byte;
* a **body deadline**: the body must have arrived `Deadlines.body`
  seconds after the headers.

A request past its deadline is answered ``408 Request Timeout`` and the
connection is closed.  A body over the size limit is read and thrown
away (up to `DRAIN_LIMIT` bytes, within the body deadline) before the
``413`` answer, so that a client still sending reads the answer instead
of a broken pipe; a larger one gets the 413 at once and the connection
is closed.

After a request with a large body, the worker thread hands the memory
it freed back to the system (`codeimport.scripts.malloc`), so that a
30 MB call does not leave the process at several times its idle size.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.server import UnixWSGIServer
from waitress.task import ThreadedTaskDispatcher
from waitress.utilities import RequestEntityTooLarge

from codeimport.scripts import malloc

__all__ = ["DRAIN_LIMIT", "Deadlines", "dispatcher", "server_class"]

#: The most body bytes read and dropped to answer 413 cleanly.
DRAIN_LIMIT = 256 * 1024 * 1024
#: A request with a body at least this large is followed by
#: `malloc.trim`.
TRIM_AFTER_BYTES = 1024 * 1024

_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n%s")


@dataclass(frozen=True)
class Deadlines:
    """Seconds a request's headers and its body may take to arrive."""

    header: float = 10.0
    body: float = 60.0


class _DrainingParser(HTTPRequestParser):
    """Reads and drops a too-large body before the 413 is sent."""

    draining = 0  # body bytes still to drop

    def received(self, data):
        if self.draining:
            taken = min(len(data), self.draining)
            self.draining -= taken
            self.completed = not self.draining
            return taken
        consumed = super().received(data)
        if (isinstance(self.error, RequestEntityTooLarge)
                and self.headers_finished and not self.chunked
                and self.content_length <= DRAIN_LIMIT):
            self.draining = self.content_length
            self.completed = False
        return consumed


class _DeadlineChannel(HTTPChannel):
    """A connection that knows when its unfinished request began."""

    parser_class = _DrainingParser
    started = None  # time.monotonic() of the unfinished request's start
    headers_done = None  # ... and of the end of its headers

    def received(self, data):
        before = self.request
        result = super().received(data)
        request = self.request
        now = time.monotonic()
        if request is None:
            self.started = self.headers_done = None
        elif request is not before:
            self.started, self.headers_done = now, None
        if (request is not None and request.headers_finished
                and self.headers_done is None):
            self.headers_done = now
        return result

    def service(self):
        # Runs one request in a worker thread; when it is done and its
        # buffers are closed, hand a large one's memory back.
        request = self.requests[0]
        large = max(request.content_length,
                    request.body_bytes_received) >= TRIM_AFTER_BYTES
        super().service()
        if large:
            malloc.trim()

    def overdue(self, now: float, deadlines: Deadlines) -> str | None:
        """Why this connection's unfinished request is too late, if it
        is."""
        if self.requests or self.started is None or self.will_close:
            return None  # idle, or answering: waitress's timeouts apply
        if self.headers_done is None:
            if now - self.started > deadlines.header:
                return "The request headers arrived too slowly."
        elif now - self.headers_done > deadlines.body:
            return "The request body arrived too slowly."
        return None

    def time_out(self, message: str) -> None:
        """Answer 408 and close once it is sent (main loop only)."""
        body = (message + "\n").encode()
        response = _TIMEOUT % (len(body), body)
        with self.outbuf_lock:
            self.outbufs[-1].append(response)
            self.total_outbufs_len += len(response)
            self.current_outbuf_count += len(response)
        if self.request is not None:
            self.request.close()  # a body's temporary file
        self.request = None
        self.started = self.headers_done = None
        self.close_when_flushed = True
        self.server.log_timeout(self, message)


class _LastWaiterFirst(threading.Condition):
    """A condition whose `notify` wakes the thread that waited last.

    (CPython's wakes the one that waited longest; this relies on its
    `_waiters` deque, unchanged since Python 3.2.)
    """

    def notify(self, n=1):
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        waiters = self._waiters
        while waiters and n > 0:
            waiter = waiters.pop()
            try:
                waiter.release()
            except RuntimeError:
                continue
            n -= 1


def dispatcher(threads: int) -> ThreadedTaskDispatcher:
    """waitress's thread pool, handing each request to the thread that
    went idle last.

    Each thread holds its own database connections, opened on its first
    request.  waitress's pool wakes the thread idle longest, so one
    client calling in turn soon has every thread open connections;
    waking the last one keeps as many connections open as calls ever ran
    at once.
    """
    pool = ThreadedTaskDispatcher()
    pool.queue_cv = _LastWaiterFirst(pool.lock)
    pool.set_thread_count(threads)
    return pool


class _Deadlined:
    """Mixed into waitress's servers: closes overdue requests in its
    periodic maintenance."""

    channel_class = _DeadlineChannel
    deadlines = Deadlines()
    on_timeout = None

    def maintenance(self, now):
        # Replaces waitress's: its channel_timeout still closes a
        # connection silent between requests, and the deadlines govern
        # one in the middle of a request.
        moment = time.monotonic()
        silent_since = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            message = channel.overdue(moment, self.deadlines)
            if message is not None:
                channel.time_out(message)
            elif (not channel.requests and channel.started is None
                    and channel.last_activity < silent_since):
                channel.will_close = True

    def log_timeout(self, channel, message):
        if self.on_timeout is not None:
            self.on_timeout(channel.addr, message)


class _TcpServer(_Deadlined, TcpWSGIServer):
    pass


class _UnixServer(_Deadlined, UnixWSGIServer):
    pass


def server_class(family) -> type:
    """The deadline-keeping waitress server for a socket family."""
    import socket

    return _UnixServer if family == socket.AF_UNIX else _TcpServer
