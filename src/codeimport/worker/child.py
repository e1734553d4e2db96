"""A child process whose output is logged and whose silence is punished.

`WorkerProcess` runs a command in its own process group with stdout and
stderr on one pipe, copies everything it prints to a log file, and
`watch` waits for it to end, killing it (SIGINT, then SIGKILL) when it
prints nothing for too long or when the owner asks it to stop.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

from codeimport.worker.waker import Waker

__all__ = ["WorkerProcess"]

READ_SIZE = 65536


class WorkerProcess:
    """A running worker.

    :param command: the argv to run.
    :param logfile: binary file that receives all output.
    :param on_output: called with each chunk of output, in order.
    :param env: the environment, or None for ours.
    :raises OSError: when the command cannot be started.

    After `watch`, `returncode` is the exit status (negative for a
    signal) and `kill_reason` says why we killed it, or is None.
    """

    def __init__(
        self,
        command: list[str],
        logfile: IO[bytes],
        on_output: Callable[[bytes], None],
        env: dict[str, str] | None = None,
    ):
        self.logfile = logfile
        self.on_output = on_output
        self.kill_reason: str | None = None
        self.returncode: int | None = None
        self._waker = Waker()
        self._exited = threading.Event()
        try:
            # A process group of its own, so that killing it also kills
            # whatever it started, and a terminal's Ctrl-C reaches only us.
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            self._waker.close()
            raise
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._waiter = threading.Thread(
            target=self._waitForExit, name="worker-wait", daemon=True
        )
        self._waiter.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _waitForExit(self) -> None:
        self.proc.wait()
        self._exited.set()
        self._waker.poke()

    def poke(self) -> None:
        """Make `watch` look at its `should_stop` callback now."""
        self._waker.poke()

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the whole group has already gone

    def watch(
        self,
        *,
        inactivity_timeout: float,
        kill_grace: float,
        should_stop: Callable[[], str | None],
    ) -> int:
        """Copy output until the worker has exited and its output ended.

        :param should_stop: returns a reason to kill the worker, or None;
            asked whenever `poke` is called.
        :return: the exit status.
        """
        clock = time.monotonic
        stdout = self.proc.stdout
        last_output = clock()
        kill_at = orphans_at = None
        eof = killed = False
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            selector.register(self._waker.fileno(), selectors.EVENT_READ)
            while not (eof and self._exited.is_set()):
                now = clock()
                deadlines = []
                if kill_at is None:
                    reason = should_stop()
                    if reason is None and (
                        now - last_output >= inactivity_timeout
                    ):
                        reason = (
                            f"The worker printed nothing for "
                            f"{inactivity_timeout:g} seconds."
                        )
                    if reason is not None:
                        self.kill_reason = reason
                        self._signal(signal.SIGINT)
                        kill_at = now + kill_grace
                    else:
                        deadlines.append(last_output + inactivity_timeout)
                if kill_at is not None and not killed:
                    if now >= kill_at:
                        self._signal(signal.SIGKILL)
                        killed = True
                    else:
                        deadlines.append(kill_at)
                if self._exited.is_set() and not eof:
                    # Something the worker started still holds the pipe.
                    if orphans_at is None:
                        orphans_at = now + kill_grace
                    if now >= orphans_at:
                        self._signal(signal.SIGKILL)
                        break
                    deadlines.append(orphans_at)
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                for key, _ in selector.select(timeout):
                    if key.fileobj is stdout:
                        got = self._read(stdout)
                        if got:
                            last_output = clock()
                        elif got is not None:
                            eof = True
                            selector.unregister(stdout)
                    else:
                        self._waker.drain()
        self.returncode = self.proc.wait()
        return self.returncode

    def _read(self, stdout) -> bool | None:
        """Copy what is available: True if some, False at the end of the
        output, None if there was nothing after all."""
        try:
            data = os.read(stdout.fileno(), READ_SIZE)
        except BlockingIOError:
            return None
        if data:
            self.logfile.write(data)
            self.logfile.flush()
            self.on_output(data)
            return True
        return False

    def close(self) -> None:
        """Release the pipe; kill the group if it is somehow still there."""
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait()
        # The waiter pokes the waker once the process ends; closing the
        # pipe before that could let it write to a reused descriptor.
        self._waiter.join()
        self.proc.stdout.close()
        self._waker.close()
