"""The job queue's statements (`codeimport.model.queue`), built from
the rules (`codeimport.model.rules`) and the guards below.

Each guard is one SQL expression over j (the job), c (its import), b
(the import's branch) and m (the machine); a statement requires its
guards, and its classification query, run only when the statement
wrote nothing, reads the same expressions to say which one failed.
Parameters are named (``$name``; `rules.positional`).
"""

from __future__ import annotations

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.joblog import LOG_TAIL_CHARACTERS
from codeimport.model import rules
from codeimport.model._storm import column_list
from codeimport.model.job import CodeImportJob
from codeimport.model.result import CodeImportResult
from codeimport.prepared import prepared

__all__ = [
    "CLAIM", "END", "HEARTBEAT", "POLL", "SCHEDULE", "START", "UNDER_LIMIT",
    "WHY_NOT_ENDED", "WHY_NOT_STARTED", "WHY_NO_HEARTBEAT",
    "claim_statement", "end_values", "finish_statement", "poll_statement",
    "with_values",
]

_State = CodeImportJobState
_Status = CodeImportResultStatus
_REVIEWED = CodeImportReviewStatus.REVIEWED.value
_ONLINE = CodeImportMachineState.ONLINE.value
_JOB_COLUMNS = column_list(CodeImportJob)


_GUARD_PENDING = f"j.state = {_State.PENDING.value}"
_GUARD_RUNNING = f"j.state = {rules.RUNNING}"
_GUARD_ONLINE = f"m.state = {_ONLINE}"
_GUARD_MIRRORABLE = (
    f"(NOT $requests_mirror OR b.branch_type NOT IN ({rules.NEVER_MIRRORED}))")
_GUARD_BELOW_LIMIT = (
    "($limit_handled OR $is_success"
    f" OR {rules.consecutive_failures('j.code_import')} + 1 < $limit)")
_GUARD_STALE = f"(NOT $only_stale OR {rules.stale_job_condition('j')})"


def _prepare(statement):
    text, layout = rules.positional(statement)
    return prepared(text), layout


# -- poll and claim ------------------------------------------------------

# Whether any job is stale is asked as "is the oldest heartbeat too
# old": min() over the partial heartbeat index reads one index entry
# whatever the threshold, whereas an EXISTS over "heartbeat < threshold"
# leaves a generic plan free to guess that many rows match.
POLL = _prepare(
    "UPDATE codeimportmachine SET heartbeat = CURRENT_TIMESTAMP"
    f" WHERE hostname = $hostname AND state = {_ONLINE}"
    " RETURNING id, COALESCE(" + rules.silent(
        "(SELECT min(heartbeat) FROM codeimportjob"
        f" WHERE state = {rules.RUNNING})") + ", false)")


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
CLAIM = _prepare(_start(
    "SELECT j.id FROM codeimportjob j"
    f" WHERE j.state = {_State.PENDING.value}"
    " AND j.date_due <= CURRENT_TIMESTAMP"
    f" AND ($unlimited OR {rules.under_worker_limit('$machine', '$limit')})"
    " ORDER BY (j.requesting_user IS NULL), j.date_due, j.id"
    " LIMIT 1 FOR UPDATE OF j SKIP LOCKED"))

# One given job, on one given machine.
START = _prepare(_start(
    "SELECT j.id FROM codeimportjob j, codeimportmachine m"
    f" WHERE j.id = $job AND m.id = $machine AND {_GUARD_PENDING}"
    f" AND {_GUARD_ONLINE} FOR UPDATE OF j"))

WHY_NOT_STARTED = rules.positional(
    f"SELECT {_GUARD_PENDING}, (SELECT {_GUARD_ONLINE}"
    "  FROM codeimportmachine m WHERE m.id = $machine)"
    " FROM codeimportjob j WHERE j.id = $job")

UNDER_LIMIT = rules.positional(
    f"SELECT {rules.under_worker_limit('$machine', '$limit')}")


# -- heartbeat -----------------------------------------------------------

HEARTBEAT = _prepare(
    "UPDATE codeimportjob j SET heartbeat = CURRENT_TIMESTAMP,"
    f" logtail = $logtail WHERE j.id = $job AND {_GUARD_RUNNING}"
    " RETURNING j.id")

WHY_NO_HEARTBEAT = rules.positional(
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
#   mirror request when the target changed (`rules.requests_mirror`;
#   never pushing back an earlier request), and the event.
#
# All sub-statements see one snapshot, so the failure count counts the
# results before this one.
END = _prepare(
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
    "  SELECT code_import, machine, requesting_user,"
    f"  right(logtail, {LOG_TAIL_CHARACTERS}), $log_file,"
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

WHY_NOT_ENDED = rules.positional(
    f"SELECT {_GUARD_RUNNING}, {_GUARD_MIRRORABLE}, {_GUARD_BELOW_LIMIT},"
    f" {_GUARD_STALE}, j.code_import"
    " FROM codeimportjob j JOIN codeimport c ON c.id = j.code_import"
    " JOIN branch b ON b.id = c.branch WHERE j.id = $job FOR UPDATE OF j")


def end_values(settings, job_id, status, log_file_id, reclaimed=False,
               only_stale=False, limit_handled=False, target_changed=None):
    is_success = status in _Status.successes
    return dict(
        rules.default_interval_values(settings),
        **rules.silence_values(settings),
        job=job_id, status=status.value, log_file=log_file_id,
        is_success=is_success,
        due_now=reclaimed or status == _Status.SUCCESS_PARTIAL,
        marks_success=status in (_Status.SUCCESS, _Status.SUCCESS_NOCHANGE),
        requests_mirror=(not reclaimed
                         and rules.requests_mirror(status, target_changed)),
        limit=settings.consecutive_failure_limit,
        limit_handled=limit_handled,
        only_stale=only_stale,
        reclaimed=reclaimed,
        event=(CodeImportEventType.RECLAIM if reclaimed
               else CodeImportEventType.FINISH).value,
    )


def poll_statement(settings, hostname):
    """The statement with which an ONLINE machine polls, as
    ``(statement, parameters)``: it touches the machine's heartbeat and
    says whether any job is stale."""
    statement, layout = POLL
    return statement, layout(
        dict(rules.silence_values(settings), hostname=hostname))


def claim_statement(machine_id, worker_limit=None):
    """`CodeImportJobQueue.claim`'s statement as ``(statement,
    parameters)``."""
    statement, layout = CLAIM
    return statement, layout({"machine": machine_id,
                              "unlimited": worker_limit is None,
                              "limit": worker_limit or 0})


def finish_statement(settings, job_id, status, log_file_id,
                     target_changed=None):
    """`CodeImportJobQueue.finish`'s statement as ``(statement,
    parameters)``."""
    statement, layout = END
    return statement, layout(end_values(
        settings, job_id, status, log_file_id,
        target_changed=target_changed))


def with_values(statement_and_layout, values):
    statement, layout = statement_and_layout
    return statement, layout(values)


SCHEDULE = _prepare(
    "INSERT INTO codeimportjob (code_import, date_due, state)"
    " SELECT c.id, COALESCE(" + rules.due_after(
        rules.latest_start("c.id"),
        f"COALESCE($seconds::float8, {rules.effective_interval('c')})")
    + f", CURRENT_TIMESTAMP), {rules.PENDING} FROM codeimport c"
    f" WHERE c.id = $code_import RETURNING {_JOB_COLUMNS}")
