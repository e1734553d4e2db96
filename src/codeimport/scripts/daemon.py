"""What the long-running scripts share: stopping on a signal.

`StopSignals` turns SIGTERM and SIGINT into a stop request that a loop
checks between rounds, so a daemon finishes what it is doing and exits
cleanly, without a traceback.  Work that must be cut short instead (a
long download) runs inside `StopSignals.cancelling`: a signal there
kills the programs it runs (`codeimport.worker.cancellation`); the
handler never raises, so no exception lands at an arbitrary instant.
"""

from __future__ import annotations

import contextlib
import signal

from codeimport.worker.cancellation import Cancellation
from codeimport.worker.waker import Waker

__all__ = ["StopSignals"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Catches SIGTERM and SIGINT while active (a context manager)."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._cancellation: Cancellation | None = None
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
        if self._cancellation is not None:
            self._cancellation.cancel()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return True if a stop was requested."""
        if not self.requested:
            self._waker.wait(seconds)
        return self.requested

    @contextlib.contextmanager
    def cancelling(self):
        """Run the block with a `Cancellation` that a stop signal sets:
        the programs `run_tool` runs in the block are killed at once, and
        none starts after the signal.  The block ends normally (its
        programs fail); check `requested` afterwards."""
        cancellation = Cancellation()
        # Published before `requested` is read: a signal arriving in
        # between then cancels it either way.
        self._cancellation = cancellation
        try:
            if self.requested:
                cancellation.cancel()
            with cancellation.active():
                yield cancellation
        finally:
            self._cancellation = None
