"""Cancelling the programs `run_tool` runs, from a signal handler.

A daemon that must stop in the middle of a long download (the branch
puller on SIGTERM) does not raise an exception from its signal handler:
one raised at an arbitrary instant can land half-way through building an
object, a ``finally`` clause or ``subprocess.Popen`` itself, and leave
a traceback or a running child behind.  Instead the work runs inside
`Cancellation.active`, and the handler calls `Cancellation.cancel`,
which only sets a flag and kills the process groups of the programs
running there.  `run_tool` then reports the killed program as
`ToolCancelled` (a `ToolFailed`), refuses to start another one, and the
daemon, which checks its own stop flag when the work returns, reports
the work as interrupted.

The handler runs in the main thread between two bytecodes of whatever
the main thread was doing, so `run_tool` registers a program *then*
checks the flag: whichever comes first, the program is killed.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal

__all__ = ["Cancellation", "current"]

_CURRENT: contextvars.ContextVar[Cancellation | None] = (
    contextvars.ContextVar("codeimport_cancellation", default=None))


def current() -> Cancellation | None:
    """The cancellation `run_tool` answers to here, if any."""
    return _CURRENT.get()


class Cancellation:
    """A flag, plus the process groups to kill when it is set."""

    def __init__(self) -> None:
        self.cancelled = False
        self._groups: set[int] = set()

    @contextlib.contextmanager
    def active(self):
        """Make this the cancellation of the programs started inside."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def cancel(self) -> None:
        """Set the flag and kill every registered process group.  Safe in
        a signal handler: it raises nothing and waits for nothing."""
        self.cancelled = True
        for group in list(self._groups):
            _kill_group(group)

    def register(self, group: int) -> None:
        """Kill process group `group` on cancel, or now if cancelled."""
        self._groups.add(group)
        if self.cancelled:
            _kill_group(group)

    def unregister(self, group: int) -> None:
        self._groups.discard(group)


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
