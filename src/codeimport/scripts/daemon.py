"""What the long-running scripts share: stopping on a signal.

`StopSignals` turns SIGTERM and SIGINT into a stop request that a loop
checks between rounds, so a daemon finishes what it is doing and exits
cleanly, without a traceback.  Code that must be cut short instead (a
long download) runs inside `StopSignals.interruptible`, where a signal
raises `StopRequested` at once.
"""

from __future__ import annotations

import contextlib
import signal

from codeimport.worker.waker import Waker

__all__ = ["StopRequested", "StopSignals"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequested(BaseException):
    """A stop signal arrived inside `StopSignals.interruptible`.

    A `BaseException`, like `KeyboardInterrupt`, so that library code
    catching `Exception` does not swallow it.
    """


class StopSignals:
    """Catches SIGTERM and SIGINT while active (a context manager)."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._interruptible = False
        self._waker: Waker | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        self._waker = Waker()
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        # The kernel may deliver a signal to any thread; Python then runs
        # the handler in the main thread only when it next wakes.  The
        # wake-up fd makes the C-level handler write to our pipe, so a
        # main thread asleep in `wait` wakes whichever thread was hit.
        self._previous_wakeup_fd = signal.set_wakeup_fd(
            self._waker.write_fileno(), warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc_info) -> None:
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        self._waker.close()

    def _handle(self, signum, frame) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        self._waker.poke()
        if self._interruptible:
            self._interruptible = False
            raise StopRequested(self.signal_name)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return True if a stop was requested."""
        if not self.requested:
            self._waker.wait(seconds)
        return self.requested

    @contextlib.contextmanager
    def interruptible(self):
        """Let a stop signal raise `StopRequested` inside this block."""
        if self.requested:
            raise StopRequested(self.signal_name)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False
