"""The XML-RPC clients: wire calls, fault translation, credentials."""

from __future__ import annotations

import base64
import threading
import xmlrpc.client
from datetime import datetime
from datetime import timezone

import pytest

from codeimport.errors import NoSuchBranch
from codeimport.errors import NoSuchCodeImportJob
from codeimport.wire.client import BranchStatusClient
from codeimport.wire.client import RemoteFault
from codeimport.wire.client import RemoteHTTPError
from codeimport.wire.client import SchedulerClient
from codeimport.wire.client import UnknownRemoteMethod
from codeimport.wire.client import redact_url


def test_scheduler_calls_use_wire_names_and_basic_auth(scheduler):
    scheduler.fake.job_ids = [12]
    scheduler.fake.import_data[12] = {"arguments": ["a"]}
    client = SchedulerClient(scheduler.url)
    assert client.getJobForMachine("bob", 3) == 12
    assert client.getJobForMachine("bob", 3) == 0
    assert client.getImportDataForJobID(12) == {"arguments": ["a"]}
    assert client.updateHeartbeat(12, "tail") == 0
    assert client.finishJobID(12, "SUCCESS", xmlrpc.client.Binary(b"x")) == 0
    assert client.setMachineOnline("bob") == 0
    assert client.setMachineOffline("bob", "STOPPED") == 0
    assert client.setMachineQuiescing("bob") == 0
    assert client.getMachineState("bob") == "ONLINE"
    assert client.getMachineOfflineReason("bob") == ""
    assert client.reclaimJobID(12) == 0
    assert [name for name, _ in scheduler.fake.calls] == [
        "getJobForMachine", "getJobForMachine", "getImportDataForJobID",
        "updateHeartbeat", "finishJobID", "setMachineOnline",
        "setMachineOffline", "setMachineQuiescing", "getMachineState",
        "getMachineOfflineReason", "reclaimJobID"]
    expected = "Basic " + base64.b64encode(b"worker:s3cret").decode()
    assert set(scheduler.fake.auth_headers) == {expected}


@pytest.mark.parametrize(
    "method,args",
    [("getImportDataForJobID", (5,)), ("updateHeartbeat", (5, "")),
     ("finishJobID", (5, "SUCCESS", "")), ("reclaimJobID", (5,))],
)
def test_fault_360_becomes_NoSuchCodeImportJob(scheduler, method, args):
    scheduler.fake.faults[method] = 360
    with pytest.raises(NoSuchCodeImportJob) as info:
        getattr(SchedulerClient(scheduler.url), method)(*args)
    assert info.value.job_id == 5
    assert str(info.value) == "Job 5 not found."


def test_other_faults_become_RemoteFault(scheduler):
    scheduler.fake.faults["finishJobID"] = 901
    with pytest.raises(RemoteFault) as info:
        SchedulerClient(scheduler.url).finishJobID(5, "BOGUS", "")
    assert (info.value.method, info.value.fault_code) == ("finishJobID", 901)


def test_fault_905_becomes_UnknownRemoteMethod(scheduler):
    scheduler.fake.machine_methods = False
    with pytest.raises(UnknownRemoteMethod):
        SchedulerClient(scheduler.url).setMachineOnline("bob")


def test_connection_refused_is_an_OSError(free_port):
    client = SchedulerClient(f"http://127.0.0.1:{free_port}/x", timeout=5)
    with pytest.raises(OSError):
        client.getJobForMachine("bob", 1)


def test_http_error_is_RemoteHTTPError_without_password(scheduler):
    url = scheduler.url.replace("/codeimportscheduler", "/nowhere")
    with pytest.raises(RemoteHTTPError) as info:
        SchedulerClient(url).getJobForMachine("bob", 1)
    assert info.value.status == 404
    assert "s3cret" not in str(info.value)


def test_client_may_be_shared_between_threads(scheduler):
    client = SchedulerClient(scheduler.url)
    errors = []

    def beat():
        try:
            for _ in range(20):
                client.updateHeartbeat(1, "x")
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(scheduler.fake.calls_to("updateHeartbeat")) == 80


def test_non_http_url_is_refused():
    with pytest.raises(ValueError):
        SchedulerClient("ftp://example.com/")


def test_redact_url():
    assert redact_url("http://u:pw@h:8087/x") == "http://***@h:8087/x"
    assert redact_url("http://h/x") == "http://h/x"


def test_branch_status_calls(scheduler):
    fake = scheduler.fake
    fake.answers = {
        "startMirroring": True, "mirrorComplete": True, "mirrorFailed": True,
        "requestMirror": True, "recordSuccess": True,
        "acquireBranchToPull": [3, "http://x/", "~a/b/c", "", "MIRRORED"],
    }
    client = BranchStatusClient(scheduler.url)
    assert client.startMirroring(3) is True
    assert client.mirrorComplete(3, "rev-1") is True
    assert client.mirrorFailed(3, "boom") is True
    assert client.requestMirror(3) is True
    assert client.acquireBranchToPull(["MIRRORED"]) == (
        3, "http://x/", "~a/b/c", "", "MIRRORED")
    started = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    completed = datetime(2024, 5, 1, 12, 1, 30, tzinfo=timezone.utc)
    assert client.recordSuccess("branch-puller", "vostok", started,
                                completed) is True
    ((name, host, start, end),) = fake.calls_to("recordSuccess")
    assert (name, host) == ("branch-puller", "vostok")
    assert start[:6] == [2024, 5, 1, 12, 0, 0] and len(start) == 9
    assert end[:6] == [2024, 5, 1, 12, 1, 30]
    assert fake.calls_to("mirrorComplete") == [(3, "rev-1")]


def test_branch_status_empty_queue_and_missing_branch(scheduler):
    scheduler.fake.answers = {"acquireBranchToPull": []}
    scheduler.fake.faults["mirrorFailed"] = 270
    client = BranchStatusClient(scheduler.url)
    assert client.acquireBranchToPull() == ()
    assert scheduler.fake.calls_to("acquireBranchToPull") == [([],)]
    with pytest.raises(NoSuchBranch) as info:
        client.mirrorFailed(99, "gone")
    assert info.value.branch_id == 99
