"""The job queue: claim, start, heartbeat, finish, reclaim and hand-back.

Each transition is one set-based statement, and the only implementation
of its rule: the object API of `CodeImportJobWorkflow`, the scheduler
service and the watchdog all come here, with ids.  A statement that
writes nothing was refused by one of its guards; only then does a
classification query, built from the same guard expressions, say which
one (`Refusal`), and the refusal becomes the domain error.  What stays
in Python is what differs in kind: marking an import FAILING, with the
MODIFY event's before/after snapshot (`CodeImportJobWorkflow`).

The statements bypass the ORM; `codeimport.model._storm` builds objects
from the rows they return and drops stale copies of the rows they
changed.
"""

from __future__ import annotations

import enum

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import BranchTypeError
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidMachineState
from codeimport.errors import NoSuchCodeImportJob
from codeimport.model import rules
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
from codeimport.prepared import prepared

__all__ = [
    "CodeImportJobQueue",
    "FailureLimitReached",
    "Refusal",
    "claim_statement",
    "finish_statement",
    "poll_statement",
]

_State = CodeImportJobState
_Status = CodeImportResultStatus
_MAX_ID = 2**31 - 1  # ids are PostgreSQL integers
_REVIEWED = CodeImportReviewStatus.REVIEWED.value
_ONLINE = CodeImportMachineState.ONLINE.value
_JOB_COLUMNS = column_list(CodeImportJob)


class Refusal(enum.Enum):
    """Which guard refused a transition."""

    MISSING = "there is no such job"
    NOT_PENDING = "the job is not PENDING"
    NOT_RUNNING = "the job is not RUNNING"
    MACHINE_NOT_ONLINE = "the machine is not ONLINE"
    UNMIRRORABLE = "a success of a branch that is never mirrored"
    FAILURE_LIMIT = "a failure at the consecutive failure limit"
    NOT_STALE = "the job sent a heartbeat meanwhile"


class FailureLimitReached(Exception):
    """Ending job `job_id` reaches its import's failure limit: the
    import must become FAILING first (the workflow's part)."""

    def __init__(self, job_id, code_import_id):
        super().__init__(job_id, code_import_id)
        self.job_id = job_id
        self.code_import_id = code_import_id


class NotStale(Exception):
    """The job to reclaim is no longer stale."""


# -- the guards, each one SQL expression over j (the job), c (its import),
# b (the import's branch) and m (the machine), used by the statements
# and, on refusal, by the classification that names the one that failed.

_GUARD_PENDING = f"j.state = {_State.PENDING.value}"
_GUARD_RUNNING = f"j.state = {rules.RUNNING}"
_GUARD_ONLINE = f"m.state = {_ONLINE}"
_GUARD_MIRRORABLE = (
    f"(NOT $requests_mirror OR b.branch_type NOT IN ({rules.NEVER_MIRRORED}))")
_GUARD_BELOW_LIMIT = (
    "($limit_handled OR $is_success"
    f" OR {rules.consecutive_failures('j.code_import')} + 1 < $limit)")
_GUARD_STALE = (
    f"(NOT $only_stale OR {rules.stale_job_condition('j', '$heartbeat')})")


def _prepare(statement):
    text, layout = rules.positional(statement)
    return prepared(text), layout


# -- poll and claim ------------------------------------------------------

# Whether any job is stale is asked as "is the oldest heartbeat too
# old": min() over the partial heartbeat index reads one index entry
# whatever the threshold, whereas an EXISTS over "heartbeat < threshold"
# leaves a generic plan free to guess that many rows match.
_POLL = _prepare(
    "UPDATE codeimportmachine SET heartbeat = CURRENT_TIMESTAMP"
    f" WHERE hostname = $hostname AND state = {_ONLINE}"
    " RETURNING id, COALESCE((SELECT min(heartbeat) FROM codeimportjob"
    f"  WHERE state = {rules.RUNNING})"
    "  < CURRENT_TIMESTAMP - $heartbeat * interval '1 second', false)")


def _start(candidate):
    """Start the job `candidate` selects on machine $machine, with its
    START event, returning the job's row."""
    return (
        f"WITH candidate AS ({candidate}),"
        " claimed AS ("
        f"  UPDATE codeimportjob SET state = {rules.RUNNING},"
        "  machine = $machine, date_started = CURRENT_TIMESTAMP,"
        "  heartbeat = CURRENT_TIMESTAMP, logtail = ''"
        "  FROM candidate WHERE codeimportjob.id = candidate.id"
        f"  RETURNING {column_list(CodeImportJob, 'codeimportjob')}),"
        " event AS ("
        "  INSERT INTO codeimportevent"
        "  (entry_type, code_import, machine, date_created)"
        f"  SELECT {CodeImportEventType.START.value}, code_import, $machine,"
        "  CURRENT_TIMESTAMP FROM claimed)"
        f" SELECT {_JOB_COLUMNS} FROM claimed")


# The next due job in (requested first, date_due, id) order along the
# partial index, skipping rows other claimers hold locked.
_CLAIM = _prepare(_start(
    "SELECT j.id FROM codeimportjob j"
    f" WHERE j.state = {_State.PENDING.value}"
    " AND j.date_due <= CURRENT_TIMESTAMP"
    f" AND ($unlimited OR {rules.under_worker_limit('$machine', '$limit')})"
    " ORDER BY (j.requesting_user IS NULL), j.date_due, j.id"
    " LIMIT 1 FOR UPDATE OF j SKIP LOCKED"))

# One given job, on one given machine.
_START = _prepare(_start(
    "SELECT j.id FROM codeimportjob j, codeimportmachine m"
    f" WHERE j.id = $job AND m.id = $machine AND {_GUARD_PENDING}"
    f" AND {_GUARD_ONLINE} FOR UPDATE OF j"))

_WHY_NOT_STARTED = rules.positional(
    f"SELECT {_GUARD_PENDING}, (SELECT {_GUARD_ONLINE}"
    "  FROM codeimportmachine m WHERE m.id = $machine)"
    " FROM codeimportjob j WHERE j.id = $job")

_UNDER_LIMIT = rules.positional(
    f"SELECT {rules.under_worker_limit('$machine', '$limit')}")


# -- heartbeat -----------------------------------------------------------

_HEARTBEAT = _prepare(
    "UPDATE codeimportjob j SET heartbeat = CURRENT_TIMESTAMP,"
    f" logtail = $logtail WHERE j.id = $job AND {_GUARD_RUNNING}"
    " RETURNING j.id")

_WHY_NO_HEARTBEAT = rules.positional(
    f"SELECT {_GUARD_RUNNING} FROM codeimportjob j WHERE j.id = $job")


# -- finish, reclaim, hand-back --------------------------------------------

# One statement ends a RUNNING job, whether it finished (a FINISH event)
# or was reclaimed (a RECLAIMED result, a RECLAIM event naming the job):
#
# * ``c`` locks the import's row first, as every writer of an import and
#   its job does; a locking read that had to wait returns the row as
#   committed meanwhile, so what follows decides on a review status an
#   `updateFromData` just wrote;
# * ``job`` deletes the job row if every guard holds (a finish racing a
#   reclaim waits for the row lock, then finds the row gone);
# * ``result`` writes the result from the deleted row's values;
# * ``next_job`` schedules a REVIEWED import below its failure limit:
#   the effective interval after the newest run's start, times 0 after a
#   partial success or a reclaim, 1 after a success, 2**(failures - 1)
#   after a failure (failures counting this one);
# * ``import_row``, ``mirror`` and ``event``: date_last_successful, a
#   mirror request after SUCCESS (never pushing back an earlier one),
#   and the event.
#
# All sub-statements see one snapshot, so the failure count counts the
# results before this one.
_END = _prepare(
    "WITH c AS ("
    "  SELECT id, branch, review_status, update_interval, rcs_type"
    "  FROM codeimport WHERE id = ("
    "   SELECT code_import FROM codeimportjob WHERE id = $job)"
    "  FOR NO KEY UPDATE),"
    " job AS ("
    "  DELETE FROM codeimportjob j USING c, branch b"
    "  WHERE j.id = $job AND c.id = j.code_import AND b.id = c.branch"
    f"  AND {_GUARD_RUNNING} AND {_GUARD_MIRRORABLE}"
    f"  AND {_GUARD_BELOW_LIMIT} AND {_GUARD_STALE}"
    "  RETURNING j.id, j.code_import, j.machine, j.requesting_user,"
    "  j.logtail, j.date_started, c.branch, c.review_status,"
    f"  {rules.consecutive_failures('j.code_import')} AS failures,"
    f"  {rules.effective_interval('c')} AS base,"
    f"  COALESCE({rules.latest_start('j.code_import', True)},"
    "   j.date_started) AS start),"
    " result AS ("
    "  INSERT INTO codeimportresult (code_import, machine,"
    "  requesting_user, log_excerpt, log_file, status, date_job_started,"
    "  date_created)"
    "  SELECT code_import, machine, requesting_user, logtail, $log_file,"
    "  $status, date_started, CURRENT_TIMESTAMP FROM job"
    f"  RETURNING {column_list(CodeImportResult)}),"
    " next_job AS ("
    "  INSERT INTO codeimportjob (code_import, date_due, state)"
    "  SELECT code_import, " + rules.due_after(
        "start", "base * CASE WHEN $due_now THEN 0 WHEN $is_success THEN 1"
        " ELSE power(2, failures) END") + f", {rules.PENDING} FROM job"
    f"  WHERE review_status = {_REVIEWED}"
    "  AND ($is_success OR failures + 1 < $limit)),"
    " import_row AS ("
    "  UPDATE codeimport SET date_last_successful = CURRENT_TIMESTAMP"
    "  FROM job WHERE $marks_success AND codeimport.id = job.code_import),"
    " mirror AS ("
    "  UPDATE branch SET next_mirror_time = CURRENT_TIMESTAMP"
    "  FROM job WHERE $requests_mirror AND branch.id = job.branch"
    "  AND (branch.next_mirror_time IS NULL"
    "   OR branch.next_mirror_time > CURRENT_TIMESTAMP)),"
    " event AS ("
    "  INSERT INTO codeimportevent"
    "  (entry_type, code_import, machine, date_created)"
    "  SELECT $event, code_import, machine, CURRENT_TIMESTAMP FROM job"
    "  RETURNING id),"
    " event_data AS ("
    "  INSERT INTO codeimporteventdata (event, data_type, data_value)"
    f"  SELECT event.id, {CodeImportEventDataType.RECLAIMED_JOB_ID.value},"
    "  job.id::text FROM event, job WHERE $reclaimed)"
    " SELECT job.code_import, job.branch, job.machine,"
    f" {column_list(CodeImportResult, 'result')} FROM job, result")

_WHY_NOT_ENDED = rules.positional(
    f"SELECT {_GUARD_RUNNING}, {_GUARD_MIRRORABLE}, {_GUARD_BELOW_LIMIT},"
    f" {_GUARD_STALE}, j.code_import"
    " FROM codeimportjob j JOIN codeimport c ON c.id = j.code_import"
    " JOIN branch b ON b.id = c.branch WHERE j.id = $job FOR UPDATE OF j")
_END_REFUSALS = (Refusal.NOT_RUNNING, Refusal.UNMIRRORABLE,
                 Refusal.FAILURE_LIMIT, Refusal.NOT_STALE)


def _end_values(settings, job_id, status, log_file_id, reclaimed=False,
                only_stale=False, limit_handled=False):
    is_success = status in _Status.successes
    return dict(
        rules.default_interval_values(settings),
        job=job_id, status=status.value, log_file=log_file_id,
        is_success=is_success,
        due_now=reclaimed or status == _Status.SUCCESS_PARTIAL,
        marks_success=status in (_Status.SUCCESS, _Status.SUCCESS_NOCHANGE),
        requests_mirror=status == _Status.SUCCESS,
        limit=settings.consecutive_failure_limit,
        limit_handled=limit_handled,
        only_stale=only_stale,
        heartbeat=settings.maximum_heartbeat_interval,
        reclaimed=reclaimed,
        event=(CodeImportEventType.RECLAIM if reclaimed
               else CodeImportEventType.FINISH).value,
    )


def poll_statement(hostname, maximum_heartbeat_interval):
    """The statement with which an ONLINE machine polls, as
    ``(statement, parameters)``: it touches the machine's heartbeat and
    says whether any job is stale."""
    statement, layout = _POLL
    return statement, layout(
        {"hostname": hostname, "heartbeat": maximum_heartbeat_interval})


def claim_statement(machine_id, worker_limit=None):
    """`CodeImportJobQueue.claim`'s statement as ``(statement,
    parameters)``."""
    statement, layout = _CLAIM
    return statement, layout({"machine": machine_id,
                              "unlimited": worker_limit is None,
                              "limit": worker_limit or 0})


def finish_statement(settings, job_id, status, log_file_id):
    """`CodeImportJobQueue.finish`'s statement as ``(statement,
    parameters)``."""
    statement, layout = _END
    return statement, layout(
        _end_values(settings, job_id, status, log_file_id))


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

    def poll(self, hostname):
        """Touch the heartbeat of ONLINE machine `hostname`.

        :return: None if there is no such ONLINE machine, else
            ``(machine_id, whether any job is stale)``.
        """
        row = self._store.execute(*poll_statement(
            hostname, self._settings.maximum_heartbeat_interval)).get_one()
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
        loaded = run_returning(self._store, CodeImportJob,
                               *claim_statement(machine_id, worker_limit))
        return None if loaded is None else loaded[1]

    def underWorkerLimit(self, machine_id, worker_limit):
        """Whether machine `machine_id` runs fewer than `worker_limit`
        jobs (the claim's own rule)."""
        return self._run(_UNDER_LIMIT, {"machine": machine_id,
                                        "limit": worker_limit}).get_one()[0]

    def start(self, job_id, machine_id):
        """Start PENDING job `job_id` on ONLINE machine `machine_id`.

        :raises NoSuchCodeImportJob, InvalidJobState: for the job.
        :raises InvalidMachineState: unless the machine is ONLINE.
        """
        _check_id(job_id)
        values = {"job": job_id, "machine": machine_id}
        for _ in range(2):
            loaded = run_returning(self._store, CodeImportJob,
                                   *_with(_START, values))
            if loaded is not None:
                return loaded[1]
            refusal, _ = self._classify(
                _WHY_NOT_STARTED, values,
                (Refusal.NOT_PENDING, Refusal.MACHINE_NOT_ONLINE))
            if refusal is Refusal.MACHINE_NOT_ONLINE:
                machine = self._store.get(CodeImportMachine, machine_id)
                raise InvalidMachineState(
                    f"The machine {machine.hostname} is "
                    f"{machine.state.name}.")
            if refusal is not None:
                raise self._error(refusal, job_id)
        raise AssertionError("start: refused with every guard holding")

    def heartbeat(self, job_id, logtail):
        """Record that RUNNING job `job_id` is alive, with `logtail`.

        :raises NoSuchCodeImportJob, InvalidJobState: for the job.
        """
        _check_id(job_id)
        if not isinstance(logtail, str):
            raise CodeImportValidationError("logtail must be a string.")
        values = {"job": job_id, "logtail": logtail.replace("\x00", "")}
        for _ in range(2):
            if self._run(_HEARTBEAT, values).get_one() is not None:
                invalidate_cached(self._store, CodeImportJob, job_id)
                return
            refusal, _ = self._classify(_WHY_NO_HEARTBEAT, values,
                                        (Refusal.NOT_RUNNING,))
            if refusal is not None:
                raise self._error(refusal, job_id)
        raise AssertionError("heartbeat: refused with every guard holding")

    def end(self, job_id, status, log_file_id=None, *, reclaimed=False,
            only_stale=False, limit_handled=False):
        """End RUNNING job `job_id` with a result of `status` (see
        `_END`): a finish, or with `reclaimed` a reclaim.

        :param only_stale: end it only if it is stale (the watchdog).
        :param limit_handled: the caller has made the import FAILING.
        :return: ``(code_import_id, machine_id, result)``.
        :raises FailureLimitReached: unless `limit_handled`, when this
            failure reaches the limit.
        :raises NotStale: with `only_stale`, for a job that is not.
        :raises NoSuchCodeImportJob, InvalidJobState, BranchTypeError:
            for the other refusals.
        """
        _check_id(job_id)
        values = _end_values(self._settings, job_id, status, log_file_id,
                             reclaimed, only_stale, limit_handled)
        store = self._store
        for _ in range(2):
            loaded = run_returning(store, CodeImportResult,
                                   *_with(_END, values), skip=3)
            if loaded is not None:
                (code_import_id, branch_id, machine_id), result = loaded
                forget_cached(store, CodeImportJob, job_id)
                invalidate_cached(store, CodeImport, code_import_id)
                invalidate_cached(store, Branch, branch_id)
                return code_import_id, machine_id, result
            refusal, row = self._classify(_WHY_NOT_ENDED, values,
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
        return [row[0] for row in self._store.execute(
            "SELECT j.id FROM codeimportjob j"
            " JOIN codeimport c ON c.id = j.code_import"
            f" WHERE {rules.stale_job_condition('j')}"
            " ORDER BY j.id FOR NO KEY UPDATE OF c SKIP LOCKED",
            (self._settings.maximum_heartbeat_interval,))]

    def schedule(self, code_import_id, seconds=None):
        """Add import `code_import_id`'s next PENDING job, due `seconds`
        (by default the effective interval) after its newest run
        started, or now if it never ran; return it."""
        loaded = run_returning(
            self._store, CodeImportJob, *_with(_SCHEDULE, dict(
                rules.default_interval_values(self._settings),
                code_import=code_import_id, seconds=seconds)))
        return loaded[1]


def _with(statement_and_layout, values):
    statement, layout = statement_and_layout
    return statement, layout(values)


_SCHEDULE = _prepare(
    "INSERT INTO codeimportjob (code_import, date_due, state)"
    " SELECT c.id, COALESCE(" + rules.due_after(
        rules.latest_start("c.id"),
        f"COALESCE($seconds::float8, {rules.effective_interval('c')})")
    + f", CURRENT_TIMESTAMP), {rules.PENDING} FROM codeimport c"
    f" WHERE c.id = $code_import RETURNING {_JOB_COLUMNS}")
