"""The job queue: claim, start, heartbeat, finish, reclaim and hand-back.

Each transition is one set-based statement, and the only implementation
of its rule: the object API of `CodeImportJobWorkflow`, the scheduler
service and the watchdog all come here, with ids.  A statement that
writes nothing was refused by one of its guards; only then does a
classification query, built from the same guard expressions, say which
one (`Refusal`), and the refusal becomes the domain error.  What stays
in Python is what differs in kind: marking an import FAILING, with the
MODIFY event's before/after snapshot (`CodeImportJobWorkflow`).

The statements (`codeimport.model.statements`) bypass the ORM;
`codeimport.model._storm` builds objects from the rows they return and
drops stale copies of the rows they changed.
"""

from __future__ import annotations

import enum

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import BranchTypeError
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidMachineState
from codeimport.errors import NoSuchCodeImportJob
from codeimport.joblog import cap_tail
from codeimport.model import rules
from codeimport.model import statements
from codeimport.model._storm import column_list
from codeimport.model._storm import forget_cached
from codeimport.model._storm import invalidate_cached
from codeimport.model._storm import run_returning
from codeimport.model.branch import Branch
from codeimport.model.codeimport import CodeImport
from codeimport.model.context import StoreUtility
from codeimport.model.job import CodeImportJob
from codeimport.model.machine import CodeImportMachine
from codeimport.model.result import CodeImportResult

__all__ = [
    "CodeImportJobQueue",
    "FailureLimitReached",
    "Refusal",
]

_State = CodeImportJobState
_Status = CodeImportResultStatus
_MAX_ID = 2**31 - 1  # ids are PostgreSQL integers
_REVIEWED = CodeImportReviewStatus.REVIEWED.value
_ONLINE = CodeImportMachineState.ONLINE.value
_JOB_COLUMNS = column_list(CodeImportJob)


_STALE_JOBS = rules.positional(
    "SELECT j.id FROM codeimportjob j"
    " JOIN codeimport c ON c.id = j.code_import"
    f" WHERE {rules.stale_job_condition('j')}"
    " ORDER BY j.id FOR NO KEY UPDATE OF c SKIP LOCKED")


class Refusal(enum.Enum):
    """Which guard refused a transition."""

    MISSING = "there is no such job"
    NOT_PENDING = "the job is not PENDING"
    NOT_RUNNING = "the job is not RUNNING"
    MACHINE_NOT_ONLINE = "the machine is not ONLINE"
    UNMIRRORABLE = "a success of a branch that is never mirrored"
    FAILURE_LIMIT = "a failure at the consecutive failure limit"
    NOT_STALE = "the job sent a heartbeat meanwhile"


#: What each column of `statements.WHY_NOT_ENDED` stands for.
_END_REFUSALS = (Refusal.NOT_RUNNING, Refusal.UNMIRRORABLE,
                 Refusal.FAILURE_LIMIT, Refusal.NOT_STALE)


class FailureLimitReached(Exception):
    """Ending job `job_id` reaches its import's failure limit: the
    import must become FAILING first (the workflow's part)."""

    def __init__(self, job_id, code_import_id):
        super().__init__(job_id, code_import_id)
        self.job_id = job_id
        self.code_import_id = code_import_id


class NotStale(Exception):
    """The job to reclaim is no longer stale."""


def _check_id(job_id):
    if not isinstance(job_id, int) or isinstance(job_id, bool):
        raise CodeImportValidationError(f"Not a job id: {job_id!r}")
    if not 0 < job_id <= _MAX_ID:
        # No row has such an id; a prepared statement would refuse it
        # as out of range instead of finding nothing.
        raise NoSuchCodeImportJob(job_id)


class CodeImportJobQueue(StoreUtility):
    """The job queue's transitions, by id (see the module docstring)."""

    def _run(self, statement_and_layout, values):
        statement, layout = statement_and_layout
        return self._store.execute(statement, layout(values))

    def _classify(self, query, values, refusals):
        """Run the classification `query`; return the first refusal
        whose guard is false, `Refusal.MISSING` if there is no row, or
        None if every guard holds (the statement raced a change)."""
        row = self._run(query, values).get_one()
        if row is None:
            return Refusal.MISSING, None
        for refusal, holds in zip(refusals, row):
            if not holds:
                return refusal, row
        return None, row

    def _error(self, refusal, job_id):
        """The domain error for `refusal` of a transition of job_id."""
        if refusal is Refusal.MISSING:
            return NoSuchCodeImportJob(job_id)
        store = self._store
        invalidate_cached(store, CodeImportJob, job_id)
        job = store.get(CodeImportJob, job_id)
        name = job.code_import.branch.unique_name
        if refusal is Refusal.UNMIRRORABLE:
            branch = job.code_import.branch
            return BranchTypeError(branch.unique_name, branch.branch_type)
        # NOT_PENDING, NOT_RUNNING
        return InvalidJobState(
            f"The CodeImportJob associated with {name} is "
            f"{job.state.name}.")

    def get(self, job_id):
        """The job `job_id`, for a transition's caller that needs the
        record itself.

        :raises NoSuchCodeImportJob: for an id no job can have, or no row:
            the same `Refusal.MISSING` every transition refuses first.
        """
        _check_id(job_id)
        job = self._store.get(CodeImportJob, job_id)
        if job is None:
            raise self._error(Refusal.MISSING, job_id)
        return job

    def poll(self, hostname):
        """Touch the heartbeat of ONLINE machine `hostname`.

        :return: None if there is no such ONLINE machine, else
            ``(machine_id, whether any job is stale)``.
        """
        row = self._store.execute(*statements.poll_statement(
            self._settings, hostname)).get_one()
        if row is None:
            return None
        invalidate_cached(self._store, CodeImportMachine, row[0])
        return row

    def claim(self, machine_id, worker_limit=None):
        """Start the job machine `machine_id` should run next; return
        it, or None.

        :param worker_limit: if given, claim only while the machine runs
            fewer jobs.  The caller must hold the machine's row lock (a
            `poll` takes it).
        """
        loaded = run_returning(
            self._store, CodeImportJob,
            *statements.claim_statement(machine_id, worker_limit))
        return None if loaded is None else loaded[1]

    def underWorkerLimit(self, machine_id, worker_limit):
        """Whether machine `machine_id` runs fewer than `worker_limit`
        jobs (the claim's own rule)."""
        return self._run(statements.UNDER_LIMIT, {
            "machine": machine_id, "limit": worker_limit}).get_one()[0]

    def start(self, job_id, machine_id):
        """Start PENDING job `job_id` on ONLINE machine `machine_id`.

        :raises NoSuchCodeImportJob, InvalidJobState: for the job.
        :raises InvalidMachineState: unless the machine is ONLINE.
        """
        _check_id(job_id)
        values = {"job": job_id, "machine": machine_id}
        for _ in range(2):
            loaded = run_returning(
                self._store, CodeImportJob,
                *statements.with_values(statements.START, values))
            if loaded is not None:
                return loaded[1]
            refusal, _ = self._classify(
                statements.WHY_NOT_STARTED, values,
                (Refusal.NOT_PENDING, Refusal.MACHINE_NOT_ONLINE))
            if refusal is Refusal.MACHINE_NOT_ONLINE:
                invalidate_cached(self._store, CodeImportMachine, machine_id)
                machine = self._store.get(CodeImportMachine, machine_id)
                raise InvalidMachineState(
                    f"There is no machine {machine_id}." if machine is None
                    else f"The machine {machine.hostname} is "
                    f"{machine.state.name}.")
            if refusal is not None:
                raise self._error(refusal, job_id)
        raise AssertionError("start: refused with every guard holding")

    def heartbeat(self, job_id, logtail):
        """Record that RUNNING job `job_id` is alive, with `logtail` cut
        to its last lines (`codeimport.joblog.cap_tail`).

        :raises NoSuchCodeImportJob, InvalidJobState: for the job.
        """
        _check_id(job_id)
        if not isinstance(logtail, str):
            raise CodeImportValidationError("logtail must be a string.")
        # The service keeps what the monitor keeps, whatever it was sent
        # (`codeimport.joblog`).
        values = {"job": job_id,
                  "logtail": cap_tail(logtail.replace("\x00", ""))}
        for _ in range(2):
            if self._run(statements.HEARTBEAT, values).get_one() is not None:
                invalidate_cached(self._store, CodeImportJob, job_id)
                return
            refusal, _ = self._classify(statements.WHY_NO_HEARTBEAT, values,
                                        (Refusal.NOT_RUNNING,))
            if refusal is not None:
                raise self._error(refusal, job_id)
        raise AssertionError("heartbeat: refused with every guard holding")

    def end(self, job_id, status, log_file_id=None, *, reclaimed=False,
            only_stale=False, limit_handled=False, target_changed=None):
        """End RUNNING job `job_id` with a result of `status` (see
        `statements.END`): a finish, or with `reclaimed` a reclaim.

        :param only_stale: end it only if it is stale (the watchdog).
        :param limit_handled: the caller has made the import FAILING.
        :param target_changed: whether the run changed the target's
            published refs, if the machine said (`rules.requests_mirror`).
        :return: ``(code_import_id, machine_id, result)``.
        :raises FailureLimitReached: unless `limit_handled`, when this
            failure reaches the limit.
        :raises NotStale: with `only_stale`, for a job that is not.
        :raises NoSuchCodeImportJob, InvalidJobState, BranchTypeError:
            for the other refusals.
        """
        _check_id(job_id)
        values = statements.end_values(
            self._settings, job_id, status, log_file_id, reclaimed,
            only_stale, limit_handled, target_changed)
        store = self._store
        for _ in range(2):
            loaded = run_returning(
                store, CodeImportResult,
                *statements.with_values(statements.END, values), skip=3)
            if loaded is not None:
                (code_import_id, branch_id, machine_id), result = loaded
                forget_cached(store, CodeImportJob, job_id)
                invalidate_cached(store, CodeImport, code_import_id)
                invalidate_cached(store, Branch, branch_id)
                return code_import_id, machine_id, result
            refusal, row = self._classify(statements.WHY_NOT_ENDED, values,
                                          _END_REFUSALS)
            if refusal is Refusal.FAILURE_LIMIT:
                raise FailureLimitReached(job_id, row[-1])
            if refusal is Refusal.NOT_STALE:
                raise NotStale(job_id)
            if refusal is not None:
                raise self._error(refusal, job_id)
        raise AssertionError("end: refused with every guard holding")

    def staleJobIds(self):
        """The ids of stale jobs whose imports nobody else is changing,
        locking those imports (in the order every writer locks)."""
        return [row[0] for row in self._run(_STALE_JOBS,
                                            rules.silence_values(
                                                self._settings))]

    def schedule(self, code_import_id, seconds=None):
        """Add import `code_import_id`'s next PENDING job, due `seconds`
        (by default the effective interval) after its newest run
        started, or now if it never ran; return it."""
        values = dict(rules.default_interval_values(self._settings),
                      code_import=code_import_id, seconds=seconds)
        loaded = run_returning(
            self._store, CodeImportJob,
            *statements.with_values(statements.SCHEDULE, values))
        return loaded[1]
