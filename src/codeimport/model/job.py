"""Code import jobs and the scheduler's view of them."""

from __future__ import annotations

from storm.locals import Int
from storm.locals import Reference
from storm.locals import Storm
from storm.locals import Unicode
from storm.store import Store
from zope.interface import implementer

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.interfaces.job import ICodeImportJob
from codeimport.interfaces.job import ICodeImportJobSet
from codeimport.model.columns import DBEnum
from codeimport.model.columns import UTCDateTime
from codeimport.model.machine import CodeImportMachine
from codeimport.model.rows import invalidate_cached
from codeimport.model.context import StoreUtility
from codeimport.model.context import context_of
from codeimport.prepared import prepared

__all__ = ["CodeImportJob", "CodeImportJobSet", "poll_statement",
           "stale_job_condition"]

# Whether any job is stale is asked as "is the oldest heartbeat too
# old": min() over the partial heartbeat index reads one index entry
# whatever the threshold, whereas an EXISTS over "heartbeat < threshold"
# leaves a prepared statement's generic plan, made without the
# threshold's value, free to guess that many rows match and scan the
# table.  For the same reason the enumeration values are written into
# the statement, not passed.
_TOUCH_ONLINE_MACHINE = prepared(
    "UPDATE codeimportmachine SET heartbeat = CURRENT_TIMESTAMP"
    f" WHERE hostname = ? AND state = {CodeImportMachineState.ONLINE.value}"
    " RETURNING id, COALESCE((SELECT min(heartbeat) FROM codeimportjob"
    f"  WHERE state = {CodeImportJobState.RUNNING.value})"
    "  < CURRENT_TIMESTAMP - ? * interval '1 second', false)"
)


def stale_job_condition(table="codeimportjob"):
    """The SQL condition for a RUNNING job of `table` whose heartbeat is
    older than the one parameter it takes: the maximum heartbeat
    interval, in seconds."""
    return (f"{table}.state = {CodeImportJobState.RUNNING.value}"
            f" AND {table}.heartbeat"
            " < CURRENT_TIMESTAMP - ? * interval '1 second'")


def poll_statement(hostname, maximum_heartbeat_interval):
    """The statement with which an ONLINE machine polls (it touches the
    machine's heartbeat and asks whether any job is stale), as
    ``(statement, parameters)``."""
    return _TOUCH_ONLINE_MACHINE, (hostname, maximum_heartbeat_interval)


_RCS_ARGUMENT = {
    RevisionControlSystems.BZR_SVN: "bzr-svn",
    RevisionControlSystems.CVS: "cvs",
    RevisionControlSystems.GIT: "git",
    RevisionControlSystems.BZR: "bzr",
}


@implementer(ICodeImportJob)
class CodeImportJob(Storm):
    """See `ICodeImportJob`."""

    __storm_table__ = "codeimportjob"
    id = Int(primary=True)
    date_created = UTCDateTime()
    code_import_id = Int(name="code_import")
    code_import = Reference(code_import_id, "CodeImport.id")
    machine_id = Int(name="machine")
    machine = Reference(machine_id, "CodeImportMachine.id")
    date_due = UTCDateTime()
    state = DBEnum(enum=CodeImportJobState,
                   default=CodeImportJobState.PENDING)
    requesting_user_id = Int(name="requesting_user")
    requesting_user = Reference(requesting_user_id, "Person.id")
    ordering = Int()
    heartbeat = UTCDateTime()
    logtail = Unicode()
    date_started = UTCDateTime()

    def __init__(self, code_import, date_due):
        self.code_import = code_import
        self.date_due = date_due
        self.state = CodeImportJobState.PENDING

    def __repr__(self):
        return f"<CodeImportJob {self.id} {self.state.name}>"

    def isOverdue(self):
        """See `ICodeImportJob`.

        Compared in the database, against the transaction's time.
        """
        store = Store.of(self)
        store.flush()
        return store.execute(
            "SELECT date_due <= CURRENT_TIMESTAMP FROM codeimportjob"
            " WHERE id = ?", (self.id,)
        ).get_one()[0]

    def makeWorkerArguments(self):
        """See `ICodeImportJob`."""
        code_import = self.code_import
        settings = context_of(self).settings
        rcs = _RCS_ARGUMENT.get(code_import.rcs_type)
        if rcs is None:
            raise CodeImportValidationError(
                f"Unknown rcs_type {code_import.rcs_type!r}."
            )
        branch = code_import.branch
        if code_import.target_rcs_type == TargetRevisionControlSystems.GIT:
            target, target_id = "git", branch.unique_name
        else:
            target, target_id = "bzr", str(branch.id)
        arguments = [target_id, rcs, target]
        if rcs == "cvs":
            arguments += [code_import.cvs_root, "--cvs-module",
                          code_import.cvs_module]
        else:
            arguments.append(code_import.url)
        if rcs == target:
            arguments += ["--exclude-host", settings.mainsite_hostname]
        for hostname in settings.blacklisted_hostnames:
            arguments += ["--exclude-host", hostname]
        return arguments


@implementer(ICodeImportJobSet)
class CodeImportJobSet(StoreUtility):
    """See `ICodeImportJobSet`."""

    def __init__(self, get_store, settings, workflow, machines):
        super().__init__(get_store, settings)
        self._workflow = workflow
        self._machines = machines

    def getById(self, job_id):
        """See `ICodeImportJobSet`."""
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            return None
        return self._store.get(CodeImportJob, job_id)

    def getReclaimableJobs(self):
        """See `ICodeImportJobSet`."""
        store = self._store
        ids = [row[0] for row in store.execute(
            f"SELECT id FROM codeimportjob WHERE {stale_job_condition()}"
            " ORDER BY id",
            (self._settings.maximum_heartbeat_interval,),
        )]
        return [store.get(CodeImportJob, job_id) for job_id in ids]

    def getJobsInState(self, state):
        """See `ICodeImportJobSet`."""
        return list(self._store.find(CodeImportJob, state=state).order_by(
            CodeImportJob.id))

    def getJobForMachine(self, hostname, worker_limit):
        """See `ICodeImportJobSet`."""
        if not isinstance(hostname, str) or not hostname.strip():
            raise CodeImportValidationError(
                f"Invalid machine host name: {hostname!r}")
        if not isinstance(worker_limit, int) or worker_limit < 0:
            raise CodeImportValidationError(
                f"worker_limit must be a non-negative int: {worker_limit!r}")
        job = self._claimForOnline(hostname, worker_limit)
        if job is not False:
            return job
        self._workflow.reclaimStaleJobs()
        machine = self._machines.getByHostname(hostname)
        if machine is None:
            machine, _ = self._machines.getOrCreateOnline(hostname)
        # Unlike the original, a machine seen for the first time is also
        # held to its worker limit and gets a heartbeat (decision D10).
        if not machine.shouldLookForJob(worker_limit):
            return None
        return self._workflow.claimNextJob(machine)

    def _claimForOnline(self, hostname, worker_limit):
        """`getJobForMachine`'s common case, an ONLINE machine, in two
        statements; return the claimed job, None, or False when the
        machine is missing or not ONLINE (the caller then takes the full
        path, which creates a machine or retires a QUIESCING one).

        The first statement touches the heartbeat and so locks the
        machine's row (callers for one machine take turns, as in
        `shouldLookForJob`), and looks along the heartbeat index for a
        stale job.  Only when there is one does the reclaim's locking
        query run; reclaiming after the machine's lock rather than
        before changes nothing the caller sees, as no reclaim step
        touches machine rows.  The worker limit is checked inside the
        claim, after the lock.
        """
        store = self._store
        row = store.execute(
            *poll_statement(hostname,
                            self._settings.maximum_heartbeat_interval),
        ).get_one()
        if row is None:
            return False
        machine_id, stale = row
        invalidate_cached(store, CodeImportMachine, machine_id)
        if stale:
            self._workflow.reclaimStaleJobs()
        return self._workflow.claimNextJob(machine_id, worker_limit)
