"""A self-pipe that wakes a waiting loop from threads or signal handlers."""

from __future__ import annotations

import os
import selectors

__all__ = ["Waker"]


class Waker:
    """Lets other threads and signal handlers interrupt a wait.

    `poke` only writes one byte to a non-blocking pipe, which is safe in a
    signal handler, unlike setting a `threading.Event` (its lock may
    already be held by the interrupted code).
    """

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    def fileno(self) -> int:
        """The end to select on for reading."""
        return self._read_fd

    def write_fileno(self) -> int:
        """The end a signal wake-up fd writes to."""
        return self._write_fd

    def poke(self) -> None:
        """Wake the waiter; harmless when it is already awake."""
        if self._write_fd < 0:
            return
        try:
            os.write(self._write_fd, b"!")
        except OSError:
            # A full pipe already holds a wake-up; a closed one has no
            # waiter left to wake.
            pass

    def drain(self) -> None:
        """Forget pending wake-ups."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except OSError:
            pass

    def wait(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds; return True if poked."""
        if timeout is not None:
            timeout = max(0.0, timeout)
        with selectors.DefaultSelector() as selector:
            selector.register(self._read_fd, selectors.EVENT_READ)
            poked = bool(selector.select(timeout))
        self.drain()
        return poked

    def close(self) -> None:
        """Release both ends of the pipe; later pokes do nothing."""
        fds = (self._read_fd, self._write_fd)
        self._read_fd = self._write_fd = -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)
