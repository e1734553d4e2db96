"""The dispatcher: polling, back-off, reaping, stopping and quiescing."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import xmlrpc.client

import pytest
from worker_fakes import SchedulerServer
from worker_fakes import wait_for

from codeimport.scripts.dispatch import main
from codeimport.wire.client import UnknownRemoteMethod
from codeimport.wire.faults import InvalidMachineStateFault
from codeimport.wire.remote import remote_fault
from codeimport.worker.dispatcher import Dispatcher

HOST = "importer-1"


class FakeChild:
    """Stands in for a monitor process."""

    _pids = iter(range(1000, 2000))

    def __init__(self, job_id, exit_on_sigterm=True):
        self.job_id = job_id
        self.pid = next(self._pids)
        self.returncode = None
        self.signals = []
        self.exit_on_sigterm = exit_on_sigterm

    def poll(self):
        return self.returncode

    def send_signal(self, signum):
        self.signals.append(signum)
        if self.exit_on_sigterm:
            self.returncode = -signum


class FakeClient:
    """A scheduler client that answers from a script of results.

    Like the scheduler, it gives a machine that is not ONLINE no job;
    `state` and `reason` are the machine's state and offline reason.
    """

    def __init__(self, answers=(), machine_methods=True):
        self.answers = list(answers)
        self.calls = []
        self.machine_methods = machine_methods
        self.state = "ONLINE"
        self.reason = ""

    def getJobForMachine(self, hostname, worker_limit):
        self.calls.append(("getJobForMachine", hostname, worker_limit))
        if self.state != "ONLINE":
            return 0
        answer = self.answers.pop(0) if self.answers else 0
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _machine(self, method, *args, state=None, answer=0):
        self.calls.append((method,) + args)
        if not self.machine_methods:
            raise UnknownRemoteMethod(method, 905, "Unknown method")
        if state is not None:
            self.state = state
            self.reason = ""
        return answer

    def setMachineOnline(self, hostname):
        return self._machine("setMachineOnline", hostname, state="ONLINE")

    def setMachineOffline(self, hostname, reason):
        self._machine("setMachineOffline", hostname, reason, state="OFFLINE")
        self.reason = reason
        return 0

    def setMachineQuiescing(self, hostname):
        if self.machine_methods and self.state == "OFFLINE":
            self.calls.append(("setMachineQuiescing", hostname))
            # As the client raises the scheduler's answer.
            raise remote_fault("setMachineQuiescing", xmlrpc.client.Fault(
                InvalidMachineStateFault.error_code, "OFFLINE"))
        return self._machine("setMachineQuiescing", hostname,
                             state="QUIESCING")

    def getMachineState(self, hostname):
        return self._machine("getMachineState", hostname, answer=self.state)

    def getMachineOfflineReason(self, hostname):
        return self._machine("getMachineOfflineReason", hostname,
                             answer=self.reason)

    def setByOperator(self, state, reason=""):
        self.state, self.reason = state, reason

    def named(self, method):
        return [call[1:] for call in self.calls if call[0] == method]


def make_dispatcher(client, max_jobs=3, **options):
    spawned = []

    def spawn(job_id):
        child = FakeChild(job_id)
        spawned.append(child)
        return child

    settings = dict(poll_interval=1.0, max_backoff=5.0, grace_period=5.0,
                    stop_timeout=5.0, load_average=lambda: 0.0)
    settings.update(options)
    dispatcher = Dispatcher(client, HOST, max_jobs, spawn, **settings)
    dispatcher.spawned = spawned
    return dispatcher


def test_step_dispatches_jobs_until_none_left():
    client = FakeClient([10, 9, 0])
    dispatcher = make_dispatcher(client)
    assert [dispatcher.step() for _ in range(3)] == [0.0, 0.0, 1.0]
    assert [child.job_id for child in dispatcher.spawned] == [10, 9]
    assert client.named("getJobForMachine") == [(HOST, 3)] * 3


def test_step_waits_after_dispatch_by_load():
    dispatcher = make_dispatcher(FakeClient([10, 11]), max_jobs=4,
                                 poll_interval=3.0, load_average=lambda: 2.0)
    assert dispatcher.step() == 2.5
    dispatcher.load_average = lambda: 100.0
    assert dispatcher.step() == 3.0


def test_step_backs_off_when_idle_and_resets_after_a_job():
    client = FakeClient([0, 0, 0, 0, 0, 7, 0])
    dispatcher = make_dispatcher(client)
    delays = [dispatcher.step() for _ in range(7)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0, 0.0, 1.0]


def test_step_backs_off_when_scheduler_unreachable(caplog):
    refused = ConnectionRefusedError(111, "Connection refused")
    client = FakeClient([refused, refused, refused, 12, 0])
    dispatcher = make_dispatcher(client)
    assert [dispatcher.step() for _ in range(5)] == [1.0, 2.0, 4.0, 0.0, 1.0]
    assert [child.job_id for child in dispatcher.spawned] == [12]
    failures = [r for r in caplog.records if "Cannot get a job" in r.message]
    assert len(failures) == 3


def test_step_keeps_polling_when_full_and_the_scheduler_decides():
    # Every poll is the machine's heartbeat: a full machine that stopped
    # polling would be taken OFFLINE by the watchdog.
    client = FakeClient([1, 2, 0, 0, 3])
    dispatcher = make_dispatcher(client, max_jobs=2)
    dispatcher.step()
    dispatcher.step()
    assert dispatcher.step() == 1.0
    assert dispatcher.step() == 2.0
    assert client.named("getJobForMachine") == [(HOST, 2)] * 4
    dispatcher.spawned[0].returncode = 0
    dispatcher.step()
    assert [child.job_id for child in dispatcher.spawned] == [1, 2, 3]
    assert [job_id for job_id, _ in dispatcher.children] == [2, 3]


def test_dispatch_failing_to_spawn_is_logged(caplog):
    def spawn(job_id):
        raise FileNotFoundError(2, "No such file")

    dispatcher = Dispatcher(FakeClient([5]), HOST, 3, spawn,
                            load_average=lambda: 0.0)
    dispatcher.step()
    assert dispatcher.children == []
    assert "Cannot start a monitor for job 5" in caplog.text


def test_max_runs_takes_that_many_jobs_then_quiesces():
    client = FakeClient([4, 5, 6])
    dispatcher = make_dispatcher(client, max_runs=2)
    dispatcher.step()
    dispatcher.step()
    assert [child.job_id for child in dispatcher.spawned] == [4, 5]
    # Job 6 is due, but the dispatcher has taken its two and never asks.
    dispatcher.step()
    assert client.named("setMachineQuiescing") == [(HOST,)]
    assert client.answers == [6]
    for child in dispatcher.spawned:
        child.returncode = 0
    assert dispatcher.step() is None


def test_quiesce_stops_taking_jobs_and_ends_when_idle():
    client = FakeClient([4, 5])
    dispatcher = make_dispatcher(client)
    dispatcher.step()
    dispatcher.requestQuiesce()
    assert dispatcher.step() == 1.0
    assert dispatcher.step() == 1.0
    assert client.named("setMachineQuiescing") == [(HOST,)]
    # It still polls, as the machine's heartbeat, and gets nothing.
    assert len(client.named("getJobForMachine")) == 3
    assert [child.job_id for child in dispatcher.spawned] == [4]
    dispatcher.spawned[0].returncode = 0
    assert dispatcher.step() is None


def test_quiesce_of_an_offline_machine_just_ends_when_idle():
    client = FakeClient([4])
    dispatcher = make_dispatcher(client)
    dispatcher.step()
    client.setByOperator("OFFLINE", "STOPPED")
    dispatcher.requestQuiesce()
    assert dispatcher.step() == 1.0
    assert client.named("setMachineQuiescing") == [(HOST,)]
    assert dispatcher.step() == 1.0
    assert client.named("setMachineQuiescing") == [(HOST,)]
    dispatcher.spawned[0].returncode = 0
    assert dispatcher.step() is None


def test_quiesce_is_retried_until_the_scheduler_hears_it():
    client = FakeClient([4])
    dispatcher = make_dispatcher(client)
    dispatcher.step()
    dispatcher.requestQuiesce()
    refused = ConnectionRefusedError(111, "Connection refused")
    real = client.setMachineQuiescing
    answers = [refused]

    def flaky(hostname):
        if answers:
            raise answers.pop()
        return real(hostname)

    client.setMachineQuiescing = flaky
    dispatcher.step()
    assert client.state == "ONLINE"
    dispatcher.step()
    assert client.state == "QUIESCING"


def test_operator_quiesce_stops_taking_jobs_and_ends_when_idle():
    client = FakeClient([4, 0, 5])
    dispatcher = make_dispatcher(client)
    dispatcher.step()
    client.setByOperator("QUIESCING")
    assert dispatcher.step() == 0.0
    assert dispatcher.quiescing
    assert dispatcher.step() == 1.0
    assert [child.job_id for child in dispatcher.spawned] == [4]
    assert client.named("setMachineQuiescing") == []
    dispatcher.spawned[0].returncode = 0
    assert dispatcher.step() is None


def test_operator_quiesce_undone_by_online_takes_jobs_again():
    client = FakeClient([4, 5])
    dispatcher = make_dispatcher(client)
    dispatcher.step()
    client.setByOperator("QUIESCING")
    dispatcher.step()
    assert dispatcher.quiescing
    client.setByOperator("ONLINE")
    assert dispatcher.step() == 0.0
    assert not dispatcher.quiescing
    dispatcher.step()
    assert [child.job_id for child in dispatcher.spawned] == [4, 5]


def test_finished_operator_quiesce_ends_an_idle_dispatcher():
    client = FakeClient()
    dispatcher = make_dispatcher(client)
    client.setByOperator("OFFLINE", "QUIESCED")
    assert dispatcher.step() == 0.0
    assert dispatcher.step() is None


def test_watchdog_offline_is_undone():
    client = FakeClient([0, 6])
    dispatcher = make_dispatcher(client)
    client.setByOperator("OFFLINE", "WATCHDOG")
    dispatcher.step()
    assert client.named("setMachineOnline") == [(HOST,)]
    assert client.state == "ONLINE"
    dispatcher.step()
    dispatcher.step()
    assert [child.job_id for child in dispatcher.spawned] == [6]


def test_operator_offline_is_obeyed_until_online_again(caplog):
    caplog.set_level(logging.INFO, logger="codeimport")
    client = FakeClient([7])
    dispatcher = make_dispatcher(client)
    client.setByOperator("OFFLINE", "STOPPED")
    for _ in range(3):
        dispatcher.step()
    assert client.named("setMachineOnline") == []
    assert not dispatcher.quiescing
    assert dispatcher.spawned == []
    assert caplog.text.count("is OFFLINE (STOPPED)") == 1
    client.setByOperator("ONLINE")
    dispatcher.step()
    assert [child.job_id for child in dispatcher.spawned] == [7]


def test_quiesce_file_starts_quiescing(tmp_path):
    flag = tmp_path / "quiesce"
    client = FakeClient([0])
    dispatcher = make_dispatcher(client, quiesce_file=str(flag))
    assert dispatcher.step() == 1.0
    flag.write_text("")
    assert dispatcher.step() is None
    assert client.named("setMachineQuiescing") == [(HOST,)]


def test_run_retries_setMachineOnline_until_it_works():
    refused = ConnectionRefusedError(111, "Connection refused")
    client = FakeClient()
    real = client.setMachineOnline
    failures = [refused, refused]

    def flaky(hostname):
        client.calls.append(("tried", hostname))
        if failures:
            raise failures.pop()
        return real(hostname)

    client.setMachineOnline = flaky
    client.setByOperator("OFFLINE", "STOPPED")
    dispatcher = make_dispatcher(client, poll_interval=0.01, max_backoff=0.02)
    thread, result = run_in_thread(dispatcher)
    wait_for(lambda: client.named("getJobForMachine"))
    assert len(client.named("tried")) == 3
    assert client.state == "ONLINE"
    dispatcher.requestStop()
    thread.join(10)
    assert result["code"] == 0


def test_run_stops_while_the_scheduler_is_down():
    client = FakeClient()

    def down(hostname):
        client.calls.append(("tried", hostname))
        raise ConnectionRefusedError(111, "Connection refused")

    client.setMachineOnline = down
    dispatcher = make_dispatcher(client, poll_interval=0.01, max_backoff=0.02)
    thread, result = run_in_thread(dispatcher)
    wait_for(lambda: len(client.named("tried")) >= 2)
    dispatcher.requestStop()
    thread.join(10)
    assert result["code"] == 0
    assert client.named("getJobForMachine") == []


def run_in_thread(dispatcher):
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("code", dispatcher.run()))
    thread.start()
    return thread, result


def test_run_stops_cleanly_and_reports_machine_state():
    client = FakeClient()
    dispatcher = make_dispatcher(client, poll_interval=0.01, max_backoff=0.02)
    thread, result = run_in_thread(dispatcher)
    wait_for(lambda: len(client.named("getJobForMachine")) >= 3)
    dispatcher.requestStop()
    thread.join(10)
    assert result["code"] == 0
    assert client.named("setMachineOnline") == [(HOST,)]
    assert client.named("setMachineOffline") == [(HOST, "STOPPED")]


def test_run_carries_on_without_machine_methods(caplog):
    caplog.set_level(logging.INFO, logger="codeimport")
    client = FakeClient(["not-a-number", 0], machine_methods=False)
    dispatcher = make_dispatcher(client, poll_interval=0.01, max_backoff=0.02)
    thread, result = run_in_thread(dispatcher)
    wait_for(lambda: len(client.named("getJobForMachine")) >= 3)
    dispatcher.requestStop()
    thread.join(10)
    assert result["code"] == 0
    assert "has no setMachineOnline" in caplog.text
    assert "Dispatcher error" in caplog.text


def test_shutdown_interrupts_monitors_after_grace_period():
    dispatcher = make_dispatcher(FakeClient([8]), grace_period=0.05)
    dispatcher.step()
    dispatcher.requestStop()
    dispatcher.shutdown()
    assert dispatcher.spawned[0].signals == [signal.SIGTERM]
    assert dispatcher.children == []


def test_shutdown_leaves_stubborn_monitors_to_finish(caplog):
    def spawn(job_id):
        return FakeChild(job_id, exit_on_sigterm=False)

    dispatcher = Dispatcher(FakeClient([8]), HOST, 3, spawn,
                            grace_period=0.01, stop_timeout=0.01,
                            load_average=lambda: 0.0)
    dispatcher.step()
    dispatcher.shutdown()
    assert "still reporting" in caplog.text


# The command, run as a real daemon against a real XML-RPC endpoint.


def start_daemon(url, tmp_path, *extra):
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    (tmp_path / "store").mkdir(exist_ok=True)
    env = dict(os.environ, CODEIMPORT_SCHEDULER_URL=url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "dispatch",
         "--hostname", HOST, "--max-jobs", "2", "--poll-interval", "0.05",
         "--max-backoff", "0.2", "--access-policy", "anything",
         "--target-store", str(tmp_path / "store"), "--log-dir",
         str(log_dir), *extra],
        env=env,
    )
    proc.log_dir = log_dir
    return proc


def import_data(url, name):
    return {"arguments": [f"~vcs-imports/{name}/trunk", "git", "git", url],
            "target_url": "", "log_file_name": "", "blacklisted_hostnames": []}


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_daemon_runs_jobs_then_stops_on_sigterm(scheduler, source_repo,
                                                tmp_path):
    fake = scheduler.fake
    fake.job_ids = [21, 22]
    fake.import_data = {21: import_data(source_repo.path, "a"),
                        22: import_data(source_repo.path, "b")}
    proc = start_daemon(scheduler.url, tmp_path)
    try:
        wait_for(lambda: len(fake.calls_to("finishJobID")) == 2, timeout=30)
    finally:
        assert stop(proc) == 0
    assert sorted(c[:2] for c in fake.calls_to("finishJobID")) == [
        (21, "SUCCESS"), (22, "SUCCESS")]
    assert fake.calls_to("getJobForMachine")[0] == (HOST, 2)
    assert fake.calls_to("setMachineOnline") == [(HOST,)]
    assert fake.calls_to("setMachineOffline") == [(HOST, "STOPPED")]
    assert (proc.log_dir / "code-import-worker-21.log").exists()
    assert "Dispatching job 21." in (
        proc.log_dir / "dispatcher.log").read_text()


def test_daemon_backs_off_until_scheduler_comes_up(free_port, tmp_path):
    server = SchedulerServer(port=free_port)
    url = server.url
    proc = start_daemon(url, tmp_path)
    log = proc.log_dir / "dispatcher.log"
    try:
        wait_for(lambda: log.exists()
                 and log.read_text().count("Cannot mark importer-1") >= 2)
        server.start()
        wait_for(lambda: server.fake.calls_to("getJobForMachine"))
        assert server.fake.calls_to("setMachineOnline") == [(HOST,)]
        assert proc.poll() is None
    finally:
        assert stop(proc) == 0
        server.stop()


def test_daemon_sigterm_hands_running_job_back(scheduler, silent_url,
                                               tmp_path):
    fake = scheduler.fake
    fake.job_ids = [41]
    fake.import_data = {41: import_data(silent_url, "hung")}
    proc = start_daemon(scheduler.url, tmp_path, "--grace-period", "0.1")
    try:
        wait_for(lambda: fake.calls_to("updateHeartbeat"), timeout=30)
    finally:
        assert stop(proc) == 0
    assert fake.calls_to("reclaimJobID") == [(41,)]
    assert fake.calls_to("finishJobID") == []


@pytest.mark.parametrize("how", ["file", "SIGUSR1"])
def test_daemon_quiesces_and_exits(scheduler, tmp_path, how):
    flag = tmp_path / "quiesce"
    proc = start_daemon(scheduler.url, tmp_path, "--quiesce-file", str(flag))
    try:
        wait_for(lambda: scheduler.fake.calls_to("getJobForMachine"))
        if how == "file":
            flag.write_text("")
        else:
            proc.send_signal(signal.SIGUSR1)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert scheduler.fake.calls_to("setMachineQuiescing") == [(HOST,)]
    assert scheduler.fake.calls_to("setMachineOffline") == [
        (HOST, "QUIESCED")]


def test_command_line_bad_input_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("CODEIMPORT_SCHEDULER_URL", raising=False)
    assert main(["--max-jobs", "3"]) == 2
    assert main(["--scheduler-url", "http://x/", "--max-jobs", "0"]) == 2
    assert main(["--scheduler-url", "http://x/", "--target-store",
                 str(tmp_path), "--log-dir", "/nonexistent"]) == 2
    assert "error:" in capsys.readouterr().err


def unwritable_directory(tmp_path):
    """A directory this process cannot create files in (for root, whom
    permissions do not stop, the read-only /sys)."""
    if os.geteuid() == 0:
        return "/sys", "is not writable: "
    path = tmp_path / "read-only"
    path.mkdir(mode=0o500)
    return str(path), "is not writable: "


@pytest.mark.parametrize("store, problem", [
    ("missing", "does not exist."),
    ("file", "is not a directory."),
    ("unwritable", None),
    ("none", None),
])
def test_an_unusable_target_store_stops_dispatch_before_it_goes_online(
        scheduler, tmp_path, store, problem):
    (tmp_path / "file").write_text("not a directory\n")
    if store == "unwritable":
        path, problem = unwritable_directory(tmp_path)
    elif store != "none":
        path = str(tmp_path / store)
    env = {key: value for key, value in os.environ.items()
           if key != "CODEIMPORT_TARGET_STORE"}
    env["CODEIMPORT_SCHEDULER_URL"] = scheduler.url
    option = [] if store == "none" else ["--target-store", path]

    done = subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "dispatch",
         "--hostname", HOST, *option], env=env, capture_output=True,
        text=True, timeout=60)

    assert done.returncode == 2, done.stderr
    if store == "none":
        expected = ("codeimport dispatch: error: --target-store or "
                    "$CODEIMPORT_TARGET_STORE is required\n")
        assert done.stderr == expected
    else:
        assert done.stderr.startswith(
            f"codeimport dispatch: error: The target store {path} "
            f"{problem}"), done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
    assert scheduler.fake.calls == []


@pytest.mark.parametrize("hostname", [
    "", "evil\x1b[31mRED", "two\nlines", "csi\u009bhost", "rlo\u202ehost",
    "under_score", "a" * 254,
])
def test_command_line_bad_hostname_exits_2_before_any_call(
        scheduler, capsys, hostname):
    assert main(["--scheduler-url", scheduler.url, "--hostname", hostname]
                ) == 2
    err = capsys.readouterr().err
    assert err.startswith("codeimport dispatch: error: --hostname: Invalid "
                          "machine host name")
    assert err.count("\n") == 1
    assert "\x1b" not in err and "\u202e" not in err
    assert scheduler.fake.calls == []
