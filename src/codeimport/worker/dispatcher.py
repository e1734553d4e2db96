"""The dispatcher daemon: take jobs from the scheduler, one monitor each.

`Dispatcher.run` first marks the machine ONLINE (``setMachineOnline``),
retrying with back-off until the scheduler answers.  Then it loops: it
asks ``getJobForMachine(hostname, max_jobs)`` and starts a worker monitor
process for each job id it gets.  It keeps asking even while it runs
`max_jobs` jobs: the scheduler enforces the limit (it counts the
machine's RUNNING jobs, as the original's dispatcher, which kept no
count, relied on), and each call is the machine's heartbeat, without
which the watchdog takes the machine OFFLINE after
``machine_heartbeat_limit``.  When there is no work, or the scheduler
cannot be reached, it waits longer and longer (doubling up to
`max_backoff`, which must stay well below that limit), logging one line
per failure; it never gives up.

When the scheduler has no job for it, the dispatcher reads its machine's
state (``getMachineState``, and ``getMachineOfflineReason`` when
OFFLINE) and follows it:

* OFFLINE because of the WATCHDOG (the dispatcher stopped polling for a
  while, say it was suspended): it marks the machine ONLINE again;
* QUIESCING, or OFFLINE because QUIESCED (an operator's ``codeimport
  machine quiesce``): it takes no more jobs and exits once its jobs are
  done, as on SIGUSR1, unless the machine is set ONLINE again first;
* OFFLINE for any other reason (an operator's ``codeimport machine
  offline``): it obeys, takes no jobs (the scheduler hands an OFFLINE
  machine none) and keeps polling, so ``codeimport machine online``
  brings it back.

Stopping (SIGTERM or SIGINT): take no more jobs, give the running
monitors a grace period to finish, then send them SIGTERM, which makes
each kill its worker and hand its job back (``reclaimJobID``: it is due
again at once, on any machine).  Either way every job is finished, handed
back or, if even that report is lost, reclaimed by the watchdog.  A
second signal cuts the grace period short.  The machine goes OFFLINE
(STOPPED).

Quiescing (SIGUSR1, or the quiesce file appearing): mark the machine
QUIESCING (``setMachineQuiescing``), take no more jobs and exit once the
running ones have finished; the machine goes OFFLINE (QUIESCED).

The machine-state methods are optional: a scheduler without them (fault
905) is tolerated, and the dispatcher then only takes jobs.

A refusal that no retry can cure ends the dispatcher at once with
`SchedulerRefused` (``codeimport dispatch`` prints one line and exits
2): the credential is wrong (HTTP 401), not bound to the scheduler
endpoint (403) or not allowed to act for this host name (fault 911), or
the URL is not a scheduler's (404, or no ``getJobForMachine``).  Running
monitors are left to finish on their own.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable

from codeimport.errors import AccessDenied
from codeimport.errors import CodeImportError
from codeimport.errors import InvalidMachineState
from codeimport.wire.client import UnknownRemoteMethod
from codeimport.worker.refusal import SchedulerRefused
from codeimport.worker.refusal import refusal
from codeimport.worker.retry import Backoff
from codeimport.worker.spool import Spool
from codeimport.worker.waker import Waker

__all__ = ["Dispatcher", "SchedulerRefused", "refusal", "spawn_monitor"]

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
    :param max_backoff: the longest wait between polls; keep it well
        below the scheduler's ``machine_heartbeat_limit``.
    :param grace_period: how long a stop waits for running jobs before
        interrupting them.
    :param stop_timeout: how long to wait for interrupted monitors to
        report before leaving them to finish on their own.
    :param quiesce_file: quiesce when this path exists.
    :param load_average: returns the 1-minute load; after each dispatch
        the dispatcher waits 5 × load / max_jobs seconds (at most
        `poll_interval`), so busier machines leave jobs to others.
    :param spool: the machine's `codeimport.worker.spool.Spool`, whose
        results no live monitor holds are reported at the start and at
        every turn of the loop (`replaySpool`).
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
        max_runs: int | None = None,
        load_average: Callable[[], float] = lambda: os.getloadavg()[0],
        spool: Spool | None = None,
    ):
        self.client = client
        self.hostname = hostname
        self.max_jobs = max_jobs
        self.spawn = spawn
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.stop_timeout = stop_timeout
        self.quiesce_file = quiesce_file
        self.max_runs = max_runs
        self.runs = 0
        self.load_average = load_average
        self.spool = spool
        self.max_backoff = max_backoff
        self.backoff = Backoff(poll_interval, max_backoff)
        self.children: list[tuple[int, subprocess.Popen]] = []
        self.waker = Waker()
        self._stop_requests = 0
        self._quiesce_requested = False
        # Asked locally (SIGUSR1 or the file): sticky.
        self._quiescing = False
        # Found on the scheduler (an operator's quiesce): undone when the
        # machine is set ONLINE again.
        self._told_to_quiesce = False
        self._announced_quiesce = False
        self._logged_quiesce = False
        # The machine's state as the scheduler last told it (a name).
        self.machine_state: str | None = None
        self._reported_offline: str | None = None
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
        """Whether we take no more jobs and exit when idle: asked locally
        (sticky) or by an operator through the scheduler."""
        if not self._quiescing:
            self._quiescing = self._quiesce_requested or bool(
                self.quiesce_file and os.path.exists(self.quiesce_file)
            )
        return self._quiescing or self._told_to_quiesce

    def run(self) -> int:
        """Dispatch until stopped or quiesced; return the exit status 0.

        :raises SchedulerRefused: when the scheduler refuses us for good.
        """
        log.info("Dispatcher for %s started (at most %d jobs).",
                 self.hostname, self.max_jobs)
        self.replaySpool()
        if not self.announceOnline():
            log.info("Dispatcher for %s exiting (STOPPED) before the "
                     "scheduler answered.", self.hostname)
            return 0
        while not self._stop_requests:
            try:
                delay = self.step()
            except SchedulerRefused:
                self.reap()
                if self.children:
                    log.warning("Leaving %d monitor(s) to finish on their "
                                "own.", len(self.children))
                raise
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

    def announceOnline(self) -> bool:
        """Mark the machine ONLINE, retrying with back-off until the
        scheduler answers, a stop is requested or we quiesce.

        A machine left OFFLINE (by its last stop, an operator or the
        watchdog) gets no job until this succeeds.

        :return: False if stopped first.
        """
        backoff = Backoff(self.poll_interval, self.max_backoff)
        while not self._stop_requests and not self.quiescing:
            try:
                self.client.setMachineOnline(self.hostname)
            except UnknownRemoteMethod:
                self._unsupported.add("setMachineOnline")
                log.info("The scheduler has no setMachineOnline; "
                         "carrying on.")
                return True
            except (OSError, CodeImportError) as error:
                self._stopIfRefused(error)
                delay = backoff.next()
                log.warning("Cannot mark %s ONLINE: %s; retrying in %gs",
                            self.hostname, error, delay)
                self.waker.wait(delay)
                continue
            self.machine_state = "ONLINE"
            log.info("%s is ONLINE.", self.hostname)
            return True
        return not self._stop_requests

    def step(self) -> float | None:
        """Do one turn of the loop.

        :return: seconds to wait before the next turn, or None when
            quiesced with nothing left running.
        """
        self.reap()
        self.replaySpool()
        if self.quiescing:
            return self._quiesceStep()
        try:
            job_id = self._poll()
        except UnknownRemoteMethod as error:
            raise SchedulerRefused(
                f"{error}: not a code-import scheduler URL") from None
        except (OSError, CodeImportError) as error:
            self._stopIfRefused(error)
            delay = self.backoff.next()
            log.warning("Cannot get a job from the scheduler: %s; "
                        "retrying in %gs", error, delay)
            return delay
        if job_id:
            self.backoff.reset()
            self.dispatch(job_id)
            return min(self.poll_interval,
                       5 * self.load_average() / self.max_jobs)
        self.followMachineState()
        if self.quiescing:
            return 0.0
        delay = self.backoff.next()
        log.debug("No job for us; polling again in %gs", delay)
        return delay

    def _poll(self) -> int:
        """Ask for a job: its id, or 0 for none."""
        job_id = int(self.client.getJobForMachine(
            self.hostname, self.max_jobs))
        if job_id:
            self.machine_state = "ONLINE"
        return job_id

    def followMachineState(self) -> None:
        """Read the machine's state from the scheduler and follow it (see
        the module docstring)."""
        state = self._notify("getMachineState", self.hostname)
        if not state:
            return
        reason = ""
        if state == "OFFLINE":
            reason = self._notify("getMachineOfflineReason",
                                  self.hostname) or ""
        self.machine_state = state
        if state == "ONLINE":
            self._reported_offline = None
            if self._told_to_quiesce:
                self._told_to_quiesce = False
                log.info("%s was set ONLINE again: taking jobs.",
                         self.hostname)
            elif self._quiescing and self._announced_quiesce:
                # Set ONLINE behind our back: say again that we quiesce.
                self._announced_quiesce = False
        elif state == "QUIESCING" or reason == "QUIESCED":
            if not self.quiescing:
                log.info("%s was set %s by an operator: taking no more "
                         "jobs, exiting when idle.", self.hostname,
                         state if state == "QUIESCING" else "QUIESCED")
                self._told_to_quiesce = True
        elif state == "OFFLINE" and reason == "WATCHDOG":
            if not self.quiescing:
                log.warning("The watchdog took %s OFFLINE (it missed its "
                            "polls); marking it ONLINE again.",
                            self.hostname)
                if self._notify("setMachineOnline",
                                self.hostname) is not None:
                    self.machine_state = "ONLINE"
        elif state == "OFFLINE":
            if self._reported_offline != reason:
                self._reported_offline = reason
                log.info("%s is OFFLINE (%s): taking no jobs until it is "
                         "set ONLINE.", self.hostname, reason or "no reason")

    def replaySpool(self) -> None:
        """Report the results monitors left in the spool (see
        `codeimport.worker.spool.Spool.replay`)."""
        if self.spool is not None:
            try:
                self.spool.replay(self.client)
            except AccessDenied as error:
                raise SchedulerRefused(refusal(error)) from None

    def _quiesceStep(self) -> float | None:
        """A turn of the loop while quiescing: no new jobs; the end once
        ours are done."""
        if not self._logged_quiesce:
            self._logged_quiesce = True
            log.info("Quiescing: taking no more jobs.")
        if self._quiescing and not self._announced_quiesce:
            self._announceQuiesce()
        if not self.children:
            return None
        self.followMachineState()
        if not self.quiescing:
            return 0.0  # set ONLINE again by an operator
        if self.machine_state == "QUIESCING":
            # The scheduler gives a QUIESCING machine no job, and the
            # call keeps its heartbeat fresh while the last jobs run.
            try:
                job_id = self._poll()
            except (OSError, CodeImportError) as error:
                self._stopIfRefused(error)
                log.warning("getJobForMachine failed: %s", error)
                return self.poll_interval
            if job_id:
                # Set ONLINE again between the two calls; the job is
                # ours now, so run it rather than strand it.
                self.dispatch(job_id)
        return self.poll_interval

    def _announceQuiesce(self) -> None:
        """Tell the scheduler we quiesce; retried each turn until it has
        heard (or cannot: an older scheduler, an OFFLINE machine)."""
        try:
            self.client.setMachineQuiescing(self.hostname)
        except UnknownRemoteMethod:
            self._announced_quiesce = True
            log.info("The scheduler has no setMachineQuiescing; carrying "
                     "on.")
            return
        except InvalidMachineState:
            # Not ONLINE (an operator took it offline): nothing to say.
            self._announced_quiesce = True
            return
        except (OSError, CodeImportError) as error:
            self._stopIfRefused(error)
            log.warning("setMachineQuiescing failed: %s", error)
            return
        self._announced_quiesce = True
        self.machine_state = "QUIESCING"

    def dispatch(self, job_id: int) -> None:
        """Start the monitor for `job_id`."""
        log.info("Dispatching job %d.", job_id)
        self.runs += 1
        if self.max_runs is not None and self.runs >= self.max_runs:
            # Decided before the next poll, so no further job is claimed.
            log.info("Took %d job(s), the most asked for: quiescing.",
                     self.runs)
            self._quiescing = True
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

    def _notify(self, method: str, *args):
        """Call an optional machine-state method; never fail for it.

        :return: the answer, or None when the call failed or the
            scheduler has no such method.
        """
        if method in self._unsupported:
            return None
        try:
            return getattr(self.client, method)(*args)
        except UnknownRemoteMethod:
            self._unsupported.add(method)
            log.info("The scheduler has no %s; carrying on.", method)
        except (OSError, CodeImportError) as error:
            self._stopIfRefused(error)
            log.warning("%s failed: %s", method, error)
        return None

    def _stopIfRefused(self, error: BaseException) -> None:
        """Raise `SchedulerRefused` if no retry can cure `error`."""
        reason = refusal(error)
        if reason is not None:
            raise SchedulerRefused(reason) from None
