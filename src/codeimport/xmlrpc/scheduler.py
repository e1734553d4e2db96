"""`CodeImportSchedulerAPI`: the code import scheduler's XML-RPC methods.

The class decodes arguments, calls the unproxied utilities and turns
domain errors into faults with `translate_errors`, which reads the
wire's one fault table (`codeimport.wire.faults`; the branch status API
uses it too).  It knows nothing of
HTTP or transactions: `codeimport.xmlrpc.app` serves it, and any other
XML-RPC server may mount it, provided it commits after a call returns
and rolls back after a fault.
"""

from __future__ import annotations

import contextlib
import xmlrpc.client

from storm.store import Store
from zope.interface import implementer

from codeimport import errors
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.joblog import truncate_log
from codeimport.model.sourcecredential import credentials_for
from codeimport.sourcecredentials import to_wire
from codeimport.wire import faults
from codeimport.wire.interfaces import ICodeImportScheduler
from codeimport.xmlrpc import arguments

__all__ = [
    "CodeImportSchedulerAPI",
    "log_file_name",
    "target_url",
    "translate_errors",
]


@contextlib.contextmanager
def translate_errors():
    """Re-raise a domain error as the fault the wire's table gives it
    (`codeimport.wire.faults.fault_for`); any other error is a bug."""
    try:
        yield
    except errors.CodeImportError as error:
        fault = faults.fault_for(error)
        if fault is not None:
            raise fault from error
        raise


def log_file_name(branch) -> str:
    """``~vcs-imports/gnome-terminal/import`` ->
    ``vcs-imports-gnome-terminal-import.log``."""
    return branch.unique_name.lstrip("~").replace("/", "-") + ".log"


def target_url(settings, branch) -> str:
    """The web page of the import's target branch."""
    return f"https://{settings.mainsite_hostname}/{branch.unique_name}"


def _idempotently(transition, machine, wanted) -> None:
    """Run `transition` unless `machine` is already in state `wanted`.

    The machine methods lock the row and refuse a transition to the state
    a machine is in; when a concurrent call got there first, that refusal
    means the work is done.
    """
    if machine.state == wanted:
        return
    try:
        transition()
    except errors.InvalidMachineState:
        # The refusal reloaded the machine's committed state.
        if machine.state != wanted:
            raise


def _result_arguments(status_name, log_file, target_changed):
    """Decode a reported result: its status, log bytes (or None; cut to
    `codeimport.joblog.LOG_FILE_LIMIT` with `truncate_log`, as the
    monitor sends it) and whether the target changed (None when not
    said)."""
    status = arguments.enum_item(status_name, "status_name",
                                 CodeImportResultStatus,
                                 faults.UnknownStatusName)
    data = arguments.log_file(log_file, "log_file")
    if data:
        data = truncate_log(data)
    if target_changed is not None:
        target_changed = arguments.boolean(target_changed, "target_changed")
    return status, data, target_changed


@implementer(ICodeImportScheduler)
class CodeImportSchedulerAPI:
    """See `ICodeImportScheduler`.

    :param utilities: the unproxied `codeimport.registration.Utilities`.
    """

    def __init__(self, utilities) -> None:
        self._utilities = utilities

    def _getJob(self, job_id: int):
        """The job, or fault 360: what a missing job is, is the queue's
        (`CodeImportJobQueue.get`), and its fault comes from the table."""
        job_id = arguments.integer(job_id, "job_id")
        with translate_errors():
            return self._utilities.queue.get(job_id)

    @contextlib.contextmanager
    def _missingJobFirst(self, job_id: int):
        """Decode the other arguments of a call on job `job_id`.

        The queue refuses a missing job before anything else
        (`Refusal.MISSING` comes first); a bad argument is the API's own
        refusal, so it is put behind that one here, as when every call
        looked the job up first.  Only a refused call pays the lookup.
        """
        try:
            yield
        except faults.CodeImportFault:
            self._getJob(job_id)
            raise

    def getJobForMachine(self, hostname: str, worker_limit: int) -> int:
        """See `ICodeImportScheduler`."""
        hostname = arguments.hostname(hostname)
        worker_limit = arguments.integer(worker_limit, "worker_limit")
        with translate_errors():
            job = self._utilities.jobs.getJobForMachine(hostname,
                                                        worker_limit)
        return 0 if job is None else job.id

    def getImportDataForJobID(self, job_id: int) -> dict:
        """See `ICodeImportScheduler`."""
        job = self._getJob(job_id)
        settings = self._utilities.settings
        branch = job.code_import.branch
        with translate_errors():
            worker_arguments = job.makeWorkerArguments()
        data = {
            "arguments": worker_arguments,
            "target_url": target_url(settings, branch),
            "log_file_name": log_file_name(branch),
            "blacklisted_hostnames": list(settings.blacklisted_hostnames),
        }
        # Only for a job a machine is running: a pending job's
        # credentials are nobody's business yet.
        if job.state == CodeImportJobState.RUNNING:
            credentials = credentials_for(Store.of(job), job.code_import_id)
            if credentials is not None:
                data["source_credentials"] = to_wire(credentials)
        return data

    def updateHeartbeat(self, job_id: int, log_tail: str) -> int:
        """See `ICodeImportScheduler`.

        The queue keeps only the tail's last lines
        (`codeimport.joblog.cap_tail`).
        """
        job_id = arguments.integer(job_id, "job_id")
        with self._missingJobFirst(job_id):
            log_tail = arguments.text(log_tail, "log_tail")
        with translate_errors():
            # By id: the queue loads the job only if it must explain a
            # refusal.
            self._utilities.queue.heartbeat(job_id, log_tail)
        return 0

    def finishJobID(self, job_id: int, status_name: str,
                    log_file: xmlrpc.client.Binary | str,
                    target_changed: bool | None = None) -> int:
        """See `ICodeImportScheduler`.

        The log is stored in the same transaction as the result, so a
        refused call stores nothing.
        """
        job_id = arguments.integer(job_id, "job_id")
        with self._missingJobFirst(job_id):
            status, data, target_changed = _result_arguments(
                status_name, log_file, target_changed)
        with translate_errors():
            alias = None
            if data:
                job = self._getJob(job_id)
                alias = self._utilities.files.create(
                    log_file_name(job.code_import.branch), data)
            # By id, as for updateHeartbeat.
            self._utilities.workflow.finishJobById(job_id, status, alias,
                                                   target_changed)
        return 0

    def recordLateResult(self, job_id: int, status_name: str,
                         log_file: xmlrpc.client.Binary | str,
                         target_changed: bool | None = None) -> int:
        """See `ICodeImportScheduler`."""
        job_id = arguments.integer(job_id, "job_id")
        status, data, target_changed = _result_arguments(
            status_name, log_file, target_changed)
        workflow = self._utilities.workflow
        with translate_errors():
            code_import = workflow.late.reclaimedImport(job_id)
            alias = None
            if data:
                alias = self._utilities.files.create(
                    log_file_name(code_import.branch), data)
            recorded = workflow.recordLateResult(job_id, status, alias,
                                                 target_changed)
        return 1 if recorded else 0

    def reclaimJobID(self, job_id: int) -> int:
        """See `ICodeImportScheduler`."""
        job = self._getJob(job_id)
        with translate_errors():
            self._utilities.workflow.reclaimJob(job)
        return 0

    def _getMachine(self, hostname: str):
        hostname = arguments.hostname(hostname)
        machine = self._utilities.machines.getByHostname(hostname)
        if machine is None:
            raise faults.NoSuchMachine(hostname=hostname)
        return machine

    def setMachineOnline(self, hostname: str) -> int:
        """See `ICodeImportScheduler`."""
        hostname = arguments.hostname(hostname)
        machines = self._utilities.machines
        with translate_errors():
            machine, created = machines.getOrCreateOnline(hostname)
            if not created:
                _idempotently(machine.setOnline, machine,
                              CodeImportMachineState.ONLINE)
        return 0

    def setMachineOffline(self, hostname: str, reason_name: str) -> int:
        """See `ICodeImportScheduler`."""
        reason = arguments.enum_item(reason_name, "reason_name",
                                     CodeImportMachineOfflineReason,
                                     faults.UnknownOfflineReason)
        machine = self._getMachine(hostname)
        with translate_errors():
            _idempotently(lambda: machine.setOffline(reason), machine,
                          CodeImportMachineState.OFFLINE)
        return 0

    def setMachineQuiescing(self, hostname: str) -> int:
        """See `ICodeImportScheduler`.

        The QUIESCE event names no person: the machine asked for itself.
        """
        machine = self._getMachine(hostname)
        with translate_errors():
            _idempotently(machine.setQuiescing, machine,
                          CodeImportMachineState.QUIESCING)
        return 0

    def getMachineState(self, hostname: str) -> str:
        """See `ICodeImportScheduler`."""
        hostname = arguments.hostname(hostname)
        machine = self._utilities.machines.getByHostname(hostname)
        return "" if machine is None else machine.state.name

    def getMachineOfflineReason(self, hostname: str) -> str:
        """See `ICodeImportScheduler`."""
        hostname = arguments.hostname(hostname)
        machine = self._utilities.machines.getByHostname(hostname)
        reason = None if machine is None else machine.offline_reason
        return "" if reason is None else reason.name
