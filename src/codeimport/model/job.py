"""Code import jobs and the scheduler's view of them."""

from __future__ import annotations

from storm.locals import Int
from storm.locals import Reference
from storm.locals import Storm
from storm.locals import Unicode
from storm.store import Store
from zope.interface import implementer

from codeimport.enums import CodeImportJobState
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.interfaces.job import ICodeImportJob
from codeimport.interfaces.job import ICodeImportJobSet
from codeimport.model.columns import DBEnum
from codeimport.model.columns import UTCDateTime
from codeimport.model.context import StoreUtility
from codeimport.model.context import context_of
from codeimport.model.rules import positional
from codeimport.model.rules import silence_values
from codeimport.model.rules import stale_job_condition
from codeimport.validators import RCS_KINDS
from codeimport.validators import validate_hostname

__all__ = ["CodeImportJob", "CodeImportJobSet"]

_RCS_ARGUMENT = RCS_KINDS


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
        limit = settings.revisionLimit(code_import.rcs_type)
        if limit is not None:
            arguments += ["--revision-limit", str(limit)]
        return arguments


_RECLAIMABLE = positional(
    f"SELECT id FROM codeimportjob WHERE {stale_job_condition()}"
    " ORDER BY id")


@implementer(ICodeImportJobSet)
class CodeImportJobSet(StoreUtility):
    """See `ICodeImportJobSet`."""

    def __init__(self, get_store, settings, workflow, machines, queue):
        super().__init__(get_store, settings)
        self._workflow = workflow
        self._machines = machines
        self._queue = queue

    def getById(self, job_id):
        """See `ICodeImportJobSet`."""
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            return None
        return self._store.get(CodeImportJob, job_id)

    def getReclaimableJobs(self):
        """See `ICodeImportJobSet`."""
        store = self._store
        statement, layout = _RECLAIMABLE
        ids = [row[0] for row in store.execute(
            statement, layout(silence_values(self._settings)))]
        return [store.get(CodeImportJob, job_id) for job_id in ids]

    def getJobsInState(self, state):
        """See `ICodeImportJobSet`."""
        return list(self._store.find(CodeImportJob, state=state).order_by(
            CodeImportJob.id))

    def getJobForMachine(self, hostname, worker_limit):
        """See `ICodeImportJobSet`.

        The common case, an ONLINE machine, is two statements: the poll
        touches the machine's heartbeat, which locks its row (callers
        for one machine take turns), and says whether any job is stale;
        only then does the reclaim's locking query run.  The claim
        checks the worker limit, after the lock.
        """
        validate_hostname(hostname)
        if not isinstance(worker_limit, int) or worker_limit < 0:
            raise CodeImportValidationError(
                f"worker_limit must be a non-negative int: {worker_limit!r}")
        queue = self._queue
        polled = queue.poll(hostname)
        if polled is not None:
            machine_id, stale = polled
            if stale:
                self._workflow.reclaimStaleJobs()
            return queue.claim(machine_id, worker_limit)
        # A machine seen for the first time, or not ONLINE: a QUIESCING
        # one with no jobs left goes OFFLINE.
        self._workflow.reclaimStaleJobs()
        machine = self._machines.getByHostname(hostname)
        if machine is None:
            machine, _ = self._machines.getOrCreateOnline(hostname)
        # Unlike the original, a machine seen for the first time is also
        # held to its worker limit and gets a heartbeat (decision D10).
        if not machine.shouldLookForJob(worker_limit):
            return None
        return queue.claim(machine.id, worker_limit)
