"""finishJob's fast path: the common finish as one SQL statement.

`CodeImportJobWorkflow.finishJob` through the ORM costs about a dozen
statements and as many object loads, most of them to read back what
one set-based statement can decide in the database.  `finish_fast`
does the whole of BEHAVIOUR §5.3.6 for the common case in one
statement of data-modifying CTEs:

* ``c`` locks the import's row and reads it as last committed;
* ``job`` locks and deletes the RUNNING job row (the fence of decision
  D14: a finish racing a reclaim waits for the row lock and then finds
  the row gone, exactly as the ORM path's ``SELECT ... FOR UPDATE``);
* ``result`` writes the result from the deleted row's values;
* ``next_job`` writes the next PENDING job, due at
  max(now, date_started + interval), the interval being the effective
  update interval, 0 after a partial success and interval *
  2**(failures - 1) after a failure;
* ``import_row`` sets date_last_successful after SUCCESS and
  SUCCESS_NOCHANGE, ``mirror`` asks for a mirror after SUCCESS with the
  conditional update of `Branch.requestMirror`, and ``event`` writes the
  FINISH event.

The ``job`` CTE only deletes when the fast path gives the same outcome
as the ORM path; otherwise it deletes nothing, the statement writes
nothing, and the caller takes the ORM path, which then also tells
NoSuchCodeImportJob from InvalidJobState.  The cases left to the ORM
path are the rare ones:

* the job is missing or not RUNNING (an error either way);
* the import is not REVIEWED (no next job; a failure at the limit
  overwrites the status with FAILING);
* a failure that reaches the consecutive failure limit (the import
  becomes FAILING, which needs the MODIFY event's before/after
  snapshot that `CodeImport.updateFromData` takes);
* a SUCCESS whose branch is never mirrored (`requestMirror` raises
  BranchTypeError);
* an older result dated after now (only tests write those); the
  ORM path would take the next job's start time from it, as
  `latest_result_start` orders by date_created.

All sub-statements see one snapshot, so the failure count below counts
the results that existed before this finish; the new result adds one.
"""

from __future__ import annotations

from codeimport.enums import BranchType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.model.result import CodeImportResult
from codeimport.model.rows import column_list
from codeimport.model.rows import column_names
from codeimport.model.rows import load_row
from codeimport.prepared import prepared

__all__ = ["finish_fast", "finish_statement"]

_Status = CodeImportResultStatus
_RCS = RevisionControlSystems
_RESULT_COLUMNS = column_list(CodeImportResult)
# Enumeration values are written into the statement rather than passed:
# a prepared statement's generic plan can then still use the partial
# indexes whose predicates name them.
_SUCCESSES = ", ".join(str(status.value) for status in _Status.successes)
_NEVER_MIRRORED = f"{BranchType.HOSTED.value}, {BranchType.REMOTE.value}"
_RUNNING = CodeImportJobState.RUNNING.value
_PENDING = CodeImportJobState.PENDING.value
_REVIEWED = CodeImportReviewStatus.REVIEWED.value
_FINISH_EVENT = CodeImportEventType.FINISH.value

# Storm passes only positional "?" parameters, so each value below is
# given in the order its "?" appears.
_FINISH = prepared(
    # Lock the import first, as every writer of an import and its job
    # does (see `CodeImportJobWorkflow._lock`).  A locking read that had
    # to wait returns the row as committed meanwhile, so ``job`` below
    # decides on the review status an `updateFromData` just wrote, not
    # on the statement's older snapshot.
    "WITH c AS ("
    "  SELECT id, branch, review_status, update_interval, rcs_type"
    "  FROM codeimport WHERE id = ("
    "   SELECT code_import FROM codeimportjob WHERE id = ?)"
    "  FOR NO KEY UPDATE),"
    " job AS ("
    "  DELETE FROM codeimportjob j USING c, branch b"
    f"  WHERE j.id = ? AND j.state = {_RUNNING} AND c.id = j.code_import"
    f"  AND b.id = c.branch AND c.review_status = {_REVIEWED}"
    f"  AND (? OR b.branch_type NOT IN ({_NEVER_MIRRORED}))"
    "  AND NOT EXISTS (SELECT 1 FROM codeimportresult r"
    "   WHERE r.code_import = j.code_import"
    "   AND r.date_created > CURRENT_TIMESTAMP)"
    "  AND (? OR (SELECT count(*) FROM codeimportresult r"
    "   WHERE r.code_import = j.code_import AND r.id > COALESCE(("
    "    SELECT max(s.id) FROM codeimportresult s"
    "    WHERE s.code_import = j.code_import"
    f"    AND s.status IN ({_SUCCESSES})), 0)) + 1 < ?)"
    "  RETURNING j.id, j.code_import, j.machine, j.requesting_user,"
    "  j.logtail, j.date_started, c.branch,"
    # Seconds of the effective update interval (codeimport.settings'
    # defaultInterval when the import has none of its own) ...
    "  COALESCE(EXTRACT(EPOCH FROM c.update_interval),"
    f"   CASE c.rcs_type WHEN {_RCS.CVS.value} THEN ?::float8"
    f"   WHEN {_RCS.BZR_SVN.value} THEN ?::float8"
    f"   WHEN {_RCS.GIT.value} THEN ?::float8"
    f"   WHEN {_RCS.BZR.value} THEN ?::float8 ELSE 21600 END) AS base,"
    # ... and its multiplier: 0 after a partial success, 1 after a
    # success, 2**(failures - 1) after a failure, where failures counts
    # this one too.
    "  CASE WHEN ? THEN 0 WHEN ? THEN 1 ELSE power(2, (SELECT count(*)"
    "   FROM codeimportresult r WHERE r.code_import = j.code_import"
    "   AND r.id > COALESCE((SELECT max(s.id) FROM codeimportresult s"
    "    WHERE s.code_import = j.code_import"
    f"    AND s.status IN ({_SUCCESSES})), 0))) END AS factor),"
    " result AS ("
    "  INSERT INTO codeimportresult (code_import, machine,"
    "  requesting_user, log_excerpt, log_file, status, date_job_started,"
    "  date_created)"
    "  SELECT code_import, machine, requesting_user, logtail, ?, ?,"
    "  date_started, CURRENT_TIMESTAMP FROM job"
    f"  RETURNING {_RESULT_COLUMNS}),"
    " next_job AS ("
    "  INSERT INTO codeimportjob (code_import, date_due, state)"
    "  SELECT code_import, GREATEST(CURRENT_TIMESTAMP, date_started"
    "  + make_interval(secs => (base * factor)::float8)), "
    f"  {_PENDING} FROM job),"
    " import_row AS ("
    "  UPDATE codeimport SET date_last_successful = CURRENT_TIMESTAMP"
    "  FROM job WHERE ? AND codeimport.id = job.code_import),"
    " mirror AS ("
    "  UPDATE branch SET next_mirror_time = CURRENT_TIMESTAMP"
    "  FROM job WHERE ? AND branch.id = job.branch"
    "  AND (branch.next_mirror_time IS NULL"
    "   OR branch.next_mirror_time > CURRENT_TIMESTAMP)),"
    " event AS ("
    "  INSERT INTO codeimportevent"
    "  (entry_type, code_import, machine, date_created)"
    f"  SELECT {_FINISH_EVENT}, code_import, machine, CURRENT_TIMESTAMP"
    "  FROM job)"
    " SELECT job.code_import, job.branch,"
    f" {column_list(CodeImportResult, 'result')} FROM job, result"
)


def finish_statement(settings, job_id, status, log_file_id):
    """The fast finish as ``(statement, parameters)``."""
    is_success = status in _Status.successes
    return _FINISH, (
        job_id, job_id,
        status != _Status.SUCCESS,
        is_success, settings.consecutive_failure_limit,
        settings.default_interval_cvs, settings.default_interval_subversion,
        settings.default_interval_git, settings.default_interval_bzr,
        status == _Status.SUCCESS_PARTIAL, is_success,
        log_file_id, status.value,
        status in (_Status.SUCCESS, _Status.SUCCESS_NOCHANGE),
        status == _Status.SUCCESS,
    )


def finish_fast(store, settings, job_id, status, log_file_id):
    """Finish RUNNING job `job_id` in one statement, if the fast path
    applies (see the module docstring).

    :return: None when it does not (nothing was written); else
        ``(code_import_id, branch_id, result)``, `result` being the new
        `CodeImportResult`, built from the statement's own answer.
    """
    result = store.execute(
        *finish_statement(settings, job_id, status, log_file_id))
    row = result.get_one()
    if row is None:
        return None
    code_import_id, branch_id = row[0], row[1]
    # The result object comes from the row the INSERT returned, sparing
    # a query to read it back.
    loaded = load_row(store, CodeImportResult, result,
                      column_names(result)[2:], row[2:])
    return code_import_id, branch_id, loaded
