"""The job workflow: the domain side of a job's life.

Every transition a job makes on the scheduler's hot path (start,
heartbeat, finish, reclaim) is one statement of the job queue
(`codeimport.model.queue`); the workflow gives those transitions the
object API the interfaces promise, and adds what is not a set-based
rule: making an import FAILING, with the MODIFY event's snapshot, when
a failure reaches the limit, and telling subscribers.  This is trusted
code: it strips security proxies from its arguments once, on entry.
"""

from __future__ import annotations

import zope.event
from zope.event import notify
from zope.interface import implementer
from zope.security.proxy import removeSecurityProxy

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidReviewStatus
from codeimport.errors import NoSuchCodeImportJob
from codeimport.interfaces.job import ICodeImportJobWorkflow
from codeimport.model.codeimport import CodeImport
from codeimport.model.constants import UTC_NOW
from codeimport.model.context import StoreUtility
from codeimport.model.lateresult import LateResults
from codeimport.model.queue import FailureLimitReached
from codeimport.model.queue import NotStale
from codeimport.notification import CodeImportJobFinished
from codeimport.notification import CodeImportJobReclaimed
from codeimport.notification import CodeImportMarkedFailing

__all__ = ["CodeImportJobWorkflow"]

_State = CodeImportJobState
_Review = CodeImportReviewStatus
_Status = CodeImportResultStatus


def _name(code_import):
    return code_import.branch.unique_name


@implementer(ICodeImportJobWorkflow)
class CodeImportJobWorkflow(StoreUtility):
    """See `ICodeImportJobWorkflow`."""

    def __init__(self, get_store, settings, events, queue):
        super().__init__(get_store, settings)
        self._events = events
        self._queue = queue
        self.late = LateResults(get_store, settings)

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
        seconds = None if interval is None else interval.total_seconds()
        return self._queue.schedule(code_import.id, seconds)

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
        self._queue.start(job.id, machine.id)

    def updateHeartbeat(self, import_job, logtail):
        """See `ICodeImportJobWorkflow`."""
        self._queue.heartbeat(removeSecurityProxy(import_job).id, logtail)

    def finishJob(self, import_job, status, logfile_alias):
        """See `ICodeImportJobWorkflow`."""
        return self.finishJobById(removeSecurityProxy(import_job).id, status,
                                  logfile_alias)

    def finishJobById(self, job_id, status, logfile_alias,
                      target_changed=None):
        """`finishJob` for a service that knows only the job's id: the
        job is never loaded, unless to explain a refusal.

        :param target_changed: whether the run changed the target's
            published refs, when the machine says so; it decides the
            mirror request (`rules.requests_mirror`).
        """
        if status not in CodeImportResultStatus:
            raise CodeImportValidationError(f"Not a result status: {status!r}")
        logfile_alias = removeSecurityProxy(logfile_alias)
        code_import_id, result = self._end(
            job_id, status,
            None if logfile_alias is None else logfile_alias.id,
            target_changed=target_changed)
        # Building the notification loads the import; skip it when
        # nobody listens (zope.event has no subscribers at all), which
        # is the scheduler's usual case.
        if zope.event.subscribers:
            code_import = self._store.get(CodeImport, code_import_id)
            notify(CodeImportJobFinished(code_import, result))
        return result

    def _end(self, job_id, status, log_file_id, **options):
        """End the job through the queue; at the failure limit, make the
        import FAILING first.  Return (the import's id, the result)."""
        try:
            ended = self._queue.end(job_id, status, log_file_id, **options)
        except FailureLimitReached as reached:
            code_import = self._store.get(CodeImport, reached.code_import_id)
            code_import.updateFromData({"review_status": _Review.FAILING},
                                       None)
            notify(CodeImportMarkedFailing(code_import))
            ended = self._queue.end(job_id, status, log_file_id,
                                    limit_handled=True, **options)
        code_import_id, _, result = ended
        return code_import_id, result

    def recordLateResult(self, job_id, status, logfile_alias,
                         target_changed=None):
        """Record the result of job `job_id`, reported after the job was
        reclaimed (`codeimport.model.lateresult`); True if recorded,
        False if it already was."""
        if status not in CodeImportResultStatus:
            raise CodeImportValidationError(f"Not a result status: {status!r}")
        if status in (_Status.RECLAIMED, _Status.KILLED):
            raise CodeImportValidationError(
                f"{status.name} is not a result a run reports.")
        logfile_alias = removeSecurityProxy(logfile_alias)
        return self.late.record(
            job_id, status,
            None if logfile_alias is None else logfile_alias.id,
            target_changed)

    def reclaimJob(self, import_job):
        """See `ICodeImportJobWorkflow`.

        Unlike the original, a reclaim counts towards the failure limit
        and can make the import FAILING.
        """
        return self.reclaimJobById(removeSecurityProxy(import_job).id)

    def reclaimJobById(self, job_id, only_stale=False):
        """`reclaimJob` by id; with `only_stale`, only a stale job
        (otherwise `NotStale`)."""
        code_import_id, result = self._end(
            job_id, _Status.RECLAIMED, None, reclaimed=True,
            only_stale=only_stale)
        code_import = self._store.get(CodeImport, code_import_id)
        notify(CodeImportJobReclaimed(code_import, result, job_id))
        return result

    def reclaimStaleJobs(self):
        """Reclaim every stale RUNNING job nobody else is handling.

        The imports are locked first, skipping those another session
        holds (a finish or a status change under way, or another
        watchdog).  A job that was finished, or sent a heartbeat, while
        this looked is passed over.

        :return: the ids of the jobs reclaimed.
        """
        reclaimed = []
        for job_id in self._queue.staleJobIds():
            try:
                self.reclaimJobById(job_id, only_stale=True)
            except (NoSuchCodeImportJob, NotStale):
                continue
            reclaimed.append(job_id)
        return reclaimed
