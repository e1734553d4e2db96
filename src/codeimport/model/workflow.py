"""The job workflow: the only code that writes `CodeImportJob` rows.

This is trusted code: it strips security proxies from its arguments
once, on entry, because job fields are read-only to everybody else.
Every transition locks the job row first, so a job is finished or
reclaimed exactly once even when a late worker and the watchdog race
(decision D14).
"""

from __future__ import annotations

from datetime import timedelta

import zope.event
from storm.expr import SQL
from zope.event import notify
from zope.interface import implementer
from zope.security.proxy import removeSecurityProxy

from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidMachineState
from codeimport.errors import InvalidReviewStatus
from codeimport.errors import NoSuchCodeImportJob
from codeimport.interfaces.job import ICodeImportJobWorkflow
from codeimport.model.branch import Branch
from codeimport.model.codeimport import CodeImport
from codeimport.model.codeimport import latest_result_start
from codeimport.model.constants import UTC_NOW
from codeimport.model.finish import finish_fast
from codeimport.model.job import CodeImportJob
from codeimport.model.job import stale_job_condition
from codeimport.model.machine import CodeImportMachine
from codeimport.model.rows import cached
from codeimport.model.rows import column_list
from codeimport.model.rows import column_names
from codeimport.model.rows import forget_deleted
from codeimport.model.rows import invalidate_cached
from codeimport.model.rows import load_row
from codeimport.model.context import StoreUtility
from codeimport.notification import CodeImportJobFinished
from codeimport.notification import CodeImportJobReclaimed
from codeimport.notification import CodeImportMarkedFailing
from codeimport.prepared import prepared

__all__ = ["CodeImportJobWorkflow", "claim_statement"]

_State = CodeImportJobState
_Review = CodeImportReviewStatus
_Status = CodeImportResultStatus
_MAX_ID = 2**31 - 1  # ids are PostgreSQL integers

# Enumeration values are written into the prepared statements rather
# than passed: a generic plan can then still use the partial indexes
# whose predicates name them (codeimportjob__pending__idx, ...).
_CLAIM = prepared(
    "WITH candidate AS ("
    "  SELECT id FROM codeimportjob"
    f"  WHERE state = {_State.PENDING.value}"
    "  AND date_due <= CURRENT_TIMESTAMP"
    "  AND (? OR (SELECT count(*) FROM codeimportjob"
    f"   WHERE machine = ? AND state = {_State.RUNNING.value}) < ?)"
    "  ORDER BY (requesting_user IS NULL), date_due, id"
    "  LIMIT 1 FOR UPDATE SKIP LOCKED),"
    " claimed AS ("
    f"  UPDATE codeimportjob SET state = {_State.RUNNING.value},"
    "  machine = ?,"
    "  date_started = CURRENT_TIMESTAMP,"
    "  heartbeat = CURRENT_TIMESTAMP, logtail = ''"
    "  FROM candidate WHERE codeimportjob.id = candidate.id"
    f"  RETURNING {column_list(CodeImportJob, 'codeimportjob')}),"
    " event AS ("
    "  INSERT INTO codeimportevent"
    "  (entry_type, code_import, machine, date_created)"
    f"  SELECT {CodeImportEventType.START.value}, code_import, ?,"
    "  CURRENT_TIMESTAMP FROM claimed)"
    f" SELECT {column_list(CodeImportJob)} FROM claimed"
)


def claim_statement(machine_id, worker_limit=None):
    """`CodeImportJobWorkflow.claimNextJob`'s statement as
    ``(statement, parameters)``."""
    return _CLAIM, (worker_limit is None, machine_id, worker_limit or 0,
                    machine_id, machine_id)


_HEARTBEAT = prepared(
    "UPDATE codeimportjob SET heartbeat = CURRENT_TIMESTAMP,"
    f" logtail = ? WHERE id = ? AND state = {_State.RUNNING.value}"
    " RETURNING id"
)


def _name(code_import):
    return code_import.branch.unique_name


@implementer(ICodeImportJobWorkflow)
class CodeImportJobWorkflow(StoreUtility):
    """See `ICodeImportJobWorkflow`."""

    def __init__(self, get_store, settings, events, results):
        super().__init__(get_store, settings)
        self._events = events
        self._results = results

    def _lock(self, job):
        """Lock `job`'s import and then `job`'s row, reload the job, and
        raise if it is gone.

        Every writer that needs both rows takes them in this order
        (`CodeImport.updateFromData`, the fast finish and the watchdog
        too), so they never deadlock, and a finish or reclaim deciding
        whether the import gets a next job sees a review status that a
        concurrent `updateFromData` has committed: without the import's
        lock, a suspension committed while a finish was under way would
        leave a SUSPENDED import with a PENDING job.
        """
        store = self._store
        store.execute(
            "SELECT 1 FROM codeimport WHERE id = ("
            " SELECT code_import FROM codeimportjob WHERE id = ?)"
            " FOR NO KEY UPDATE", (job.id,))
        row = store.execute(
            "SELECT 1 FROM codeimportjob WHERE id = ? FOR UPDATE", (job.id,)
        ).get_one()
        if row is None:
            raise NoSuchCodeImportJob(job.id)
        store.invalidate(job)

    def _machineOf(self, job):
        """Return the machine running `job`, by id.

        Following ``job.machine`` would link the two objects, and Storm
        keeps that link's hook on the machine until the machine itself is
        garbage: in a long-lived store, where a machine object stays alive
        across transactions, the hooks of every finished job pile up and
        each later transaction boundary runs them all.
        """
        return self._store.get(CodeImportMachine, job.machine_id)

    def _requireState(self, job, expected):
        if job.state != expected:
            raise InvalidJobState(
                f"The CodeImportJob associated with "
                f"{_name(job.code_import)} is {job.state.name}."
            )

    def newJob(self, code_import, interval=None):
        """See `ICodeImportJobWorkflow`."""
        code_import = removeSecurityProxy(code_import)
        if code_import.review_status != _Review.REVIEWED:
            raise InvalidReviewStatus(
                f"Review status of {_name(code_import)} is not REVIEWED: "
                f"{code_import.review_status.name}"
            )
        if code_import.import_job is not None:
            raise InvalidJobState(
                "Already associated to a CodeImportJob: "
                f"{_name(code_import)}"
            )
        return self._createJob(code_import, interval)

    def _createJob(self, code_import, interval=None):
        """Add `code_import`'s next PENDING job; `newJob` without the
        checks, for callers that have just deleted the import's job."""
        if interval is None:
            interval = code_import.effective_update_interval
        date_due = UTC_NOW
        last_start = latest_result_start(self._store, code_import.id)
        if last_start is not None:
            date_due = SQL("GREATEST(CURRENT_TIMESTAMP, ?)",
                           (last_start + interval,))
        job = CodeImportJob(code_import, date_due)
        store = self._store
        store.add(job)
        store.flush()
        return job

    def deletePendingJob(self, code_import):
        """See `ICodeImportJobWorkflow`."""
        code_import = removeSecurityProxy(code_import)
        name = _name(code_import)
        if code_import.review_status == _Review.REVIEWED:
            raise InvalidReviewStatus(
                f"The review status of {name} is "
                f"{code_import.review_status.name}."
            )
        job = code_import.import_job
        if job is None:
            raise InvalidJobState(f"Not associated to a CodeImportJob: {name}")
        self._lock(job)
        if job.state != _State.PENDING:
            raise InvalidJobState(
                f"The CodeImportJob associated to {name} is "
                f"{job.state.name}."
            )
        store = self._store
        store.remove(job)
        store.flush()

    def requestJob(self, import_job, user):
        """See `ICodeImportJobWorkflow`."""
        job = removeSecurityProxy(import_job)
        user = removeSecurityProxy(user)
        if user is None:
            raise CodeImportValidationError("user must not be None")
        self._lock(job)
        self._requireState(job, _State.PENDING)
        if job.requesting_user is not None:
            raise CodeImportAlreadyRequested(
                f"The CodeImportJob associated with "
                f"{_name(job.code_import)} was already requested by "
                f"{job.requesting_user.name}.",
                job.requesting_user,
            )
        if not job.isOverdue():
            job.date_due = UTC_NOW
        job.requesting_user = user
        self._events.newRequest(job.code_import, user)

    def startJob(self, import_job, machine):
        """See `ICodeImportJobWorkflow`."""
        job = removeSecurityProxy(import_job)
        machine = removeSecurityProxy(machine)
        self._lock(job)
        self._requireState(job, _State.PENDING)
        if machine.state != CodeImportMachineState.ONLINE:
            raise InvalidMachineState(
                f"The machine {machine.hostname} is {machine.state.name}."
            )
        job.date_started = UTC_NOW
        job.heartbeat = UTC_NOW
        job.logtail = ""
        job.machine = machine
        job.state = _State.RUNNING
        self._events.newStart(job.code_import, machine)

    def claimNextJob(self, machine, worker_limit=None):
        """Start the job `machine` should run next and return it, or None.

        The scheduler's hot path, in one statement: pick the first due
        PENDING job in (requested first, date_due, id) order along the
        partial index, skipping rows that other claimers hold locked
        (decision D1), start it, write its START event, and return the
        started row, from which the job object is built without another
        query.

        :param machine: a machine or, from `getJobForMachine`'s fast
            path, a machine id.
        :param worker_limit: if given, claim only while the machine runs
            fewer jobs.  The caller must hold the machine's row lock:
            then this statement's snapshot, taken after the lock was
            granted, sees the jobs that a caller it waited for claimed.
        """
        if isinstance(machine, int):
            machine_id = machine
        else:
            machine_id = removeSecurityProxy(machine).id
        store = self._store
        result = store.execute(
            *claim_statement(machine_id, worker_limit),
        )
        row = result.get_one()
        if row is None:
            return None
        return load_row(store, CodeImportJob, result, column_names(result),
                        row)

    def _jobAndId(self, import_job):
        """Return (the job if at hand, else None; its id) for a job or
        a job id."""
        if isinstance(import_job, int) and not isinstance(import_job, bool):
            if not 0 < import_job <= _MAX_ID:
                # No row has such an id; a prepared statement would
                # refuse it as out of range instead of finding nothing.
                raise NoSuchCodeImportJob(import_job)
            return cached(self._store, CodeImportJob, import_job), import_job
        job = removeSecurityProxy(import_job)
        return job, job.id

    def _loadJob(self, job, job_id):
        """Return `job`, loading it by `job_id` if None; raise if gone."""
        if job is None:
            job = self._store.get(CodeImportJob, job_id)
            if job is None:
                raise NoSuchCodeImportJob(job_id)
        return job

    def updateHeartbeat(self, import_job, logtail):
        """See `ICodeImportJobWorkflow`."""
        job, job_id = self._jobAndId(import_job)
        if not isinstance(logtail, str):
            raise CodeImportValidationError("logtail must be a string.")
        store = self._store
        row = store.execute(
            _HEARTBEAT, (logtail.replace("\x00", ""), job_id),
        ).get_one()
        if row is None:
            job = self._loadJob(job, job_id)
            self._lock(job)
            self._requireState(job, _State.RUNNING)
        if job is not None:
            store.invalidate(job)

    def _finalise(self, job, status, log_file):
        """Write the result of a locked RUNNING job and delete the job."""
        store = self._store
        code_import = job.code_import
        result = self._results.new(
            code_import, self._machineOf(job), job.requesting_user,
            job.logtail,
            log_file, status, job.date_started,
        )
        store.remove(job)
        store.flush()
        return code_import, result

    def _markFailingIfNeeded(self, code_import):
        """Make the import FAILING at the failure limit; return whether."""
        limit = self._settings.consecutive_failure_limit
        failures = code_import.consecutive_failure_count
        if failures >= limit:
            code_import.updateFromData({"review_status": _Review.FAILING},
                                       None)
            notify(CodeImportMarkedFailing(code_import))
            return True, failures
        return False, failures

    def finishJob(self, import_job, status, logfile_alias):
        """See `ICodeImportJobWorkflow`."""
        job, job_id = self._jobAndId(import_job)
        logfile_alias = removeSecurityProxy(logfile_alias)
        if status not in CodeImportResultStatus:
            raise CodeImportValidationError(f"Not a result status: {status!r}")
        store = self._store
        finished = finish_fast(
            store, self._settings, job_id, status,
            None if logfile_alias is None else logfile_alias.id)
        if finished is not None:
            return self._afterFastFinish(job, *finished)
        job = self._loadJob(job, job_id)
        self._lock(job)
        self._requireState(job, _State.RUNNING)
        machine = self._machineOf(job)
        code_import, result = self._finalise(job, status, logfile_alias)
        if status in _Status.successes:
            # The result just written is the import's newest and a
            # success, so no failure follows it: nothing to count.
            failing, failures = False, 0
        else:
            failing, failures = self._markFailingIfNeeded(code_import)
        if not failing and code_import.review_status == _Review.REVIEWED:
            if status == _Status.SUCCESS_PARTIAL:
                interval = timedelta(0)
            elif failures > 0:
                interval = code_import.effective_update_interval * (
                    2 ** (failures - 1))
            else:
                interval = code_import.effective_update_interval
            self._createJob(code_import, interval)
        if status in (_Status.SUCCESS, _Status.SUCCESS_NOCHANGE):
            # The result's date_created is the transaction's time too;
            # reading it back from the new row would cost a query.
            code_import.date_last_successful = UTC_NOW
        if status == _Status.SUCCESS:
            # Unlike the original, whose Git targets lived elsewhere,
            # every target here is an IMPORTED branch that the puller
            # publishes from the import store (decision D8), so both
            # target kinds ask for a mirror.
            code_import.branch.requestMirror()
        self._events.newFinish(code_import, machine)
        notify(CodeImportJobFinished(code_import, result))
        return result

    def _afterFastFinish(self, job, code_import_id, branch_id, result):
        """Bring the store up to date after `finish_fast` and notify.

        The statement bypassed the ORM: the job is gone, and the import
        and its branch may have changed.  Only copies already in memory
        can be stale, so those are found without a query and
        invalidated (the job is dropped, as a flushed remove would).
        """
        store = self._store
        if job is not None:
            forget_deleted(store, job)
        invalidate_cached(store, CodeImport, code_import_id)
        invalidate_cached(store, Branch, branch_id)
        # Building the notification loads the import; skip it when
        # nobody listens (zope.event has no subscribers at all), which
        # is the scheduler's usual case.
        if zope.event.subscribers:
            code_import = store.get(CodeImport, code_import_id)
            notify(CodeImportJobFinished(code_import, result))
        return result

    def reclaimJob(self, import_job):
        """See `ICodeImportJobWorkflow`.

        Unlike the original, a reclaim counts towards the failure limit
        and can make the import FAILING (decision D15).
        """
        job = removeSecurityProxy(import_job)
        self._lock(job)
        return self._reclaimLocked(job)

    def _reclaimLocked(self, job):
        """`reclaimJob` for a job `_lock` has locked."""
        self._requireState(job, _State.RUNNING)
        job_id, machine = job.id, self._machineOf(job)
        code_import, result = self._finalise(job, _Status.RECLAIMED, None)
        failing, _ = self._markFailingIfNeeded(code_import)
        if not failing and code_import.review_status == _Review.REVIEWED:
            self._createJob(code_import, timedelta(0))
        self._events.newReclaim(code_import, machine, job_id)
        notify(CodeImportJobReclaimed(code_import, result, job_id))
        return result

    def reclaimStaleJobs(self):
        """Reclaim every stale RUNNING job nobody else is handling.

        The imports are locked first, skipping those another session
        holds (a finish or a status change under way, or another
        watchdog), in the order `_lock` keeps.  A job that was finished,
        or sent a heartbeat, while this looked is passed over.

        :return: the ids of the jobs reclaimed.
        """
        store = self._store
        interval = self._settings.maximum_heartbeat_interval
        ids = [row[0] for row in store.execute(
            "SELECT j.id FROM codeimportjob j"
            " JOIN codeimport c ON c.id = j.code_import"
            f" WHERE {stale_job_condition('j')}"
            " ORDER BY j.id FOR NO KEY UPDATE OF c SKIP LOCKED",
            (interval,),
        )]
        reclaimed = []
        for job_id in ids:
            job = store.get(CodeImportJob, job_id)
            if job is None:
                continue
            try:
                self._lock(job)
            except NoSuchCodeImportJob:
                continue
            # Asked again now that the job is locked: a heartbeat that
            # was committed meanwhile saves it.
            if store.execute(
                    "SELECT 1 FROM codeimportjob WHERE id = ?"
                    f" AND {stale_job_condition()}", (job_id, interval),
            ).get_one() is None:
                continue
            self._reclaimLocked(job)
            reclaimed.append(job_id)
        return reclaimed
