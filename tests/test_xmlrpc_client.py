"""The clients turn every fault that stands for a domain error into it."""

from __future__ import annotations

import threading
import xmlrpc.client
import xmlrpc.server

import pytest

from codeimport import errors
from codeimport.enums import BranchType
from codeimport.wire import faults
from codeimport.wire.client import BranchStatusClient
from codeimport.wire.client import RemoteFault
from codeimport.wire.client import SchedulerClient
from codeimport.wire.client import UnknownRemoteMethod
from codeimport.wire.remote import fault_errors
from codeimport.wire.remote import remote_error_class


@pytest.fixture
def server(codeimport_xmlrpc_server):
    return codeimport_xmlrpc_server


@pytest.fixture
def scheduler(server):
    return SchedulerClient(server.scheduler_url, timeout=10)


@pytest.fixture
def authserver(server):
    return BranchStatusClient(server.authserver_url, timeout=10)


def pending_job_id(codeimport):
    job_id = codeimport.factory.makeCodeImport().import_job.id
    codeimport.commit()
    return job_id


def branch_id(codeimport, branch_type):
    branch = codeimport.factory.makeBranch(branch_type=branch_type)
    codeimport.commit()
    return branch.id


# The fault table, both ways

def test_fault_errors_reads_the_table_from_code_to_error():
    mapping = fault_errors()
    assert mapping.items() >= {
        270: errors.NoSuchBranch,
        360: errors.NoSuchCodeImportJob,
        901: errors.UnknownResultStatus,
        902: errors.InvalidJobState,
        903: errors.UnknownBranchType,
        906: errors.BranchTypeError,
        907: errors.NoSuchCodeImportMachine,
        908: errors.UnknownOfflineReason,
        909: errors.InvalidMachineState,
    }.items()
    # Two unrelated errors share 904: the client cannot tell which.
    assert 904 not in mapping


DOMAIN_ERRORS = [error for fault_class in faults.FAULT_CLASSES.values()
                 for error in fault_class.domain_errors]


@pytest.mark.parametrize("error_class", DOMAIN_ERRORS,
                         ids=lambda error_class: error_class.__name__)
def test_every_row_is_understood_both_ways(error_class):
    # Each row's fault maps back to its error or to a base of it, unless
    # an unrelated error shares the code.
    code = next(code for code, fault_class in faults.FAULT_CLASSES.items()
                if error_class in fault_class.domain_errors)
    mapped = faults.error_for(code)
    if mapped is None:
        sharing = faults.FAULT_CLASSES[code].domain_errors
        assert not any(all(issubclass(other, base) for other in sharing)
                       for base in sharing)
    else:
        assert issubclass(error_class, mapped)


def test_fault_for_follows_the_error_mro_and_fills_the_template():
    fault = faults.fault_for(errors.NoSuchCodeImportJob(7))
    assert (fault.faultCode, fault.faultString) == (360, "Job 7 not found.")
    fault = faults.fault_for(errors.InvalidJobState("Job 5 is PENDING."))
    assert (fault.faultCode, fault.faultString) == (902, "Job 5 is PENDING.")
    assert faults.fault_for(errors.CodeImportError("a bug")) is None


def test_a_shared_code_maps_to_the_common_base(monkeypatch):
    monkeypatch.setattr(
        faults.InvalidJobStateFault, "domain_errors",
        (errors.InvalidJobState, errors.CodeImportAlreadyRunning))
    assert fault_errors()[902] is errors.InvalidJobState
    assert faults.error_for(12345) is None


def test_remote_error_class_is_both_fault_and_domain_error():
    error_class = remote_error_class(errors.InvalidJobState)
    assert error_class is remote_error_class(errors.InvalidJobState)
    assert error_class.__name__ == "RemoteInvalidJobState"
    error = error_class("updateHeartbeat", 902, "Job 5 is PENDING.")
    assert isinstance(error, RemoteFault)
    assert isinstance(error, errors.InvalidJobState)
    assert isinstance(error, ValueError)
    assert str(error) == "updateHeartbeat: fault 902: Job 5 is PENDING."
    assert (error.method, error.fault_code, error.fault_string) == (
        "updateHeartbeat", 902, "Job 5 is PENDING.")


# Every mapped code, whatever the server: a plain XML-RPC server that
# answers getJobForMachine("fault", code) with fault `code`.

@pytest.fixture(scope="module")
def faulting_url():
    def getJobForMachine(hostname, code):
        raise xmlrpc.client.Fault(code, f"fault {code} for {hostname}")

    httpd = xmlrpc.server.SimpleXMLRPCServer(
        ("127.0.0.1", 0), logRequests=False)
    httpd.register_function(getJobForMachine)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/RPC2"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.mark.parametrize("code", sorted(fault_errors()))
def test_every_mapped_code_raises_its_domain_error(faulting_url, code):
    error_class = fault_errors()[code]
    with pytest.raises(error_class) as info:
        SchedulerClient(faulting_url).getJobForMachine("host", code)
    assert isinstance(info.value, RemoteFault)
    assert info.value.fault_code == code
    assert info.value.fault_string == f"fault {code} for host"


@pytest.mark.parametrize("code", [904, 910, 999, 12345])
def test_codes_without_a_domain_error_raise_RemoteFault(faulting_url, code):
    with pytest.raises(RemoteFault) as info:
        SchedulerClient(faulting_url).getJobForMachine("host", code)
    assert type(info.value) is RemoteFault
    assert info.value.fault_code == code


def test_fault_905_raises_UnknownRemoteMethod(faulting_url):
    with pytest.raises(UnknownRemoteMethod):
        SchedulerClient(faulting_url).getJobForMachine("host", 905)


# The real service

@pytest.mark.parametrize("method, extra", [
    ("getImportDataForJobID", ()),
    ("updateHeartbeat", ("tail",)),
    ("finishJobID", ("SUCCESS", "")),
])
def test_fault_360_raises_NoSuchCodeImportJob(scheduler, method, extra):
    with pytest.raises(errors.NoSuchCodeImportJob) as info:
        getattr(scheduler, method)(4242, *extra)
    assert info.value.job_id == 4242
    assert str(info.value) == "Job 4242 not found."


@pytest.mark.parametrize("method, extra", [
    ("startMirroring", ()),
    ("mirrorComplete", ("rev-1",)),
    ("mirrorFailed", ("reason",)),
    ("requestMirror", ()),
])
def test_fault_270_raises_NoSuchBranch(authserver, method, extra):
    with pytest.raises(errors.NoSuchBranch) as info:
        getattr(authserver, method)(-1, *extra)
    assert info.value.branch_id == -1
    assert str(info.value) == "No branch with ID -1"


def test_fault_901_raises_UnknownResultStatus(codeimport, scheduler):
    job_id = pending_job_id(codeimport)
    with pytest.raises(errors.UnknownResultStatus) as info:
        scheduler.finishJobID(job_id, "BOGUS", "")
    assert info.value.fault_code == 901
    assert "'BOGUS'" in str(info.value)


def test_fault_902_raises_InvalidJobState(codeimport, scheduler):
    job_id = pending_job_id(codeimport)
    with pytest.raises(errors.InvalidJobState) as info:
        scheduler.updateHeartbeat(job_id, "tail")
    assert info.value.fault_code == 902
    assert info.value.method == "updateHeartbeat"


def test_fault_902_from_the_authserver(codeimport, authserver):
    branch = branch_id(codeimport, BranchType.MIRRORED)
    with pytest.raises(errors.InvalidJobState) as info:
        authserver.mirrorComplete(branch, "rev-1")
    assert info.value.fault_code == 902


def test_fault_903_raises_UnknownBranchType(authserver):
    with pytest.raises(errors.UnknownBranchType) as info:
        authserver.acquireBranchToPull(["SHINY"])
    assert str(info.value) == (
        "acquireBranchToPull: fault 903: Unknown branch type: 'SHINY'")


@pytest.mark.parametrize("method, extra", [
    ("startMirroring", ()),
    ("mirrorFailed", ("reason",)),
    ("requestMirror", ()),
])
def test_fault_906_raises_BranchTypeError(codeimport, authserver, method,
                                          extra):
    branch = branch_id(codeimport, BranchType.HOSTED)
    with pytest.raises(errors.BranchTypeError) as info:
        getattr(authserver, method)(branch, *extra)
    assert info.value.fault_code == 906


def test_fault_906_from_acquireBranchToPull(authserver):
    with pytest.raises(errors.BranchTypeError):
        authserver.acquireBranchToPull(["REMOTE"])


def test_fault_904_without_a_domain_error_stays_RemoteFault(scheduler):
    with pytest.raises(RemoteFault) as info:
        scheduler.getJobForMachine("", 1)
    assert type(info.value) is RemoteFault
    assert info.value.fault_code == 904


@pytest.mark.parametrize("call, code, error_class", [
    (lambda client: client.setMachineOffline("nobody", "STOPPED"), 907,
     errors.NoSuchCodeImportMachine),
    (lambda client: client.setMachineQuiescing("nobody"), 907,
     errors.NoSuchCodeImportMachine),
    (lambda client: client.setMachineOffline("nobody", "BORED"), 908,
     errors.UnknownOfflineReason),
])
def test_machine_faults_raise_their_domain_errors(scheduler, call, code,
                                                  error_class):
    with pytest.raises(error_class) as info:
        call(scheduler)
    assert isinstance(info.value, RemoteFault)
    assert info.value.fault_code == code
