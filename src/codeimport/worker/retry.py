"""Retrying calls that failed for transient reasons, with back-off."""

from __future__ import annotations

import time
from typing import Callable
from typing import TypeVar

__all__ = ["Backoff", "call_with_retry"]

T = TypeVar("T")


class Backoff:
    """Delays that double after each failure, up to a cap.

    :param first: the first delay, in seconds.
    :param cap: the longest delay.
    """

    def __init__(self, first: float, cap: float):
        self.first = first
        self.cap = max(cap, first)
        self._next = first

    def next(self) -> float:
        """Return the delay to wait now, and double the following one."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Start again from the first delay (after a success)."""
        self._next = self.first


def call_with_retry(
    func: Callable[[], T],
    *,
    give_up_after: float,
    first_delay: float = 1.0,
    max_delay: float = 30.0,
    wait: Callable[[float], bool] | None = None,
    on_retry: Callable[[OSError, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `func` until it does not raise `OSError`, for a bounded time.

    Only `OSError` (refused or reset connections, timeouts and
    `codeimport.wire.client.RemoteUnavailable`) is retried; any other
    error is the answer and propagates at once.

    :param give_up_after: seconds after which the last `OSError` is
        raised instead of waiting again.
    :param wait: waits for the given seconds and returns True if the
        caller wants to stop early (``threading.Event.wait`` fits); the
        last error is then raised.  Defaults to `time.sleep`.
    :param on_retry: told about each failure and the delay before the
        next try, for logging.
    """
    if wait is None:
        wait = _sleep
    deadline = clock() + give_up_after
    backoff = Backoff(first_delay, max_delay)
    while True:
        try:
            return func()
        except OSError as error:
            remaining = deadline - clock()
            if remaining <= 0:
                raise
            delay = min(backoff.next(), remaining)
            if on_retry is not None:
                on_retry(error, delay)
            if wait(delay):
                raise


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
