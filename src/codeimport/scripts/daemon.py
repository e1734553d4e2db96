"""What the long-running scripts share: stopping on a signal, log lines.

`StopSignals` turns SIGTERM and SIGINT into a stop request that a loop
checks between rounds, so a daemon finishes what it is doing and exits
cleanly, without a traceback.  Code that must be cut short instead (a
long download) runs inside `StopSignals.interruptible`, where a signal
raises `StopRequested` at once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys

from codeimport.worker.waker import Waker

__all__ = [
    "StopRequested",
    "StopSignals",
    "first_line",
    "positive_seconds",
    "setup_logging",
]

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
        return self

    def __exit__(self, *exc_info) -> None:
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


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message is logged."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(name: str, verbose: bool = False) -> logging.Logger:
    """Log one timestamped line per message to stderr; return the logger.
    """
    logger = logging.getLogger(name)
    # Replace, not add: main() may run more than once in one process
    # (tests), each time with the sys.stderr of the moment.
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    return logger


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def first_line(error: BaseException) -> str:
    """The first line of an error's message, with its type if empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
