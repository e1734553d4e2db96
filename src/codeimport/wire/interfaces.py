"""The XML-RPC contracts: the code import scheduler and branch status API.

Both are served by ``codeimport serve`` (see `codeimport.xmlrpc.app`) and
keep the original's wire method names.  Every call needs HTTP Basic
credentials (HTTP 401 without them, 403 for a credential not bound to
the endpoint); a call that fails answers an XML-RPC fault with one of the
stable codes of `codeimport.wire.faults`, and changes nothing.

The fault codes any method may answer besides those it lists:

* 904 InvalidArguments: the wrong number of arguments, or one of the
  wrong type or value;
* 905 UnknownMethod: the endpoint has no method of that name;
* 910 MalformedRequest: the body is not an XML-RPC method call;
* 911 MachineAccessDeniedFault: the credential may not act for the
  machine the call names, or for the machine running the job it names
  (`codeimport.xmlrpc.authorization`);
* 999 InternalError: a bug; the server logged it under the reference
  given in the fault string.

Each endpoint also answers ``system.listMethods()`` with its method names.
"""

from __future__ import annotations

from zope.interface import Interface

__all__ = ["IBranchStatusAPI", "ICodeImportScheduler"]


class ICodeImportScheduler(Interface):
    """What import machines ask of the scheduler (``/codeimportscheduler``).

    Import machines have no database access: they take jobs, report that
    the jobs are alive and report how they ended through these methods.
    The service runs as the ``importd`` database role.
    """

    def getJobForMachine(hostname, worker_limit):
        """Start the job `hostname` should run next and return its id.

        A host name never seen before is registered as an ONLINE machine
        first.  Stale jobs of any machine are reclaimed on the way.

        :param hostname: the machine's host name (string).
        :param worker_limit: how many jobs the machine may run at once
            (int).
        :return: the id (int) of a job now RUNNING on the machine, or 0
            when there is nothing to do, the machine is at its limit or
            it is not ONLINE.
        :postcondition: concurrent callers never receive the same job.
        """

    def getImportDataForJobID(job_id):
        """Return what a worker needs to run the job (in any state).

        :param job_id: int.
        :return: a struct with ``arguments`` (the worker's argument list,
            a list of strings, see `ICodeImportJob.makeWorkerArguments`),
            ``target_url`` (the web URL of the target branch, a string),
            ``log_file_name`` (the name the finished job's log is stored
            under, e.g. ``vcs-imports-gnome-terminal-import.log``),
            ``blacklisted_hostnames`` (a list of strings) and, only for a
            RUNNING job of a private source, ``source_credentials`` (a
            struct of ``username`` and ``password``, strings; see
            `codeimport.sourcecredentials`), which a worker must never
            put in an argument, an environment variable or a log.
            Callers that do not know the member ignore it.
        :raises Fault 360 NoSuchCodeImportJob: when no job has this id.
        """

    def updateHeartbeat(job_id, log_tail):
        """Record that the RUNNING job is alive, with its latest output.

        :param job_id: int.
        :param log_tail: the last few lines of the job's output (string);
            the service keeps its last `codeimport.joblog.LOG_TAIL_LINES`
            lines (a carriage return ends a line) and at most
            `codeimport.joblog.LOG_TAIL_CHARACTERS` characters.
        :return: 0.
        :raises Fault 360 NoSuchCodeImportJob: when no job has this id
            (it was reclaimed or finished meanwhile).
        :raises Fault 902 InvalidJobState: when the job is not RUNNING.
        """

    def finishJobID(job_id, status_name, log_file, target_changed=None):
        """Record how the RUNNING job ended, and delete it.

        :param job_id: int.
        :param status_name: the name of a `CodeImportResultStatus` item,
            e.g. ``"SUCCESS"``.
        :param log_file: the job's whole log as base64 (``Binary``), or
            ``""`` for none.  An empty log is not stored; one longer than
            `codeimport.joblog.LOG_FILE_LIMIT` bytes keeps its head and
            tail (`codeimport.joblog.truncate_log`).  A request larger
            than the service accepts is refused with HTTP 413.
        :param target_changed: optional boolean (added in issue 13):
            whether the target's published refs differ from what the
            import's last reported run left (the machine compares the
            target's ``codeimport/published.json``).  When given, it
            alone decides whether a mirror of the branch is requested;
            when left out (older machines), SUCCESS requests one.
        :return: 0.
        :raises Fault 360 NoSuchCodeImportJob: when no job has this id
            (if it was reclaimed, report with `recordLateResult`).
        :raises Fault 901 UnknownStatusName: for an unknown status name.
        :raises Fault 902 InvalidJobState: when the job is not RUNNING.
        :postcondition: the import has a new result whose ``log_file``
            holds the log under ``log_file_name``; the next job is
            scheduled as `ICodeImportJobWorkflow.finishJob` says.
        """

    def recordLateResult(job_id, status_name, log_file,
                         target_changed=None):
        """Record the result of a run whose job was reclaimed before the
        machine could report it (added in issue 13).

        The live job (the reclaim's successor) is left alone; the import
        gets a result with this status and log and a FINISH event whose
        data names the reclaimed job (``RECLAIMED_JOB_ID``) and says it
        arrived late; a success sets ``date_last_successful``, and a
        mirror is requested as for `finishJobID`.  Nothing is scheduled.

        :param job_id: int: the reclaimed job.
        :param status_name, log_file, target_changed: as `finishJobID`
            (not RECLAIMED or KILLED: fault 904).
        :return: 1 when recorded, 0 when this job's late result was
            recorded before (a repeated report).
        :raises Fault 360 NoSuchCodeImportJob: when no job of this id was
            reclaimed (it finished, so the report got through before,
            or it never existed).
        :raises Fault 902 InvalidJobState: when the job still exists:
            finish it with `finishJobID`.
        """

    def reclaimJobID(job_id):
        """Hand a RUNNING job back: it did not end, it was interrupted.

        A machine that stops (SIGTERM) before its job has ended calls
        this instead of `finishJobID`, so that the import runs again at
        once, on any machine, as after `ICodeImportJobWorkflow.reclaimJob`
        (what the watchdog does to a job whose heartbeat went stale).

        The RECLAIMED result counts as a non-success in the import's
        consecutive failure count (BEHAVIOUR.md §4.4, decision D15): the
        new job is due now, not backed off, but a failure that follows
        backs off one step further, and an import whose runs end
        unsuccessfully `consecutive_failure_limit` times in a row,
        reclaims included, becomes FAILING instead of getting a new job.

        :param job_id: int.
        :return: 0.
        :raises Fault 360 NoSuchCodeImportJob: when no job has this id
            (it was reclaimed or finished meanwhile).
        :raises Fault 902 InvalidJobState: when the job is not RUNNING.
        :postcondition: the import has a new RECLAIMED result (no log
            file; the log excerpt is the last heartbeat's tail) and a
            RECLAIM event; a REVIEWED import below the failure limit has
            a new job, due now.
        """

    def setMachineOnline(hostname):
        """Mark the machine ONLINE, registering it if it is unknown.

        :param hostname: string.
        :return: 0; a machine that is already ONLINE is left alone.
        """

    def setMachineOffline(hostname, reason_name):
        """Mark the machine OFFLINE.

        :param hostname: string.
        :param reason_name: the name of a
            `CodeImportMachineOfflineReason` item, e.g. ``"STOPPED"``.
        :return: 0; a machine that is already OFFLINE is left alone.
        :raises Fault 907 NoSuchMachine: for an unknown host name.
        :raises Fault 908 UnknownOfflineReason: for an unknown reason.
        """

    def setMachineQuiescing(hostname):
        """Mark the ONLINE machine QUIESCING: it takes no more jobs, and
        goes OFFLINE (QUIESCED) once its running jobs have ended.

        The QUIESCE event names no person: the machine asked for itself
        (an operator quiescing a machine uses ``codeimport machine
        quiesce --by PERSON``).

        :param hostname: string.
        :return: 0; a machine that is already QUIESCING is left alone.
        :raises Fault 907 NoSuchMachine: for an unknown host name.
        :raises Fault 909 InvalidMachineState: when the machine is
            OFFLINE.
        """

    def getMachineState(hostname):
        """Return the machine's state name (``"ONLINE"`` ...), or ``""``
        for an unknown host name.  Changes nothing.

        :param hostname: string.
        """

    def getMachineOfflineReason(hostname):
        """Return why the OFFLINE machine is offline: the
        `CodeImportMachineOfflineReason` name of its latest OFFLINE
        event (``"WATCHDOG"``, ``"STOPPED"`` ...), or ``""`` when it is
        not OFFLINE or the host name is unknown.  Changes nothing.

        A dispatcher uses it to tell an OFFLINE it should undo (the
        watchdog's, after a pause in its polling) from one it should
        obey (an operator's, or a finished quiesce).

        :param hostname: string.
        """


class IBranchStatusAPI(Interface):
    """What the branch puller reports about mirrors (``/authserver``).

    The puller has no database access either.  The service runs as the
    ``branchpuller`` database role.  Every method that takes a branch id
    answers fault 270 NoBranchWithID for an unknown one, and fault 906
    BranchTypeError for a HOSTED or REMOTE branch, which is never
    mirrored.
    """

    def startMirroring(branch_id):
        """Record that a mirror of the branch starts now.

        :return: True.
        :postcondition: ``last_mirror_attempt`` is the transaction time
            and ``next_mirror_time`` is unset.
        """

    def mirrorComplete(branch_id, last_revision_id):
        """Record that the mirror started last succeeded.

        :param last_revision_id: the tip revision id (string).
        :return: True.
        :raises Fault 902 InvalidJobState: if mirroring never started.
        :postcondition: ``last_mirrored == last_mirror_attempt``,
            ``mirror_failures == 0``, no status message, and
            ``last_mirrored_id`` is `last_revision_id`.
        """

    def mirrorFailed(branch_id, reason):
        """Record that the mirror started last failed, and why.

        :param reason: a message for the branch's owner (string).
        :return: True.
        :postcondition: ``mirror_failures`` is one more and
            ``mirror_status_message`` is `reason`; a MIRRORED branch with
            fewer than 5 failures is due again after 6 hours times
            2 ** (failures - 1).
        """

    def recordSuccess(name, hostname, date_started, date_completed):
        """Record a successful run of the script `name` on `hostname`.

        :param date_started: an XML-RPC ``dateTime.iso8601`` (taken as
            UTC) or a UTC time tuple of 6 to 9 integers, as
            ``time.gmtime()`` gives (only the first 6 count).
        :param date_completed: likewise; not before `date_started`.
        :return: True.
        :postcondition: `IScriptActivitySet.getLastActivity` (`name`)
            returns the new record.
        """

    def acquireBranchToPull(branch_type_names):
        """Take the branch most overdue for a mirror, and start it.

        :param branch_type_names: a list of `BranchType` names
            (``"MIRRORED"``, ``"IMPORTED"``); empty means both.
        :return: ``[branch_id, pull_url, unique_name, default_stacked_on,
            branch_type_name]`` (``default_stacked_on`` is always ``""``:
            there are no stacking defaults), or ``[]`` when no branch is
            due.
        :raises Fault 903 UnknownBranchType: for an unknown name.
        :postcondition: concurrent callers never receive the same branch.
        """

    def requestMirror(branch_id):
        """Ask for the branch to be mirrored as soon as possible.

        A branch that is already due keeps its place in the queue.

        :return: True.
        """
