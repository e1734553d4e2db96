"""Late results: a result that arrives after its job was reclaimed.

A machine that could not report for longer than the heartbeat limit
(the scheduler away, the machine's dispatcher restarted) may find its
job reclaimed when it finally reports: the job ended then, with a
RECLAIMED result and a RECLAIM event naming its id, and a new job (the
live one) may be running elsewhere.  The run's work is real all the
same, so its result is kept, without touching the live job:

* a result row with the reported status and log, the run's machine,
  requester and start (copied from the RECLAIMED result of that run,
  written in the same transaction as the RECLAIM event);
* a FINISH event naming the reclaimed job (``RECLAIMED_JOB_ID``) with a
  ``MESSAGE`` saying it arrived late, so the audit trail tells it from
  a finish of a live job, which has no data;
* ``date_last_successful`` after SUCCESS or SUCCESS_NOCHANGE, and a
  mirror request when the target changed (`rules.requests_mirror`).

It schedules nothing and applies no failure limit: the live job's own
finish does that.  Each reclaimed job gets at most one late result (a
second report of it is answered "already recorded"), and only a job
that was reclaimed gets one: a job that was finished, or never existed,
is `NoSuchCodeImportJob`, so a repeated report of a finish that did get
through records nothing.
"""

from __future__ import annotations

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportResultStatus
from codeimport.errors import InvalidJobState
from codeimport.errors import NoSuchCodeImportJob
from codeimport.model import rules
from codeimport.model._storm import invalidate_cached
from codeimport.model.branch import Branch
from codeimport.model.codeimport import CodeImport
from codeimport.model.context import StoreUtility
from codeimport.model.machine import CodeImportMachine

__all__ = ["LateResults"]

_Data = CodeImportEventDataType
_Event = CodeImportEventType
_Status = CodeImportResultStatus

# The reclaim of job $job: its import, machine and time.
_RECLAIM = rules.positional(
    "SELECT e.code_import, e.machine, e.date_created"
    " FROM codeimportevent e JOIN codeimporteventdata d ON d.event = e.id"
    f" WHERE e.entry_type = {_Event.RECLAIM.value}"
    f" AND d.data_type = {_Data.RECLAIMED_JOB_ID.value}"
    " AND d.data_value = $job::text")

# Whether job $job already has its late result.
_RECORDED = rules.positional(
    "SELECT EXISTS (SELECT 1 FROM codeimportevent e"
    " JOIN codeimporteventdata d ON d.event = e.id"
    f" WHERE e.code_import = $code_import"
    f" AND e.entry_type = {_Event.FINISH.value}"
    f" AND d.data_type = {_Data.RECLAIMED_JOB_ID.value}"
    " AND d.data_value = $job::text)")

_RECORD = rules.positional(
    "WITH reclaimed AS ("
    "  SELECT r.requesting_user, r.log_excerpt, r.date_job_started"
    "  FROM codeimportresult r WHERE r.code_import = $code_import"
    f"  AND r.status = {_Status.RECLAIMED.value}"
    "  AND r.date_created = $reclaimed_at ORDER BY r.id LIMIT 1),"
    " result AS ("
    "  INSERT INTO codeimportresult (code_import, machine,"
    "  requesting_user, log_excerpt, log_file, status, date_job_started,"
    "  date_created)"
    "  SELECT $code_import, $machine, reclaimed.requesting_user,"
    "  reclaimed.log_excerpt, $log_file, $status,"
    "  reclaimed.date_job_started, CURRENT_TIMESTAMP"
    "  FROM (SELECT 1) one LEFT JOIN reclaimed ON true),"
    " import_row AS ("
    "  UPDATE codeimport SET date_last_successful = CURRENT_TIMESTAMP"
    "  WHERE $marks_success AND id = $code_import RETURNING branch),"
    " mirror AS ("
    "  UPDATE branch SET next_mirror_time = CURRENT_TIMESTAMP"
    "  WHERE $requests_mirror AND id = (SELECT branch FROM codeimport"
    "  WHERE id = $code_import)"
    f"  AND branch_type NOT IN ({rules.NEVER_MIRRORED})"
    "  AND (next_mirror_time IS NULL"
    "   OR next_mirror_time > CURRENT_TIMESTAMP)),"
    " event AS ("
    "  INSERT INTO codeimportevent"
    "  (entry_type, code_import, machine, date_created)"
    f"  VALUES ({_Event.FINISH.value}, $code_import, $machine,"
    "  CURRENT_TIMESTAMP) RETURNING id)"
    " INSERT INTO codeimporteventdata (event, data_type, data_value)"
    f" SELECT event.id, {_Data.RECLAIMED_JOB_ID.value}, $job::text"
    f" FROM event UNION ALL SELECT event.id, {_Data.MESSAGE.value},"
    " $message FROM event")


class LateResults(StoreUtility):
    """Records late results (see the module docstring)."""

    def _run(self, statement_and_layout, values):
        statement, layout = statement_and_layout
        return self._store.execute(statement, layout(values))

    def reclaimedImport(self, job_id):
        """The `CodeImport` whose job `job_id` was reclaimed.

        :raises InvalidJobState: if the job still exists (it is not
            late: finish it).
        :raises NoSuchCodeImportJob: if no job of that id was reclaimed.
        """
        row = self._store.execute(
            "SELECT state FROM codeimportjob WHERE id = ?",
            (job_id,)).get_one()
        if row is not None:
            raise InvalidJobState(
                f"Job {job_id} has not ended: it is not late.")
        reclaim = self._run(_RECLAIM, {"job": job_id}).get_one()
        if reclaim is None:
            raise NoSuchCodeImportJob(job_id)
        return self._store.get(CodeImport, reclaim[0])

    def reclaimedOn(self, job_id):
        """Whether job `job_id` was reclaimed, and the machine it ran on
        (the scheduler's authorization asks: a machine reports only its
        own late results).

        :return: ``(False, None)`` if no job of that id was reclaimed,
            else ``(True, machine)``.
        """
        reclaim = self._run(_RECLAIM, {"job": job_id}).get_one()
        if reclaim is None:
            return False, None
        machine_id = reclaim[1]
        return True, (None if machine_id is None
                      else self._store.get(CodeImportMachine, machine_id))

    def record(self, job_id, status, log_file_id=None,
               target_changed=None):
        """Record the late result of reclaimed job `job_id`.

        :return: True if recorded, False if it already was.
        :raises InvalidJobState, NoSuchCodeImportJob: as
            `reclaimedImport`.
        """
        code_import = self.reclaimedImport(job_id)
        code_import_id = code_import.id
        # Lock the import, as every writer of its results does; then
        # look for an earlier late result, which a concurrent report of
        # the same job may just have committed.
        self._store.execute(
            "SELECT id FROM codeimport WHERE id = ? FOR NO KEY UPDATE",
            (code_import_id,))
        if self._run(_RECORDED, {"code_import": code_import_id,
                                 "job": job_id}).get_one()[0]:
            return False
        _, machine_id, reclaimed_at = self._run(
            _RECLAIM, {"job": job_id}).get_one()
        mirror = rules.requests_mirror(status, target_changed)
        message = (f"Late result {status.name} of job {job_id}, reported "
                   "after the job was reclaimed")
        if mirror:
            message += "; a mirror was requested"
        self._run(_RECORD, {
            "code_import": code_import_id, "machine": machine_id,
            "reclaimed_at": reclaimed_at, "log_file": log_file_id,
            "status": status.value, "job": job_id, "message": message,
            "marks_success": status in (_Status.SUCCESS,
                                        _Status.SUCCESS_NOCHANGE),
            "requests_mirror": mirror,
        })
        invalidate_cached(self._store, CodeImport, code_import_id)
        invalidate_cached(self._store, Branch, code_import.branch.id)
        return True
