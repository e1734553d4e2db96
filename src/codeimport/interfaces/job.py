"""Code import jobs: pending and running updates of an import."""

from __future__ import annotations

from zope.interface import Attribute
from zope.interface import Interface
from zope.schema import Choice
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import Text

from codeimport.enums import CodeImportJobState

__all__ = [
    "ICodeImportJob",
    "ICodeImportJobSet",
    "ICodeImportJobSetScheduler",
    "ICodeImportJobSetView",
    "ICodeImportJobWorkflow",
    "ICodeImportJobWorkflowEdit",
    "ICodeImportJobWorkflowRequest",
    "ICodeImportJobWorkflowScheduler",
]


class ICodeImportJob(Interface):
    """A pending or running update of one code import.

    Every field is read-only: only `ICodeImportJobWorkflow` changes a job,
    so that each change leaves its mark in the audit trail.
    """

    id = Int(title="ID", readonly=True, required=True)
    date_created = Datetime(title="Date created", readonly=True, required=True)
    code_import = Attribute("The `ICodeImport` this job updates.")
    machine = Attribute("The `ICodeImportMachine` running it, or None.")
    date_due = Datetime(
        title="Due", readonly=True, required=True,
        description="The job runs once this moment has passed.",
    )
    state = Choice(
        title="State", vocabulary=CodeImportJobState, readonly=True,
        required=True, description="The current state of the job.",
    )
    requesting_user = Attribute(
        "The `IPerson` who asked for the run, if anybody did."
    )
    ordering = Int(
        title="Ordering", readonly=True, required=False,
        description="Unused; kept for compatibility.",
    )
    heartbeat = Datetime(
        title="Heartbeat", readonly=True, required=False,
        description="When the running job last said it was alive.",
    )
    logtail = Text(
        title="Log tail", readonly=True, required=False,
        description="The last few lines of output of the running job.",
    )
    date_started = Datetime(
        title="Started", readonly=True, required=False,
        description="When the job started running.",
    )

    def isOverdue():
        """Return whether `date_due` is at or before the transaction time."""

    def makeWorkerArguments():
        """Return the import worker's argument list (list of str).

        ``[target_id, rcs, target_rcs, url-or-cvsroot, options...]``;
        target_id is the branch id for a Bazaar target and its unique
        name for a Git target.  Options are ``--cvs-module M`` for CVS,
        ``--exclude-host <our host>`` for same-VCS imports, then one
        ``--exclude-host`` per blacklisted host name, in order, then
        ``--revision-limit N`` when the settings limit the kind's runs
        (`Settings.revisionLimit`: Subversion 500 by default).  rcs is
        ``git``, ``bzr-svn``, ``hg``, ``bzr`` or ``cvs``.
        """


class ICodeImportJobSetView(Interface):
    """Find jobs."""

    def getById(job_id):
        """Return the job with this id, or None."""

    def getReclaimableJobs():
        """Return RUNNING jobs whose heartbeat is older than the maximum
        heartbeat interval (300 seconds unless configured), counted from
        the end of the scheduler service's last outage, if later; none
        while the service is away (`codeimport.model.rules.silent`)."""

    def getJobsInState(state):
        """Return every job in `state` (a `CodeImportJobState`), by id."""


class ICodeImportJobSetScheduler(Interface):
    """Hand out work to machines."""

    def getJobForMachine(hostname, worker_limit):
        """Start and return the job `hostname` should run next, or None.

        Stale jobs are reclaimed first.  An unknown host name is
        registered ONLINE.  The machine must want work
        (`ICodeImportMachine.shouldLookForJob`).  Among PENDING jobs due
        now, requested jobs come first, then the oldest due date, then
        the lowest id.  Concurrent callers never receive the same job and
        never wait for each other's locks.
        """


class ICodeImportJobSet(ICodeImportJobSetView, ICodeImportJobSetScheduler):
    """The set of pending and running jobs."""


class ICodeImportJobWorkflowEdit(Interface):
    """Job changes that import operators may make."""

    def newJob(code_import, interval=None):
        """Create the PENDING job of a REVIEWED import and return it.

        :param interval: time after the start of the last run; defaults
            to ``code_import.effective_update_interval``.
        :raises InvalidReviewStatus: "Review status of <u> is not
            REVIEWED: <STATUS>".
        :raises InvalidJobState: "Already associated to a CodeImportJob:
            <u>".
        :postcondition: ``date_due`` is max(now, last start + interval),
            or now for an import that never ran.
        """

    def deletePendingJob(code_import):
        """Delete the PENDING job of an import that is no longer REVIEWED.

        :raises InvalidReviewStatus: if the import is REVIEWED.
        :raises InvalidJobState: if there is no job, or it is not PENDING.
        :postcondition: ``code_import.import_job`` is None; no event.
        """

    def updateHeartbeat(import_job, logtail):
        """Record that a RUNNING job is alive, with its latest output.

        :raises InvalidJobState: unless the job is RUNNING.
        :raises NoSuchCodeImportJob: if there is no such job.
        :postcondition: heartbeat is now and logtail replaced; no event.
        """

    def finishJob(import_job, status, logfile_alias):
        """Record the outcome of a RUNNING job.

        Writes a result, deletes the job, then schedules the next run:
        after the effective interval on success, right away on partial
        success, after interval * 2**(failures - 1) on failure; at the
        consecutive failure limit the import becomes FAILING instead.

        :param status: a `CodeImportResultStatus`.
        :param logfile_alias: an `ILibraryFileAlias` or None.
        :raises InvalidJobState: unless the job is RUNNING.
        :raises NoSuchCodeImportJob: if there is no such job, or another
            caller finished or reclaimed it first.
        :postcondition: a result, maybe a MODIFY, then a FINISH event.
        """


class ICodeImportJobWorkflowRequest(Interface):
    """Job changes any logged-in person may make."""

    def requestJob(import_job, user):
        """Ask for a PENDING job to run as soon as possible.

        :raises InvalidJobState: unless the job is PENDING.
        :raises CodeImportAlreadyRequested: if someone asked already.
        :postcondition: ``date_due`` is now or earlier; a REQUEST event.
        """


class ICodeImportJobWorkflowScheduler(Interface):
    """Job changes made by the scheduler and the watchdog."""

    def startJob(import_job, machine):
        """Record that `machine` is about to run `import_job`.

        :raises InvalidJobState: unless the job is PENDING.
        :raises InvalidMachineState: unless the machine is ONLINE.
        :postcondition: RUNNING on `machine`, started now; a START event.
        """

    def reclaimJob(import_job):
        """Give up on a RUNNING job whose machine went silent.

        Writes a RECLAIMED result and a RECLAIM event; a REVIEWED import
        gets a new job due now, unless the failure limit is reached, in
        which case it becomes FAILING.

        :raises InvalidJobState: unless the job is RUNNING.
        :raises NoSuchCodeImportJob: if another caller got there first.
        """


class ICodeImportJobWorkflow(
    ICodeImportJobWorkflowEdit,
    ICodeImportJobWorkflowRequest,
    ICodeImportJobWorkflowScheduler,
):
    """The only writer of `ICodeImportJob` objects."""
