"""A refused credential stops the dispatcher and the monitor at once, with
one line and exit status 2, instead of retrying for ever (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import xmlrpc.client

import pytest
from test_dispatcher import FakeClient
from test_dispatcher import make_dispatcher
from test_dispatcher import run_in_thread
from test_monitor import SLEEPER
from test_monitor import make_monitor
from worker_fakes import python_command
from worker_fakes import wait_for

from codeimport.errors import AccessDenied
from codeimport.errors import MachineAccessDenied
from codeimport.testing.server import XMLRPCTestServer
from codeimport.wire.client import BranchStatusClient
from codeimport.wire.client import RemoteAccessDenied
from codeimport.wire.client import RemoteHTTPError
from codeimport.wire.client import SchedulerClient
from codeimport.wire.faults import MachineAccessDeniedFault
from codeimport.wire.remote import remote_fault
from codeimport.worker.dispatcher import SchedulerRefused
from codeimport.worker.spool import Report
from codeimport.worker.spool import Spool

DENIED = RemoteAccessDenied("http://u:pw@h/codeimportscheduler", 401,
                            "Unauthorized")
NOT_HERE = RemoteHTTPError("http://u:pw@h/nowhere", 404, "Not Found")
NOT_FOR_THIS_HOST = remote_fault("getJobForMachine", xmlrpc.client.Fault(
    MachineAccessDeniedFault.error_code,
    "Credential 'u' may not act for machine 'importer-1'."))


# -- the dispatcher, with a scripted client --------------------------------

@pytest.mark.parametrize("error", [DENIED, NOT_HERE, NOT_FOR_THIS_HOST],
                         ids=["401", "404", "911"])
def test_a_refused_poll_stops_the_dispatcher(error):
    client = FakeClient([error, 5])
    dispatcher = make_dispatcher(client, poll_interval=0.01)

    with pytest.raises(SchedulerRefused) as info:
        dispatcher.run()

    message = str(info.value)
    if isinstance(error, AccessDenied):
        assert message.startswith(
            "the scheduler refused this machine's credential: ")
    else:
        assert message.endswith(
            "/nowhere: HTTP 404 Not Found: not a code-import scheduler URL")
    assert "pw" not in message
    assert len(client.named("getJobForMachine")) == 1
    assert dispatcher.spawned == []


def test_a_refused_setMachineOnline_is_not_retried():
    client = FakeClient()
    tries = []

    def refuse(hostname):
        tries.append(hostname)
        raise DENIED

    client.setMachineOnline = refuse
    dispatcher = make_dispatcher(client, poll_interval=0.01)

    with pytest.raises(SchedulerRefused, match="401"):
        dispatcher.run()
    assert len(tries) == 1
    assert client.named("getJobForMachine") == []


def test_a_scheduler_without_getJobForMachine_is_not_a_scheduler():
    client = FakeClient(machine_methods=False)

    def unknown(hostname, limit):
        raise remote_fault("getJobForMachine", xmlrpc.client.Fault(
            905, "Unknown method: 'getJobForMachine'"))

    client.getJobForMachine = unknown
    dispatcher = make_dispatcher(client, poll_interval=0.01)

    with pytest.raises(SchedulerRefused,
                       match="not a code-import scheduler URL"):
        dispatcher.run()


def test_a_refusal_while_jobs_run_leaves_their_monitors(caplog):
    client = FakeClient([8, DENIED])
    dispatcher = make_dispatcher(client, poll_interval=0.01)

    with pytest.raises(SchedulerRefused):
        dispatcher.run()

    assert [child.job_id for child in dispatcher.spawned] == [8]
    assert dispatcher.spawned[0].signals == []
    assert "Leaving 1 monitor(s) to finish on their own." in caplog.text


def test_a_refused_spooled_result_stops_the_dispatcher_and_stays(tmp_path):
    spool = Spool(str(tmp_path / "spool"))
    spool.keep(Report(12, "SUCCESS", b"log\n")).release()
    client = FakeClient()

    def refuse(*args):
        raise DENIED

    client.finishJobID = refuse
    dispatcher = make_dispatcher(client, poll_interval=0.01, spool=spool)

    with pytest.raises(SchedulerRefused, match="401"):
        dispatcher.run()
    assert [entry.job_id for entry in spool.entries()] == [12]
    assert client.named("setMachineOnline") == []


def test_transient_errors_are_still_retried():
    client = FakeClient([ConnectionRefusedError(111, "refused"), 4, 0])
    dispatcher = make_dispatcher(client, poll_interval=0.01)
    thread, result = run_in_thread(dispatcher)
    wait_for(lambda: dispatcher.spawned)
    dispatcher.requestStop()
    thread.join(10)
    assert result["code"] == 0


# -- the monitor, against the fake scheduler -------------------------------

def test_a_refused_heartbeat_kills_the_worker_and_reports_nothing(
        scheduler, caplog):
    scheduler.fake.faults["updateHeartbeat"] = 911
    monitor = make_monitor(scheduler, python_command(SLEEPER))

    assert monitor.run() == 2

    assert scheduler.fake.calls_to("finishJobID") == []
    assert scheduler.fake.calls_to("reclaimJobID") == []
    [line] = [record.getMessage() for record in caplog.records
              if record.levelname == "ERROR"]
    assert line.startswith("Job 7: the scheduler refused this machine's "
                           "credential: updateHeartbeat: fault 911")


@pytest.mark.parametrize("method", ["getImportDataForJobID", "finishJobID"])
def test_a_refused_fetch_or_finish_stops_the_monitor(scheduler, method):
    scheduler.fake.faults[method] = 911
    monitor = make_monitor(scheduler, python_command("pass"))

    assert monitor.run() == 2
    assert len(scheduler.fake.calls_to(method)) == 1  # never retried


# -- the real service and the real commands ---------------------------------

@pytest.fixture(scope="module")
def service(codeimport_database):
    server = XMLRPCTestServer(
        codeimport_database.dsn, extra_args=["--workers", "2"],
        credential_lines=[
            "importer1:i-secret:codeimportscheduler:importer-1",
            "puller:p-secret:authserver",
        ]).start()
    yield server
    server.close()


@pytest.fixture
def server(codeimport, service):
    return service


def dispatch(url, hostname, store, *extra):
    """Run ``codeimport dispatch`` until it exits; (status, stderr)."""
    environ = dict(os.environ, CODEIMPORT_SCHEDULER_URL=url,
                   CODEIMPORT_TARGET_STORE=str(store))
    ran = subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "dispatch", "--hostname",
         hostname, "--poll-interval", "0.05", "--max-backoff", "0.2",
         *extra],
        env=environ, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)
    return ran.returncode, ran.stderr


def machine_names(codeimport):
    codeimport.abort()
    return [machine.hostname
            for machine in codeimport.utilities.machines.getAll()]


@pytest.mark.parametrize("user, secret, path, hostname, expected", [
    ("importer1", "wrong", "/codeimportscheduler", "importer-1",
     "HTTP 401 Unauthorized"),
    ("importer1", "i-secret", "/authserver", "importer-1",
     "HTTP 403 Forbidden"),
    ("importer1", "i-secret", "/codeimportscheduler", "importer-2",
     "fault 911: Credential 'importer1' may not act for machine "
     "'importer-2'."),
    ("codeimport-test", None, "/authserver", "importer-1",
     "getJobForMachine: fault 905: Unknown method: 'getJobForMachine': "
     "not a code-import scheduler URL"),
    ("importer1", "i-secret", "/nowhere", "importer-1",
     "HTTP 404 Not Found: not a code-import scheduler URL"),
], ids=["wrong-password", "wrong-endpoint", "wrong-host",
        "legacy-on-the-authserver", "no-endpoint"])
def test_dispatch_stops_with_exit_2_and_one_line(
        codeimport, server, tmp_path, user, secret, path, hostname,
        expected):
    url = server.url(path, user, secret)

    status, stderr = dispatch(url, hostname, tmp_path, "--log-dir",
                              str(tmp_path))

    assert status == 2
    [line] = stderr.splitlines()
    assert line.startswith("codeimport dispatch: ")
    assert line.endswith(expected)
    for password in ("i-secret", "wrong", server.secret):
        assert password not in line
    assert "Stopping: " in (tmp_path / "dispatcher.log").read_text()
    assert machine_names(codeimport) == []


def test_dispatch_logging_to_stderr_says_it_in_one_line(
        codeimport, server, tmp_path):
    url = server.url("/codeimportscheduler", "importer1", "wrong")

    status, stderr = dispatch(url, "importer-1", tmp_path)

    assert status == 2
    assert [line for line in stderr.splitlines() if "ERROR" in line] == [
        line for line in stderr.splitlines() if "401" in line]
    assert len([line for line in stderr.splitlines()
                if "Stopping" in line]) == 1


def test_a_bound_credential_runs_its_machine(codeimport, server, tmp_path):
    url = server.url("/codeimportscheduler", "importer1", "i-secret")
    process = subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "dispatch", "--hostname",
         "importer-1", "--poll-interval", "0.05", "--max-backoff", "0.2",
         "--target-store", str(tmp_path)],
        env=dict(os.environ, CODEIMPORT_SCHEDULER_URL=url),
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: machine_names(codeimport) == ["importer-1"],
                 timeout=30)
        process.terminate()
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_the_monitor_of_another_machines_job_stops_with_exit_2(
        codeimport, server):
    other = codeimport.factory.makeCodeImportMachine("importer-2",
                                                     set_online=True)
    job = codeimport.factory.makeRunningJob(other)
    codeimport.commit()
    url = server.url("/codeimportscheduler", "importer1", "i-secret")

    ran = subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "monitor", str(job.id)],
        env=dict(os.environ, CODEIMPORT_SCHEDULER_URL=url),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    assert ran.returncode == 2
    [line] = ran.stderr.splitlines()
    assert line.endswith(
        f"Job {job.id}: the scheduler refused this machine's credential: "
        f"getImportDataForJobID: fault 911: Credential 'importer1' may not "
        f"act for job {job.id}: it does not run on a machine the "
        "credential may act for.; stopping.")
    codeimport.abort()
    assert job.heartbeat == job.date_started  # no heartbeat got through


def test_the_clients_raise_the_domain_errors(codeimport, server):
    codeimport.factory.makeCodeImportMachine("importer-2", set_online=True)
    codeimport.commit()
    scheduler = SchedulerClient(
        server.url("/codeimportscheduler", "importer1", "i-secret"))
    with pytest.raises(MachineAccessDenied):
        scheduler.setMachineOffline("importer-2", "STOPPED")
    wrong_endpoint = BranchStatusClient(
        server.url("/codeimportscheduler", "puller", "p-secret"))
    with pytest.raises(RemoteAccessDenied) as info:
        wrong_endpoint.acquireBranchToPull()
    assert info.value.status == 403
    assert isinstance(info.value, AccessDenied)
    assert not isinstance(info.value, OSError)  # never retried


def test_serve_warns_once_about_plain_lines(server):
    # Two workers build the application; the warning is the arbiter's.
    warnings = [line for line in server.log().splitlines()
                if "plain NAME:SECRET lines" in line]
    assert len(warnings) == 1
    assert "'codeimport-test'" in warnings[0]
    assert server.secret not in server.log()
