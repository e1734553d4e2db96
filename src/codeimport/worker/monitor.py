"""The worker monitor: run one job's import worker and report on it.

`WorkerMonitor.run` fetches the job's arguments from the scheduler, runs
the import worker as a child process in its own process group, copies
its output to a log file, sends heartbeats carrying the last lines of
output (`codeimport.joblog.update_tail`), kills the worker when it falls
silent for too long, and finally reports the result and the log with
``finishJobID``: the whole log, or its head and tail when it is longer
than `codeimport.joblog.LOG_FILE_LIMIT`: the monitor keeps no more of
the output than that (`codeimport.joblog.JobLog`), on disk or in memory.

If the scheduler says the job no longer exists while the worker runs
(it was reclaimed after a stale heartbeat and may be running
elsewhere), the monitor kills the worker and exits without reporting
anything.  A result is first kept in the machine's spool
(`codeimport.worker.spool`) and then reported with whether the target's
published refs changed (`codeimport.worker.reported`); if the job was
reclaimed while the result could not be reported, it is recorded as a
late result (``recordLateResult``), and what cannot be reported at all
stays in the spool for the dispatcher to report later.

An interrupted monitor (`WorkerMonitor.interrupt`: SIGTERM or SIGINT
from the dispatcher stopping) kills the worker and hands the job back
with ``reclaimJobID``, so that it runs again at once, on any machine,
rather than reporting a FAILURE, which would back the import off.  The
RECLAIMED result still counts as a failure in the import's consecutive
failure count (see `ICodeImportScheduler.reclaimJobID`).

If the scheduler refuses the machine's credential (HTTP 401 or 403, or
fault 911: not allowed to act for the job's machine), no retry or report
can succeed: the monitor kills the worker and stops at once, exit
status 2, with one line saying why.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable

from codeimport.enums import CodeImportResultStatus
from codeimport.errors import AccessDenied
from codeimport.errors import CodeImportError
from codeimport.errors import NoSuchCodeImportJob
from codeimport.joblog import JobLog
from codeimport.joblog import update_tail
from codeimport.redact import redact
from codeimport.redact import redact_bytes
from codeimport.sourcecredentials import from_wire
from codeimport.sourcecredentials import write_file
from codeimport.targetstore import UnsafeTargetName
from codeimport.targetstore import target_path
from codeimport.wire.client import UnknownRemoteMethod
from codeimport.worker.child import WorkerProcess
from codeimport.worker.reported import manifest_digest
from codeimport.worker.reported import target_changed
from codeimport.worker.retry import call_with_retry
from codeimport.worker.spool import Report
from codeimport.worker.spool import Spool
from codeimport.worker.spool import deliver
from codeimport.worker.spool import server_fault
from codeimport.worker.waker import Waker

__all__ = [
    "EXIT_CODE_STATUSES",
    "WorkerMonitor",
    "status_for_exit_code",
]

log = logging.getLogger("codeimport.monitor")

INTERRUPTED = "Import interrupted."

EXIT_CODE_STATUSES = {
    0: CodeImportResultStatus.SUCCESS,
    2: CodeImportResultStatus.SUCCESS_NOCHANGE,
    3: CodeImportResultStatus.SUCCESS_PARTIAL,
    4: CodeImportResultStatus.FAILURE_INVALID,
    5: CodeImportResultStatus.FAILURE_UNSUPPORTED_FEATURE,
    6: CodeImportResultStatus.FAILURE_FORBIDDEN,
    7: CodeImportResultStatus.FAILURE_REMOTE_BROKEN,
}


def status_for_exit_code(returncode: int) -> CodeImportResultStatus:
    """Map the worker's exit status to a result; signals mean FAILURE."""
    return EXIT_CODE_STATUSES.get(returncode, CodeImportResultStatus.FAILURE)


def describe_exit(returncode: int) -> str:
    """Say in words how the worker ended."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"The worker was killed by signal {name}."
    return f"The worker exited with status {returncode}."


class _JobGone(Exception):
    """The scheduler no longer knows the job: stop without reporting."""


class _HandBack(Exception):
    """We were interrupted before the job ended: give it back."""


class _Refused(Exception):
    """The scheduler refuses our credential: stop without reporting."""


class WorkerMonitor:
    """Runs and reports one code-import job.

    :param job_id: the job to run.
    :param client: a `codeimport.wire.client.SchedulerClient` (or a
        stand-in with the same five job methods).
    :param worker_command: builds the worker's argv from the job's
        argument list.
    :param heartbeat_interval: seconds between heartbeats.
    :param inactivity_timeout: seconds without output after which the
        worker is killed and the job fails.
    :param kill_grace: seconds between SIGINT and SIGKILL.
    :param retry_timeout: how long to keep retrying the scheduler when the
        connection fails, before giving up on a report.
    :param retry_delay: the first delay between retries; it doubles, up
        to `heartbeat_interval` for heartbeats and 30 s otherwise.
    :param env: the worker's environment (default: ours).
    :param spool: a `codeimport.worker.spool.Spool`: the result is kept
        there until the scheduler has it (the dispatcher reports what a
        monitor could not).
    :param target_store: the target store the worker writes into, to
        tell the scheduler whether the target changed
        (`codeimport.worker.reported`); unknown without it.
    """

    def __init__(
        self,
        job_id: int,
        client,
        worker_command: Callable[[list[str]], list[str]],
        *,
        heartbeat_interval: float = 30.0,
        inactivity_timeout: float = 3600.0,
        kill_grace: float = 5.0,
        retry_timeout: float = 600.0,
        retry_delay: float = 1.0,
        env: dict[str, str] | None = None,
        spool: Spool | None = None,
        target_store: str | None = None,
    ):
        self.job_id = job_id
        self.client = client
        self.worker_command = worker_command
        self.heartbeat_interval = heartbeat_interval
        self.inactivity_timeout = inactivity_timeout
        self.kill_grace = kill_grace
        self.retry_timeout = retry_timeout
        self.retry_delay = retry_delay
        self.env = env
        self.spool = spool
        self.target_store = target_store
        # The target's path and its manifest's digest before the run.
        self._target: str | None = None
        self._before: str | None = None
        self.tail = b""
        # Set by the main thread when the worker has ended, to stop the
        # heartbeat thread.
        self._stopping = threading.Event()
        self._stop_reason: str | None = None
        self._wake = Waker()
        self._gone = False
        self._refused: AccessDenied | None = None
        self._interrupted = False
        self._worker: WorkerProcess | None = None
        # What the job's log, tail and our own log must never show (the
        # source's password), and the private directory its credentials
        # file lives in while the worker runs.
        self._secrets: tuple[str, ...] = ()
        self._private_dir: str | None = None

    def interrupt(self) -> None:
        """Kill the worker and hand the job back (``reclaimJobID``).

        A job whose worker has already ended is reported as usual.  Safe
        to call from a signal handler or another thread.
        """
        self._interrupted = True
        self._requestStop(INTERRUPTED)

    def _requestStop(self, reason: str) -> None:
        # No locks here (not even `threading.Event.set`): a signal
        # handler may run this while the main thread holds one.
        if self._stop_reason is None:
            self._stop_reason = reason
        self._wake.poke()
        worker = self._worker
        if worker is not None:
            worker.poke()

    def run(self) -> int:
        """Run the job; return 0 once reported, handed back or gone, 1 if
        none of these, 2 if the scheduler refused our credential."""
        try:
            logfile = JobLog()
            try:
                status = self._runJob(logfile)
            except _JobGone:
                log.info("Job %d no longer exists; exiting.", self.job_id)
                return 0
            except _HandBack:
                return self._handBack()
            return self._finish(status, logfile)
        except _Refused as refused:
            log.error("Job %d: the scheduler refused this machine's "
                      "credential: %s; stopping.", self.job_id, refused)
            return 2
        finally:
            self._wake.close()
            if self._private_dir is not None:
                shutil.rmtree(self._private_dir, ignore_errors=True)

    def _credentialArguments(self, data: dict) -> list[str]:
        """Write the job's source credentials, if any, into a file of
        mode 0600 in a private directory, and return the worker
        arguments naming it: the password goes into no argument, no
        environment variable and no log."""
        credentials = from_wire(data.get("source_credentials"))
        if credentials is None:
            return []
        self._secrets = credentials.secrets
        self._private_dir = tempfile.mkdtemp(prefix="codeimport-job-")
        path = write_file(self._private_dir, credentials)
        return ["--source-credentials-file", path]

    def _runJob(self, logfile: JobLog) -> CodeImportResultStatus:
        try:
            data = self._call(
                self.client.getImportDataForJobID,
                self.job_id,
                abandon_on_stop=True,
            )
            arguments = [str(argument) for argument in data["arguments"]]
            arguments += self._credentialArguments(data)
        except (CodeImportError, OSError, KeyError, TypeError) as error:
            if self._interrupted:
                raise _HandBack() from None
            reason = f"Could not fetch the job's arguments: {error!r}"
            return self._failed(logfile, reason)
        if self._interrupted:
            raise _HandBack()
        self._findTarget(arguments)
        command = self.worker_command(arguments)
        log.info("Job %d: running %s", self.job_id,
                 redact(" ".join(command), self._secrets))
        try:
            worker = WorkerProcess(
                command, logfile, self._onOutput, env=self.env
            )
        except OSError as error:
            reason = f"Could not start the worker: {error}"
            return self._failed(logfile, reason)
        self._worker = worker
        heartbeats = threading.Thread(
            target=self._heartbeatLoop, name="heartbeat", daemon=True
        )
        heartbeats.start()
        try:
            worker.watch(
                inactivity_timeout=self.inactivity_timeout,
                kill_grace=self.kill_grace,
                should_stop=lambda: self._stop_reason,
            )
        finally:
            self._stopping.set()
            self._worker = None
            worker.close()
            heartbeats.join()
        if self._refused is not None:
            raise _Refused(self._refused)
        if self._gone:
            raise _JobGone()
        reason = worker.kill_reason
        if reason == INTERRUPTED:
            raise _HandBack()
        if reason is None:
            status = status_for_exit_code(worker.returncode)
            reason = describe_exit(worker.returncode)
        else:
            status = CodeImportResultStatus.FAILURE
        if status == CodeImportResultStatus.FAILURE:
            return self._failed(logfile, reason)
        log.info("Import succeeded: %s", status.name)
        return status

    def _findTarget(self, arguments: list[str]) -> None:
        """Note the target's path (its id is the first argument) and its
        manifest before the worker runs."""
        if not self.target_store or not arguments:
            return
        try:
            self._target = target_path(self.target_store, arguments[0])
        except UnsafeTargetName:
            return  # the worker refuses it and fails the job
        self._before = manifest_digest(self._target)

    def _failed(
        self, logfile: JobLog, reason: str
    ) -> CodeImportResultStatus:
        log.info("Import failed: %s", reason)
        logfile.write(f"Import failed:\n{reason}\n".encode("utf-8"))
        return CodeImportResultStatus.FAILURE

    def _onOutput(self, data: bytes) -> None:
        self.tail = update_tail(self.tail, data)

    def _heartbeatLoop(self) -> None:
        """Send a heartbeat now and every interval until the worker ends."""
        while True:
            tail = redact(self.tail.decode("utf-8", "replace"),
                          self._secrets)
            try:
                call_with_retry(
                    lambda: self.client.updateHeartbeat(self.job_id, tail),
                    give_up_after=self.heartbeat_interval,
                    first_delay=self.retry_delay,
                    max_delay=self.heartbeat_interval,
                    wait=self._stopping.wait,
                    on_retry=self._logRetry,
                )
            except NoSuchCodeImportJob:
                self._gone = True
                self._requestStop("The job was reclaimed.")
                return
            except AccessDenied as error:
                self._refused = error
                self._requestStop(f"Heartbeat refused: {error}")
                return
            except OSError as error:
                # The scheduler is unreachable; the job may be reclaimed,
                # which the next call that gets through will tell us.
                log.warning("Heartbeat failed: %r", error)
            except CodeImportError as error:
                if not server_fault(error):
                    self._requestStop(f"Heartbeat failed: {error}")
                    return
                # The scheduler's own failure: the job is not at fault.
                log.warning("Heartbeat failed: %s", error)
            if self._stopping.wait(self.heartbeat_interval):
                return

    def _logRetry(self, error: OSError, delay: float) -> None:
        log.warning(
            "Job %d: scheduler unreachable (%r); retrying in %gs",
            self.job_id,
            error,
            delay,
        )

    def _call(self, method, *args, abandon_on_stop=False):
        """Call the scheduler, retrying connection failures.

        A gone job raises `_JobGone`.  With `abandon_on_stop`, a stop
        request ends the retries (raising the last error).
        """
        try:
            return self._retrying(method, *args,
                                  abandon_on_stop=abandon_on_stop)
        except NoSuchCodeImportJob:
            raise _JobGone() from None
        except AccessDenied as error:
            raise _Refused(error) from None

    def _retrying(self, method, *args, abandon_on_stop=False):
        """Call the scheduler, retrying connection failures for
        `retry_timeout`."""

        def wait(delay: float) -> bool:
            self._wake.wait(delay)
            return abandon_on_stop and self._stop_reason is not None

        return call_with_retry(
            lambda: method(*args),
            give_up_after=self.retry_timeout,
            first_delay=self.retry_delay,
            wait=wait,
            on_retry=self._logRetry,
        )

    def _handBack(self) -> int:
        log.info("Job %d: interrupted; handing it back.", self.job_id)
        try:
            self._call(self.client.reclaimJobID, self.job_id)
        except _JobGone:
            log.info("Job %d no longer exists; exiting.", self.job_id)
            return 0
        except UnknownRemoteMethod:
            log.warning("Job %d: the scheduler cannot take jobs back; it "
                        "stays RUNNING until the watchdog reclaims it.",
                        self.job_id)
            return 1
        except (CodeImportError, OSError) as error:
            log.error("Job %d: could not hand it back: %r",
                      self.job_id, error)
            return 1
        log.info("Job %d handed back to the scheduler.", self.job_id)
        return 0

    def _finish(self, status: CodeImportResultStatus,
                logfile: JobLog) -> int:
        """Keep the result in the spool, then report it (`deliver`)."""
        changed, digest = target_changed(self._target, self._before)
        report = Report(self.job_id, status.name,
                        redact_bytes(logfile.getvalue(), self._secrets),
                        changed, self._target, digest)
        entry = None
        if self.spool is not None:
            try:
                entry = self.spool.keep(report)
            except OSError as error:
                log.error("Job %d: cannot keep the result in the spool: "
                          "%s", self.job_id, error)
        try:
            outcome = deliver(self.client, report, self._retrying)
        except AccessDenied as error:
            # Kept in the spool, should the credential be put right.
            raise _Refused(error) from None
        except (CodeImportError, OSError) as error:
            log.error("Job %d: could not report %s: %r%s",
                      self.job_id, status.name, error,
                      "; kept in the spool for the dispatcher"
                      if entry is not None else "")
            return 1
        if entry is not None:
            entry.remove()
        log.info("Job %d finished: %s (%s%s).", self.job_id, status.name,
                 outcome, "" if changed is None else
                 ", the target changed" if changed else
                 ", the target is unchanged")
        return 0
