"""The spool: results kept on the import machine until the scheduler
has them.

A monitor writes its job's result into the spool before it reports it,
and removes it once the scheduler has answered; so a result survives a
scheduler that stays away longer than the monitor retries, and the
monitor or the dispatcher being killed or restarted.  The dispatcher
replays what is left (`Dispatcher.replaySpool`), at its start and in its
loop, for entries no live monitor holds.

Layout: ``<spool>/<job id>/`` holds ``result.json`` (job id, status
name, whether the target changed, the target's path and manifest
digest) and ``log`` (the whole job log, as it is uploaded).  An entry
is written in a hidden directory and renamed into place, after an
fsync, so a reader sees whole entries only; its writer holds ``lock``
(`fcntl.flock`) until it exits, so a replay never reports beside a live
monitor.  An entry the scheduler refuses for good is renamed
``refused-<job id>`` for an operator to look at.

`deliver` is the one way a result is reported, for both: `finishJobID`,
and when the job was reclaimed meanwhile (fault 360), `recordLateResult`
(see `ICodeImportScheduler`), whose answers make a repeated report
harmless.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import tempfile
import xmlrpc.client

from codeimport.errors import AccessDenied
from codeimport.errors import CodeImportError
from codeimport.errors import NoSuchCodeImportJob
from codeimport.joblog import LOG_FALLBACK_LIMIT
from codeimport.joblog import LOG_UPLOAD_LIMITS
from codeimport.joblog import truncate_log
from codeimport.wire import faults
from codeimport.wire.client import RemoteFault
from codeimport.wire.client import RemoteHTTPError
from codeimport.wire.client import UnknownRemoteMethod
from codeimport.worker.reported import mark_reported

__all__ = ["LogTooLarge", "Report", "Spool", "SpoolEntry", "deliver",
           "server_fault"]

log = logging.getLogger("codeimport.dispatcher")


def server_fault(error: BaseException) -> bool:
    """Whether `error` is the scheduler's own failure (fault 999), which
    says nothing about the job or its result: try again later rather
    than give up on either."""
    return (isinstance(error, RemoteFault)
            and error.fault_code == faults.InternalError.error_code)


#: `deliver`'s outcomes.
REPORTED = "reported"
LATE = "recorded as a late result"
REPEATED = "already known to the scheduler"
DROPPED = "dropped: the scheduler cannot record late results"


@dataclasses.dataclass(frozen=True)
class Report:
    """One job's result, as it is reported."""

    job_id: int
    status: str
    log: bytes
    target_changed: bool | None = None
    target: str | None = None
    digest: str | None = None


class LogTooLarge(CodeImportError):
    """The scheduler refused a report for the size of its log."""


def _size_checked(method, size: int):
    """`method`, raising `LogTooLarge` when the scheduler refuses a call
    carrying a log of `size` bytes for its size."""

    def send(*args):
        try:
            return method(*args)
        except RemoteHTTPError as error:
            if error.status == 413:
                raise LogTooLarge(f"HTTP {error.status}") from None
            raise
        except (BrokenPipeError, ConnectionResetError) as error:
            # A server (or a proxy) refusing a body for its size may
            # answer before reading it and close the connection, which a
            # client still sending sees as a cut connection.  For a large
            # upload that is the likely cause; a small one is retried.
            if size > LOG_FALLBACK_LIMIT:
                raise LogTooLarge(repr(error)) from None
            raise

    return send


def deliver(client, report: Report, call=None) -> str:
    """Report `report` to the scheduler; return the outcome.

    A report the scheduler refuses for the size of its log (HTTP 413) is
    sent again with the log cut to each of
    `codeimport.joblog.LOG_UPLOAD_LIMITS` in turn.

    :param call: ``call(method, *args)`` runs one client call (the
        monitor's retries connection failures); by default, once.
    :raises OSError: the scheduler could not be reached: try again.
    :raises CodeImportError: the scheduler refused the result.
    """
    call = call or (lambda method, *args: method(*args))
    for limit in LOG_UPLOAD_LIMITS:
        log_bytes = truncate_log(report.log, limit)
        try:
            outcome = _deliver(client, report, log_bytes, call)
        except LogTooLarge as error:
            if limit == LOG_UPLOAD_LIMITS[-1]:
                raise
            log.warning("Job %d: the scheduler refused a log of %d bytes as "
                        "too large (%s); sending less of it.",
                        report.job_id, len(log_bytes), error)
            continue
        if outcome != DROPPED:
            mark_reported(report.target, report.digest)
        return outcome
    raise AssertionError("LOG_UPLOAD_LIMITS is empty")


def _deliver(client, report: Report, log_bytes: bytes, call) -> str:
    args = (report.job_id, report.status, xmlrpc.client.Binary(log_bytes))
    if report.target_changed is not None:
        args += (report.target_changed,)
    try:
        call(_size_checked(client.finishJobID, len(log_bytes)), *args)
        outcome = REPORTED
    except NoSuchCodeImportJob:
        record = getattr(client, "recordLateResult", None)
        if record is None:
            return DROPPED
        try:
            recorded = call(_size_checked(record, len(log_bytes)), *args)
            outcome = LATE if recorded else REPEATED
        except NoSuchCodeImportJob:
            # Not reclaimed, so finished: by this very report, whose
            # answer was lost.
            outcome = REPEATED
        except UnknownRemoteMethod:
            return DROPPED
    return outcome


class SpoolEntry:
    """One kept result, in its directory."""

    def __init__(self, path: str, lock=None):
        self.path = path
        self._lock = lock

    @property
    def job_id(self) -> int:
        return int(os.path.basename(self.path))

    def lock(self) -> bool:
        """Take the entry's lock unless someone holds it; True if taken."""
        stream = open(os.path.join(self.path, "lock"), "a")
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.close()
            return False
        self._lock = stream
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def read(self) -> Report:
        with open(os.path.join(self.path, "result.json")) as stream:
            data = json.load(stream)
        with open(os.path.join(self.path, "log"), "rb") as stream:
            log_bytes = stream.read()
        return Report(int(data["job_id"]), str(data["status"]), log_bytes,
                      data.get("target_changed"), data.get("target"),
                      data.get("digest"))

    def remove(self) -> None:
        """Forget the entry (the scheduler has the result)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def setAside(self) -> str:
        """Rename the entry ``refused-<job id>``; return the new path."""
        target = os.path.join(os.path.dirname(self.path),
                              f"refused-{os.path.basename(self.path)}")
        shutil.rmtree(target, ignore_errors=True)
        os.rename(self.path, target)
        self.release()
        return target


class Spool:
    """The spool directory (see the module docstring); made if missing."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        os.makedirs(self.path, exist_ok=True)
        self._unreachable = False

    def keep(self, report: Report) -> SpoolEntry:
        """Write `report` durably, locked by the caller until it removes
        the entry, releases it or exits."""
        final = os.path.join(self.path, str(report.job_id))
        work = tempfile.mkdtemp(prefix=f".new-{report.job_id}-",
                                dir=self.path)
        entry = SpoolEntry(work)
        entry.lock()  # the lock follows the directory's rename
        fields = dataclasses.asdict(report)
        del fields["log"]
        _write(os.path.join(work, "log"), report.log)
        _write(os.path.join(work, "result.json"),
               json.dumps(fields, sort_keys=True).encode("utf-8"))
        if os.path.exists(final):  # a stale entry of the same job
            shutil.rmtree(final, ignore_errors=True)
        os.rename(work, final)
        _fsync_directory(self.path)
        entry.path = final
        return entry

    def replay(self, client) -> None:
        """Report every entry no live monitor holds (`deliver`), and
        forget it; set aside what the scheduler refuses.  Stops at the
        first unreachable call, to try again at the next turn.

        :raises AccessDenied: when the scheduler refuses our credential
            (the entry stays in the spool).
        """
        for entry in self.entries():
            if not entry.lock():
                continue
            try:
                report = entry.read()
                outcome = deliver(client, report)
            except AccessDenied:
                # Our credential, not this result: keep it for when the
                # credential is put right.
                entry.release()
                raise
            except OSError as error:
                self._notYet(entry, error)
                return
            except (CodeImportError, ValueError, KeyError) as error:
                if server_fault(error):
                    self._notYet(entry, error)
                    return
                path = entry.setAside()
                log.error("Spooled result of job %d refused: %s; kept in "
                          "%s", entry.job_id, error, path)
                continue
            entry.remove()
            self._unreachable = False
            log.info("Spooled result of job %d (%s): %s.", report.job_id,
                     report.status, outcome)

    def _notYet(self, entry: SpoolEntry, error: Exception) -> None:
        """Keep `entry` for the next turn; say why once."""
        entry.release()
        if not self._unreachable:
            log.warning("Cannot report spooled results yet: %s", error)
        self._unreachable = True

    def entries(self) -> list[SpoolEntry]:
        """The complete entries, oldest job first."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return [SpoolEntry(os.path.join(self.path, name))
                for name in sorted((n for n in names if n.isdigit()),
                                   key=int)]


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
