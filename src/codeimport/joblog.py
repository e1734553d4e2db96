"""What a job's output may cost: the log tail and the uploaded log.

Both sides of the scheduler apply these limits, from this one module:

* the **log tail** a heartbeat carries (``updateHeartbeat``), shown by
  ``codeimport status`` and copied into the result's ``log_excerpt``,
  is the last `LOG_TAIL_LINES` lines of the worker's output and at most
  `LOG_TAIL_CHARACTERS` characters.  A carriage return ends a line, as
  it does on a terminal, so a progress meter that redraws itself with
  "\\r" is as many lines as it has redraws.  The monitor keeps its tail
  with `update_tail` (constant memory, cost linear in the output); the
  service cuts whatever it receives with `cap_tail`;
* the **log** a finished job uploads (``finishJobID``) is at most
  `LOG_FILE_LIMIT` bytes: a longer one keeps its first `LOG_HEAD_BYTES`
  and its last bytes, with a line saying how much was left out between
  them (`truncated_marker`).  The monitor keeps no more than that of
  the worker's output (`JobLog`), however long it runs; the service
  cuts a longer upload the same way (`truncate_log`).  If the service
  still refuses the upload as too large (HTTP 413: its
  ``--max-request-bytes`` is set lower), the result is sent again with
  the log cut to each of `LOG_UPLOAD_LIMITS` in turn
  (`codeimport.worker.spool.deliver`), so that it is always reported.
"""

from __future__ import annotations

import re

__all__ = [
    "LOG_FALLBACK_LIMIT",
    "LOG_FILE_LIMIT",
    "LOG_HEAD_BYTES",
    "LOG_LAST_RESORT_LIMIT",
    "LOG_TAIL_CHARACTERS",
    "LOG_TAIL_LINES",
    "LOG_UPLOAD_LIMITS",
    "JobLog",
    "cap_tail",
    "truncate_log",
    "truncated_marker",
    "update_tail",
]

#: Lines of output a log tail keeps.
LOG_TAIL_LINES = 5
#: Characters a log tail keeps at most (bytes, on the monitor's side).
LOG_TAIL_CHARACTERS = 2000
#: The largest log a finished job uploads, in bytes (8 MiB); sent in
#: base64 it stays well below the service's default request limit.
LOG_FILE_LIMIT = 8 * 1024 * 1024
#: How much of the start of a longer log is kept.
LOG_HEAD_BYTES = 1024 * 1024
#: The size a log is cut to when the service refuses the first upload.
LOG_FALLBACK_LIMIT = 256 * 1024
#: The size of the last try: a few lines of the start and the end.
LOG_LAST_RESORT_LIMIT = 4 * 1024
#: The sizes a log is uploaded at, largest first, when the service
#: refuses one as too large.
LOG_UPLOAD_LIMITS = (LOG_FILE_LIMIT, LOG_FALLBACK_LIMIT,
                     LOG_LAST_RESORT_LIMIT)
_FALLBACK_HEAD_BYTES = 32 * 1024

_BREAKS = {str: re.compile("\r\n|\r|\n"), bytes: re.compile(b"\r\n|\r|\n")}


def _last_lines(text, lines: int, limit: int):
    """The last `lines` pieces between line breaks of `text` (str or
    bytes), the breaks between them kept, and at most its last `limit`
    characters.  Output that ends with a break keeps an empty last
    piece, as the original's "last five lines" did."""
    # Only the last `limit` characters can survive, and one more tells a
    # "\r\n" that straddles the cut from a lone "\n".
    text = text[-(limit + 1):]
    starts = [match.end() for match in _BREAKS[type(text)].finditer(text)]
    if len(starts) >= lines:
        text = text[starts[-lines]:]
    return text[-limit:] if len(text) > limit else text


def update_tail(tail: bytes, data: bytes, lines: int = LOG_TAIL_LINES,
                limit: int = LOG_TAIL_CHARACTERS) -> bytes:
    """Append the output `data` to the monitor's `tail` and keep its
    last `lines` lines and at most `limit` bytes.

    `tail` never holds more than `limit` bytes, and each call looks at
    no more than ``2 * limit + 1`` of them, so the cost is linear in the
    output however it is split and whatever breaks its lines.
    """
    tail = _last_lines(tail + data[-(limit + 1):], lines, limit)
    # A cut may fall inside a UTF-8 sequence: drop the stray
    # continuation bytes rather than show a replacement character.
    if len(tail) == limit:
        tail = tail.lstrip(bytes(range(0x80, 0xC0)))
    return tail


def cap_tail(tail: str, lines: int = LOG_TAIL_LINES,
             limit: int = LOG_TAIL_CHARACTERS) -> str:
    """The service's side of `update_tail`: a received log tail cut to
    its last `lines` lines and `limit` characters."""
    return _last_lines(tail, lines, limit)


def truncated_marker(left_out: int, limit: int) -> bytes:
    """The line that stands where part of a long log was left out."""
    return (f"\n[codeimport: {left_out:,} bytes of this log were left out "
            f"here; a job's log keeps its first and last bytes, "
            f"{limit:,} in all.]\n").encode("ascii")


def _head_bytes(limit: int) -> int:
    return LOG_HEAD_BYTES if limit >= LOG_FILE_LIMIT else min(
        _FALLBACK_HEAD_BYTES, limit // 4)


def _join(head: bytes, tail: bytes, size: int, limit: int) -> bytes:
    # Cut at line ends where one is near, so no line is shown in part.
    end = head.rfind(b"\n")
    if end >= len(head) // 2:
        head = head[:end + 1]
    start = tail.find(b"\n")
    if 0 <= start < len(tail) // 2:
        tail = tail[start + 1:]
    return head + truncated_marker(size - len(head) - len(tail),
                                   limit) + tail


def _room(limit: int) -> int:
    # What the head and tail may take, leaving room for the marker.
    return limit - len(truncated_marker(10**15, limit))


def truncate_log(data: bytes, limit: int = LOG_FILE_LIMIT, *,
                 size: int | None = None) -> bytes:
    """`data` if it fits in `limit` bytes, else its head and tail with
    `truncated_marker` between them, in at most `limit` bytes.

    :param size: the size of the whole log, when `data` is already only
        its head and tail (`JobLog`): the marker counts from it.
    """
    size = len(data) if size is None else size
    if size <= limit:
        return data
    room = _room(limit)
    head = min(_head_bytes(limit), room)
    return _join(data[:head], data[len(data) - (room - head):], size,
                 limit)


class JobLog:
    """A job's log as the worker writes it, in bounded memory: what
    `truncate_log` keeps of the whole (its first `LOG_HEAD_BYTES` and
    its last bytes, `LOG_FILE_LIMIT` in all), however long the output.

    It has a binary file's ``write`` and ``flush``, so the monitor copies
    the worker's output into it as into a file; `getvalue` is the log to
    upload.  A source that prints without end costs neither disk nor
    more than ``LOG_HEAD_BYTES + 2 * LOG_FILE_LIMIT`` of memory.
    """

    def __init__(self):
        #: Every byte written, kept or not.
        self.size = 0
        self._head = bytearray()
        self._tail = bytearray()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        room = LOG_HEAD_BYTES - len(self._head)
        if room > 0:
            self._head += data[:room]
        self._tail += data[max(room, 0):]
        # Trimmed by half its size at a time, so that each byte is moved
        # a bounded number of times.
        if len(self._tail) > 2 * LOG_FILE_LIMIT:
            del self._tail[:len(self._tail) - LOG_FILE_LIMIT]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: the log is in memory."""

    def getvalue(self) -> bytes:
        """The log, cut as `truncate_log` cuts it."""
        if self.size <= LOG_FILE_LIMIT:
            return bytes(self._head + self._tail)
        # The head is full, and the tail holds more than the rest.
        tail = LOG_FILE_LIMIT - LOG_HEAD_BYTES
        return truncate_log(bytes(self._head + self._tail[-tail:]),
                            LOG_FILE_LIMIT, size=self.size)
