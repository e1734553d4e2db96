"""Results that arrive after their job was reclaimed, and the mirror
request that follows "the target changed" (issue 13), over the real
service."""

from __future__ import annotations

import threading
import xmlrpc.client
import xmlrpc.server

import pytest

from codeimport import errors
from codeimport.enums import CodeImportEventType
from codeimport.wire.client import RemoteFault
from codeimport.wire.client import SchedulerClient
from codeimport.wire.client import UnknownRemoteMethod


@pytest.fixture
def scheduler(codeimport_xmlrpc_server):
    return SchedulerClient(codeimport_xmlrpc_server.scheduler_url,
                           timeout=10)


def running(codeimport, hostname="importer"):
    """A RUNNING job on `hostname`, committed: (job id, its import)."""
    job = codeimport.factory.makeRunningJob()
    job_id, code_import = job.id, job.code_import
    codeimport.commit()
    return job_id, code_import


def mirror_due(codeimport, code_import):
    codeimport.abort()
    return code_import.branch.next_mirror_time is not None


def statuses(codeimport, code_import):
    codeimport.abort()
    return [result.status.name for result in
            sorted(code_import.results, key=lambda result: result.id)]


LOG = xmlrpc.client.Binary(b"fetched 3 revisions\n")


# -- the mirror follows the target -------------------------------------------

@pytest.mark.parametrize("status, changed, mirrored", [
    ("SUCCESS_NOCHANGE", True, True),   # a lost SUCCESS's work published
    ("SUCCESS", False, False),          # nothing published after all
    ("SUCCESS_PARTIAL", True, True),    # a chunk published
    ("FAILURE", True, True),            # published before it failed
    ("SUCCESS", None, True),            # an older machine: by status
    ("SUCCESS_NOCHANGE", None, False),
])
def test_finishJobID_requests_a_mirror_when_the_target_changed(
        codeimport, scheduler, status, changed, mirrored):
    job_id, code_import = running(codeimport)
    scheduler.finishJobID(job_id, status, LOG, changed)
    assert mirror_due(codeimport, code_import) is mirrored
    assert statuses(codeimport, code_import) == [status]


def test_target_changed_must_be_a_boolean(codeimport,
                                          codeimport_xmlrpc_server):
    job_id, code_import = running(codeimport)
    proxy = xmlrpc.client.ServerProxy(
        codeimport_xmlrpc_server.scheduler_url)
    with pytest.raises(xmlrpc.client.Fault) as info:
        proxy.finishJobID(job_id, "SUCCESS", "", "yes")
    assert info.value.faultCode == 904
    assert "target_changed must be a boolean" in info.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as info:
        proxy.finishJobID(job_id, "SUCCESS", "", True, 5)
    assert "finishJobID takes 3 to 4 arguments" in info.value.faultString
    assert statuses(codeimport, code_import) == []


# -- late results -----------------------------------------------------------

def test_a_late_result_is_recorded_once_beside_the_live_job(
        codeimport, scheduler):
    job_id, code_import = running(codeimport)
    scheduler.reclaimJobID(job_id)  # as the watchdog would
    codeimport.abort()
    live_job_id = code_import.import_job.id
    events = codeimport.new_events()
    with pytest.raises(errors.NoSuchCodeImportJob):
        scheduler.finishJobID(job_id, "SUCCESS", LOG, True)
    assert scheduler.recordLateResult(job_id, "SUCCESS", LOG, True) is True
    assert statuses(codeimport, code_import) == ["RECLAIMED", "SUCCESS"]
    late = max(code_import.results, key=lambda result: result.id)
    assert late.log_file.read() == b"fetched 3 revisions\n"
    assert late.machine is not None
    assert late.date_job_started is not None
    assert code_import.date_last_successful is not None
    assert mirror_due(codeimport, code_import)
    # The live job is untouched: still the reclaim's successor.
    assert code_import.import_job.id == live_job_id
    assert code_import.import_job.state.name == "PENDING"
    [event] = list(events)
    assert event.event_type == CodeImportEventType.FINISH
    data = {kind.name: value for kind, value in event.items()}
    assert data["RECLAIMED_JOB_ID"] == str(job_id)
    assert data["MESSAGE"].startswith(f"Late result SUCCESS of job {job_id}")
    # A repeated report records nothing more.
    assert scheduler.recordLateResult(job_id, "SUCCESS", LOG, True) is False
    assert statuses(codeimport, code_import) == ["RECLAIMED", "SUCCESS"]


def test_a_late_nochange_without_change_requests_no_mirror(codeimport,
                                                           scheduler):
    job_id, code_import = running(codeimport)
    scheduler.reclaimJobID(job_id)
    scheduler.recordLateResult(job_id, "SUCCESS_NOCHANGE", "", False)
    assert statuses(codeimport, code_import) == [
        "RECLAIMED", "SUCCESS_NOCHANGE"]
    assert not mirror_due(codeimport, code_import)


def test_a_finished_job_gets_no_late_result(codeimport, scheduler):
    # A finish whose answer was lost, reported again: nothing to add.
    job_id, code_import = running(codeimport)
    scheduler.finishJobID(job_id, "SUCCESS", LOG, True)
    with pytest.raises(errors.NoSuchCodeImportJob):
        scheduler.recordLateResult(job_id, "SUCCESS", LOG, True)
    with pytest.raises(errors.NoSuchCodeImportJob):
        scheduler.recordLateResult(2**31 - 1, "SUCCESS", LOG)
    assert statuses(codeimport, code_import) == ["SUCCESS"]


def test_a_running_job_is_not_late(codeimport, scheduler):
    job_id, code_import = running(codeimport)
    with pytest.raises(errors.InvalidJobState):
        scheduler.recordLateResult(job_id, "SUCCESS", LOG)
    assert statuses(codeimport, code_import) == []


@pytest.mark.parametrize("status", ["RECLAIMED", "KILLED"])
def test_a_late_result_is_a_run_result(codeimport, scheduler, status):
    job_id, code_import = running(codeimport)
    scheduler.reclaimJobID(job_id)
    with pytest.raises(RemoteFault) as info:
        scheduler.recordLateResult(job_id, status, "")
    assert info.value.fault_code == 904
    assert f"{status} is not a result a run reports" in str(info.value)
    assert statuses(codeimport, code_import) == ["RECLAIMED"]


# -- a new machine, an older scheduler ---------------------------------------

class _OlderScheduler:
    """The scheduler before issue 13: finishJobID takes 3 arguments, and
    there is no recordLateResult (its faults as that scheduler sent
    them)."""

    def __init__(self):
        self.calls = []

    def _dispatch(self, method, params):
        self.calls.append((method, len(params)))
        if method != "finishJobID":
            raise xmlrpc.client.Fault(905, f"Unknown method: {method}")
        if len(params) != 3:
            raise xmlrpc.client.Fault(
                904, "finishJobID takes 3 arguments (job_id, status_name,"
                f" log_file), not {len(params)}")
        return 0


@pytest.fixture
def older_scheduler():
    server = xmlrpc.server.SimpleXMLRPCServer(
        ("127.0.0.1", 0), logRequests=False, allow_none=False)
    instance = _OlderScheduler()
    server.register_instance(instance)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address
    yield SchedulerClient(f"http://u:p@{host}:{port}/", timeout=10), instance
    server.shutdown()
    server.server_close()


def test_an_older_scheduler_is_asked_again_without_target_changed(
        older_scheduler):
    client, scheduler = older_scheduler
    assert client.finishJobID(7, "SUCCESS", "", True) == 0
    assert scheduler.calls == [("finishJobID", 4), ("finishJobID", 3)]
    with pytest.raises(UnknownRemoteMethod):
        client.recordLateResult(7, "SUCCESS", "", True)


def test_concurrent_late_reports_record_one_result(codeimport, scheduler):
    # The monitor and a replaying dispatcher may report the same job at
    # the same moment: one records it, the others hear "already".
    job_id, code_import = running(codeimport)
    scheduler.reclaimJobID(job_id)
    barrier = threading.Barrier(6)
    answers = []

    def report():
        barrier.wait()
        answers.append(scheduler.recordLateResult(job_id, "SUCCESS", LOG,
                                                  True))

    threads = [threading.Thread(target=report) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == [False] * 5 + [True]
    assert statuses(codeimport, code_import) == ["RECLAIMED", "SUCCESS"]
