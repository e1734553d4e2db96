"""The worker monitor: result mapping, heartbeats, timeouts, quiet exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from worker_fakes import python_command
from worker_fakes import wait_for

from codeimport.errors import NoSuchCodeImportJob
from codeimport.joblog import update_tail
from codeimport.scripts.monitor import main
from codeimport.wire.client import SchedulerClient
from codeimport.worker.monitor import WorkerMonitor
from codeimport.worker.monitor import status_for_exit_code

JOB = 7
IMPORT_DATA = {
    "arguments": ["~vcs-imports/x/y", "git", "git", "http://example.com/x"],
    "target_url": "http://code.example.com/~vcs-imports/x/y",
    "log_file_name": "vcs-imports-x-y.log",
    "blacklisted_hostnames": [],
}
SLEEPER = "import time; print('started', flush=True); time.sleep(60)"


def make_monitor(scheduler, command, **options):
    scheduler.fake.import_data.setdefault(JOB, IMPORT_DATA)
    settings = dict(heartbeat_interval=30.0, inactivity_timeout=30.0,
                    kill_grace=5.0, retry_timeout=5.0, retry_delay=0.01)
    settings.update(options)
    client = SchedulerClient(scheduler.url, timeout=10)
    return WorkerMonitor(JOB, client, command, **settings)


def finished(scheduler):
    """The single finishJobID call: (status name, log text)."""
    calls = scheduler.fake.calls_to("finishJobID")
    assert len(calls) == 1
    job_id, status, log_file = calls[0][:3]
    assert job_id == JOB
    return status, log_file.data.decode("utf-8", "replace")


def start_in_thread(monitor):
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("code", monitor.run())
    )
    thread.start()
    return thread, result


def test_update_tail_keeps_last_five_pieces():
    tail = update_tail(b"", b"1\n2\n3\n")
    assert tail == b"1\n2\n3\n"
    tail = update_tail(tail, b"4\n5\n6")
    assert tail == b"2\n3\n4\n5\n6"
    assert update_tail(tail, b"7\n") == b"3\n4\n5\n67\n"


@pytest.mark.parametrize(
    "code,status",
    [(0, "SUCCESS"), (1, "FAILURE"), (2, "SUCCESS_NOCHANGE"),
     (3, "SUCCESS_PARTIAL"), (4, "FAILURE_INVALID"),
     (5, "FAILURE_UNSUPPORTED_FEATURE"), (6, "FAILURE_FORBIDDEN"),
     (7, "FAILURE_REMOTE_BROKEN"), (8, "FAILURE"), (-9, "FAILURE")],
)
def test_status_for_exit_code(code, status):
    assert status_for_exit_code(code).name == status


@pytest.mark.parametrize("code", [0, 2, 3, 4, 5, 6, 7])
def test_run_reports_status_of_exit_code(scheduler, code):
    script = f"import sys; print('working'); sys.exit({code})"
    assert make_monitor(scheduler, python_command(script)).run() == 0
    status, log = finished(scheduler)
    assert status == status_for_exit_code(code).name
    assert log == "working\n"


def test_run_worker_failure_appends_reason(scheduler):
    script = "import sys; print('oops'); sys.exit(1)"
    make_monitor(scheduler, python_command(script)).run()
    assert finished(scheduler) == (
        "FAILURE", "oops\nImport failed:\nThe worker exited with status 1.\n"
    )


def test_run_worker_killed_by_signal_is_failure(scheduler):
    script = "import os; os.kill(os.getpid(), 9)"
    make_monitor(scheduler, python_command(script)).run()
    status, log = finished(scheduler)
    assert status == "FAILURE"
    assert "killed by signal SIGKILL" in log


def test_run_passes_job_arguments_to_worker(scheduler):
    def command(arguments):
        return [sys.executable, "-c", "import sys; print(sys.argv[1:])"] + (
            arguments
        )

    make_monitor(scheduler, command).run()
    assert finished(scheduler)[1] == repr(IMPORT_DATA["arguments"]) + "\n"


def test_run_heartbeats_before_finishing(scheduler):
    make_monitor(scheduler, python_command("pass")).run()
    names = [name for name, _ in scheduler.fake.calls]
    assert names[0] == "getImportDataForJobID"
    assert names[1] == "updateHeartbeat"
    assert names[-1] == "finishJobID"


def test_heartbeat_sends_last_five_lines(scheduler, tmp_path):
    flag = tmp_path / "flag"
    script = (
        "import os, sys, time\n"
        "for i in range(1, 9): print('line', i)\n"
        "sys.stdout.flush(); sys.stdout.buffer.write(b'bad \\xff\\n')\n"
        "sys.stdout.flush()\n"
        f"while not os.path.exists({str(flag)!r}): time.sleep(0.01)\n"
    )
    monitor = make_monitor(scheduler, python_command(script),
                           heartbeat_interval=0.05)
    thread, result = start_in_thread(monitor)
    expected = "line 6\nline 7\nline 8\nbad \ufffd\n"
    try:
        wait_for(lambda: (JOB, expected) in scheduler.fake.calls_to(
            "updateHeartbeat"))
    finally:
        flag.write_text("")
        thread.join(30)
    assert result["code"] == 0
    assert finished(scheduler)[0] == "SUCCESS"


def test_inactivity_timeout_kills_worker(scheduler):
    monitor = make_monitor(scheduler, python_command(SLEEPER),
                           inactivity_timeout=0.3)
    assert monitor.run() == 0
    status, log = finished(scheduler)
    assert status == "FAILURE"
    assert log.startswith("started\n")
    assert "Import failed:\nThe worker printed nothing for 0.3 seconds." in log


def test_worker_ignoring_sigint_gets_sigkill(scheduler):
    script = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    script += SLEEPER
    monitor = make_monitor(scheduler, python_command(script),
                           inactivity_timeout=0.2, kill_grace=0.2)
    assert monitor.run() == 0
    assert finished(scheduler)[0] == "FAILURE"


def test_reclaimed_job_kills_worker_and_exits_quietly(scheduler, tmp_path):
    pid_file = tmp_path / "pid"
    script = f"import os; open({str(pid_file)!r}, 'w').write(str(os.getpid()))"
    script += "\n" + SLEEPER
    monitor = make_monitor(scheduler, python_command(script),
                           heartbeat_interval=0.05)
    thread, result = start_in_thread(monitor)
    wait_for(pid_file.exists)
    wait_for(lambda: pid_file.read_text())
    scheduler.fake.faults["updateHeartbeat"] = 360
    thread.join(30)
    assert result["code"] == 0
    assert scheduler.fake.calls_to("finishJobID") == []
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_unknown_job_exits_quietly_without_running(scheduler):
    monitor = make_monitor(scheduler, python_command("raise SystemExit(9)"))
    del scheduler.fake.import_data[JOB]
    assert monitor.run() == 0
    assert [name for name, _ in scheduler.fake.calls] == [
        "getImportDataForJobID"
    ]


def test_reclaimed_at_finish_exits_quietly(scheduler):
    scheduler.fake.faults["finishJobID"] = 360
    assert make_monitor(scheduler, python_command("pass")).run() == 0


def test_failure_fetching_arguments_is_reported(scheduler):
    scheduler.fake.faults["getImportDataForJobID"] = 999
    assert make_monitor(scheduler, python_command("pass")).run() == 0
    status, log = finished(scheduler)
    assert status == "FAILURE"
    assert "Could not fetch the job's arguments" in log
    assert "fault 999" in log


def test_interrupt_kills_worker_and_hands_the_job_back(scheduler):
    monitor = make_monitor(scheduler, python_command(SLEEPER))
    thread, result = start_in_thread(monitor)
    wait_for(lambda: monitor.tail)
    monitor.interrupt()
    thread.join(30)
    assert result["code"] == 0
    assert scheduler.fake.calls_to("reclaimJobID") == [(JOB,)]
    assert scheduler.fake.calls_to("finishJobID") == []


def test_interrupt_before_the_worker_starts_hands_the_job_back(scheduler):
    monitor = make_monitor(scheduler, python_command(SLEEPER))
    monitor.interrupt()
    assert monitor.run() == 0
    assert scheduler.fake.calls_to("reclaimJobID") == [(JOB,)]
    assert scheduler.fake.calls_to("finishJobID") == []


def test_interrupt_after_the_job_is_gone_exits_quietly(scheduler):
    scheduler.fake.faults["reclaimJobID"] = 360
    monitor = make_monitor(scheduler, python_command(SLEEPER))
    monitor.interrupt()
    assert monitor.run() == 0
    assert scheduler.fake.calls_to("finishJobID") == []


def test_interrupt_with_an_older_scheduler_leaves_the_job_running(
        scheduler, caplog):
    scheduler.fake.machine_methods = False
    monitor = make_monitor(scheduler, python_command(SLEEPER))
    monitor.interrupt()
    assert monitor.run() == 1
    assert scheduler.fake.calls_to("finishJobID") == []
    assert "until the watchdog reclaims it" in caplog.text


def test_other_heartbeat_fault_kills_worker(scheduler):
    scheduler.fake.faults["updateHeartbeat"] = 902
    monitor = make_monitor(scheduler, python_command(SLEEPER))
    assert monitor.run() == 0
    status, log = finished(scheduler)
    assert status == "FAILURE"
    assert "Heartbeat failed" in log


class FlakyClient:
    """A client whose calls fail with a connection error a few times."""

    def __init__(self, failures):
        self.failures = dict(failures)
        self.calls = []

    def _maybe_fail(self, method):
        self.calls.append(method)
        if self.failures.get(method, 0) != 0:
            self.failures[method] -= 1
            raise ConnectionRefusedError(111, "Connection refused")

    def getImportDataForJobID(self, job_id):
        self._maybe_fail("getImportDataForJobID")
        return IMPORT_DATA

    def updateHeartbeat(self, job_id, tail):
        self._maybe_fail("updateHeartbeat")
        return 0

    def finishJobID(self, job_id, status, log_file):
        self._maybe_fail("finishJobID")
        if self.failures.get("gone"):
            raise NoSuchCodeImportJob(job_id)
        self.finished = status
        return 0


def flaky_monitor(client, **options):
    settings = dict(heartbeat_interval=30.0, inactivity_timeout=30.0,
                    retry_timeout=5.0, retry_delay=0.01)
    settings.update(options)
    return WorkerMonitor(JOB, client, python_command("pass"), **settings)


def test_transient_errors_are_retried():
    client = FlakyClient({"getImportDataForJobID": 2, "finishJobID": 3})
    assert flaky_monitor(client).run() == 0
    assert client.finished == "SUCCESS"
    assert client.calls.count("finishJobID") == 4


def test_unreachable_heartbeat_does_not_kill_worker():
    client = FlakyClient({"updateHeartbeat": -1})
    assert flaky_monitor(client, heartbeat_interval=0.05).run() == 0
    assert client.finished == "SUCCESS"


def test_finish_gives_up_after_retry_timeout():
    client = FlakyClient({"finishJobID": -1})
    assert flaky_monitor(client, retry_timeout=0.2).run() == 1


def test_remote_fault_at_finish_is_exit_1(scheduler):
    scheduler.fake.faults["finishJobID"] = 902
    assert make_monitor(scheduler, python_command("pass")).run() == 1


def test_command_line_bad_input_exits_2(capsys):
    assert main(["not-a-number", "--scheduler-url", "http://x/"]) == 2
    assert main(["7", "--scheduler-url", "ftp://x/"]) == 2
    assert main(["7", "--scheduler-url", "http://x/",
                 "--heartbeat-interval", "0"]) == 2
    assert "error:" in capsys.readouterr().err


def test_command_line_runs_real_import(scheduler, source_repo, tmp_path):
    scheduler.fake.import_data[JOB] = dict(
        IMPORT_DATA, arguments=["~vcs-imports/x/y", "git", "git",
                                source_repo.path])
    log_file = tmp_path / "monitor.log"
    env = dict(os.environ, CODEIMPORT_SCHEDULER_URL=scheduler.url)
    result = subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "monitor", str(JOB),
         "--access-policy", "anything", "--target-store",
         str(tmp_path / "store"), "--log-file", str(log_file)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, log = finished(scheduler)
    assert status == "SUCCESS"
    # It published: the target changed (and the report is recorded).
    assert scheduler.fake.calls_to("finishJobID")[0][3] is True
    target = tmp_path / "store" / "vcs-imports" / "x" / "y"
    assert (target / "codeimport" / "reported").exists()
    assert "added    refs/heads/master" in log
    assert "finished: SUCCESS" in log_file.read_text()
    assert "s3cret" not in log_file.read_text()
    assert scheduler.fake.auth_headers[0].startswith("Basic ")


def test_command_line_sigterm_hands_the_job_back(
    scheduler, tmp_path, silent_url
):
    scheduler.fake.import_data[JOB] = dict(
        IMPORT_DATA, arguments=["~vcs-imports/x/y", "git", "git", silent_url])
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "monitor", str(JOB),
         "--scheduler-url", scheduler.url, "--target-store", str(tmp_path)],
        stderr=subprocess.PIPE, text=True,
    )
    wait_for(lambda: scheduler.fake.calls_to("updateHeartbeat"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert scheduler.fake.calls_to("reclaimJobID") == [(JOB,)]
    assert scheduler.fake.calls_to("finishJobID") == []


def test_source_credentials_reach_the_worker_in_a_private_file_only(
        scheduler, caplog):
    """The worker gets a file of mode 0600 (named in its arguments),
    removed after the run; whatever it prints of the password is
    redacted from the heartbeat tail, the uploaded log and our log."""
    scheduler.fake.import_data[JOB] = dict(
        IMPORT_DATA, source_credentials={"username": "alice",
                                         "password": "hunter2-secret"})
    script = (
        "import json, os, stat, sys\n"
        "path = sys.argv[sys.argv.index('--source-credentials-file') + 1]\n"
        "print('mode', oct(stat.S_IMODE(os.stat(path).st_mode)),"
        " oct(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)))\n"
        "print('file', path)\n"
        "print('told', json.load(open(path))['password'], flush=True)\n")
    seen = []

    def command(arguments):
        seen.append(arguments)
        return [sys.executable, "-c", script, *arguments]

    caplog.set_level("INFO")
    monitor = make_monitor(scheduler, command, heartbeat_interval=0.05)
    assert monitor.run() == 0

    status, log = finished(scheduler)
    assert status == "SUCCESS"
    assert "mode 0o600 0o700" in log
    assert "told ***" in log and "hunter2" not in log
    path = log.split("file ", 1)[1].split()[0]
    assert not os.path.exists(path)
    assert "hunter2" not in " ".join(seen[0])
    tails = [call[1] for call in scheduler.fake.calls_to("updateHeartbeat")]
    assert tails and not any("hunter2" in tail for tail in tails)
    assert "hunter2" not in caplog.text


def test_a_scheduler_failing_on_heartbeats_does_not_cost_the_run(
        scheduler, tmp_path):
    # Fault 999 is the scheduler's own failure (issue 13): the worker
    # goes on and its result is reported.
    go = tmp_path / "go"
    script = ("import os, time\nprint('working', flush=True)\n"
              f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n")
    scheduler.fake.faults["updateHeartbeat"] = 999
    monitor = make_monitor(scheduler, python_command(script),
                           heartbeat_interval=0.05)
    thread, result = start_in_thread(monitor)
    wait_for(lambda: len(scheduler.fake.calls_to("updateHeartbeat")) >= 3)
    go.touch()
    thread.join(30)
    assert result["code"] == 0
    assert finished(scheduler)[0] == "SUCCESS"
