"""The dispatcher daemon: take jobs from the scheduler, one monitor each.

`Dispatcher.run` loops: it asks ``getJobForMachine(hostname, max_jobs)``
and starts a worker monitor process for each job id it gets.  When there
is no work, or the scheduler cannot be reached, it waits longer and
longer (doubling up to a cap), logging one line per failure; it never
gives up.

Stopping (SIGTERM or SIGINT): take no more jobs, give the running
monitors a grace period to finish, then send them SIGTERM, which makes
each kill its worker and report FAILURE.  Either way every job is
finished or, if even that report is lost, reclaimed by the scheduler.
A second signal cuts the grace period short.

Quiescing (SIGUSR1, or the quiesce file appearing): take no more jobs and
exit once the running ones have finished.

The machine's state is reported with the optional scheduler methods
``setMachineOnline``, ``setMachineQuiescing`` and ``setMachineOffline``;
a scheduler without them (fault 905) is tolerated.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable

from codeimport.errors import CodeImportError
from codeimport.worker.retry import Backoff
from codeimport.worker.waker import Waker
from codeimport.xmlrpc.client import UnknownRemoteMethod

__all__ = ["Dispatcher", "spawn_monitor"]

log = logging.getLogger("codeimport.dispatcher")


def spawn_monitor(
    command: list[str], env: dict[str, str] | None, log_path: str | None
) -> subprocess.Popen:
    """Start a monitor in a session of its own.

    Its own session keeps a terminal's Ctrl-C (meant for the dispatcher)
    away from it, and lets it finish reporting if the dispatcher dies.
    Its output goes to `log_path` when given.
    """
    output = open(log_path, "ab") if log_path else None
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            env=env,
            start_new_session=True,
        )
    finally:
        if output is not None:
            output.close()


class Dispatcher:
    """Runs monitors for the jobs the scheduler hands this machine.

    :param client: a `SchedulerClient` (or a stand-in).
    :param hostname: this machine's name, as the scheduler knows it.
    :param max_jobs: the most jobs to run at once (the worker_limit).
    :param spawn: starts the monitor for a job id and returns an object
        with ``poll()``, ``send_signal()`` and ``pid``, like `Popen`.
    :param poll_interval: the first wait after an empty or failed poll.
    :param max_backoff: the longest wait between polls.
    :param grace_period: how long a stop waits for running jobs before
        interrupting them.
    :param stop_timeout: how long to wait for interrupted monitors to
        report before leaving them to finish on their own.
    :param quiesce_file: quiesce when this path exists.
    :param load_average: returns the 1-minute load; after each dispatch
        the dispatcher waits 5 × load / max_jobs seconds (at most
        `poll_interval`), so busier machines leave jobs to others.
    """

    def __init__(
        self,
        client,
        hostname: str,
        max_jobs: int,
        spawn: Callable[[int], subprocess.Popen],
        *,
        poll_interval: float = 10.0,
        max_backoff: float = 300.0,
        grace_period: float = 60.0,
        stop_timeout: float = 30.0,
        quiesce_file: str | None = None,
        load_average: Callable[[], float] = lambda: os.getloadavg()[0],
    ):
        self.client = client
        self.hostname = hostname
        self.max_jobs = max_jobs
        self.spawn = spawn
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.stop_timeout = stop_timeout
        self.quiesce_file = quiesce_file
        self.load_average = load_average
        self.backoff = Backoff(poll_interval, max_backoff)
        self.children: list[tuple[int, subprocess.Popen]] = []
        self.waker = Waker()
        self._stop_requests = 0
        self._quiesce_requested = False
        self._quiescing = False
        self._announced_quiesce = False
        self._unsupported: set[str] = set()

    # Signal handlers call these; they only set attributes and poke.

    def requestStop(self) -> None:
        """Stop taking jobs and shut down (see the module docstring)."""
        self._stop_requests += 1
        self.waker.poke()

    def requestQuiesce(self) -> None:
        """Stop taking jobs and exit once the running ones are done."""
        self._quiesce_requested = True
        self.waker.poke()

    def installSignalHandlers(self) -> dict:
        """Route SIGTERM, SIGINT, SIGUSR1 and SIGCHLD here.

        :return: the previous handlers, for `signal.signal` to restore.
        """
        handlers = {
            signal.SIGTERM: lambda *_: self.requestStop(),
            signal.SIGINT: lambda *_: self.requestStop(),
            signal.SIGUSR1: lambda *_: self.requestQuiesce(),
            # Wakes the loop when a monitor exits, to reap it and fill
            # the free slot at once.
            signal.SIGCHLD: lambda *_: self.waker.poke(),
        }
        return {sig: signal.signal(sig, h) for sig, h in handlers.items()}

    @property
    def quiescing(self) -> bool:
        """Whether we take no more jobs and exit when idle (sticky)."""
        if not self._quiescing:
            self._quiescing = self._quiesce_requested or bool(
                self.quiesce_file and os.path.exists(self.quiesce_file)
            )
        return self._quiescing

    def run(self) -> int:
        """Dispatch until stopped or quiesced; return the exit status 0."""
        log.info("Dispatcher for %s started (at most %d jobs).",
                 self.hostname, self.max_jobs)
        self._notify("setMachineOnline", self.hostname)
        while not self._stop_requests:
            try:
                delay = self.step()
            except Exception as error:
                # Never die for one bad turn; the next one may work.
                delay = self.backoff.next()
                log.error("Dispatcher error: %r; retrying in %gs",
                          error, delay)
            if delay is None:
                break
            self.waker.wait(delay)
        if self._stop_requests:
            self.shutdown()
            reason = "STOPPED"
        else:
            reason = "QUIESCED"
        self._notify("setMachineOffline", self.hostname, reason)
        log.info("Dispatcher for %s exiting (%s).", self.hostname, reason)
        return 0

    def step(self) -> float | None:
        """Do one turn of the loop.

        :return: seconds to wait before the next turn, or None when
            quiesced with nothing left running.
        """
        self.reap()
        if self.quiescing:
            if not self._announced_quiesce:
                self._announced_quiesce = True
                log.info("Quiescing: taking no more jobs.")
                self._notify("setMachineQuiescing", self.hostname)
            if not self.children:
                return None
            return self.poll_interval
        if len(self.children) >= self.max_jobs:
            return self.poll_interval
        try:
            job_id = int(self.client.getJobForMachine(
                self.hostname, self.max_jobs))
        except (OSError, CodeImportError) as error:
            delay = self.backoff.next()
            log.warning("Cannot get a job from the scheduler: %s; "
                        "retrying in %gs", error, delay)
            return delay
        if not job_id:
            delay = self.backoff.next()
            log.debug("No jobs pending; polling again in %gs", delay)
            return delay
        self.backoff.reset()
        self.dispatch(job_id)
        return min(self.poll_interval,
                   5 * self.load_average() / self.max_jobs)

    def dispatch(self, job_id: int) -> None:
        """Start the monitor for `job_id`."""
        log.info("Dispatching job %d.", job_id)
        try:
            child = self.spawn(job_id)
        except OSError as error:
            # The job stays RUNNING until the scheduler reclaims it.
            log.error("Cannot start a monitor for job %d: %s", job_id, error)
            return
        self.children.append((job_id, child))

    def reap(self) -> None:
        """Forget monitors that have exited, logging how they ended."""
        for entry in list(self.children):
            job_id, child = entry
            status = child.poll()
            if status is not None:
                self.children.remove(entry)
                log.info("Monitor for job %d exited with status %d.",
                         job_id, status)

    def _waitForChildren(
        self, seconds: float, stop_count: int | None = None
    ) -> None:
        """Wait for the monitors to exit, for at most `seconds`; give up
        early when the stop count is no longer `stop_count`."""
        deadline = time.monotonic() + seconds
        while True:
            self.reap()
            remaining = deadline - time.monotonic()
            if not self.children or remaining <= 0:
                return
            if stop_count is not None and self._stop_requests != stop_count:
                return  # asked again: no more patience
            self.waker.wait(min(remaining, self.poll_interval))

    def shutdown(self) -> None:
        """Wait for running jobs, then interrupt those still running."""
        self.reap()
        if self.children:
            log.info("Stopping: waiting up to %gs for %d job(s).",
                     self.grace_period, len(self.children))
            self._waitForChildren(self.grace_period, self._stop_requests)
        for job_id, child in self.children:
            log.info("Interrupting job %d.", job_id)
            try:
                child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.children:
            self._waitForChildren(self.stop_timeout)
        if self.children:
            log.warning("%d monitor(s) still reporting; leaving them to "
                        "finish.", len(self.children))

    def _notify(self, method: str, *args) -> None:
        """Call an optional machine-state method; never fail for it."""
        try:
            getattr(self.client, method)(*args)
        except UnknownRemoteMethod:
            if method not in self._unsupported:
                self._unsupported.add(method)
                log.info("The scheduler has no %s; carrying on.", method)
        except (OSError, CodeImportError) as error:
            log.warning("%s failed: %s", method, error)
