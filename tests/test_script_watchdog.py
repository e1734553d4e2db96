"""`codeimport watchdog`: the daemon around `ICodeImportWatchdog`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

import pytest
from scripthelpers import age
from scripthelpers import call
from scripthelpers import cli
from scripthelpers import reload

from codeimport import database
from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.registration import build_utilities
from codeimport.scripts import watchdog


def test_once_with_a_stale_job_reclaims_it_and_schedules_a_new_job(
        codeimport):
    job = codeimport.factory.makeRunningJob()
    code_import, job_id = job.code_import, job.id
    age(codeimport.store, "codeimportjob", job_id, "heartbeat", 3600)
    codeimport.commit()

    ran = cli("watchdog", "--once", dsn=codeimport.dsn)

    assert ran.returncode == 0, ran.stderr
    assert f"reclaimed 1 job(s) [{job_id}]" in ran.stderr
    reload(codeimport)
    [result] = code_import.results
    assert result.status == CodeImportResultStatus.RECLAIMED
    new_job = code_import.import_job
    assert new_job.id != job_id
    assert new_job.state == CodeImportJobState.PENDING
    assert new_job.isOverdue()


def test_once_with_a_fresh_job_leaves_it_alone(codeimport):
    job = codeimport.factory.makeRunningJob()
    codeimport.commit()

    ran = cli("watchdog", "--once", dsn=codeimport.dsn)

    assert ran.returncode == 0, ran.stderr
    assert "reclaimed 0 job(s), took 0 machine(s) offline" in ran.stderr
    reload(codeimport)
    assert job.state == CodeImportJobState.RUNNING


def test_once_with_a_silent_machine_takes_it_offline_for_WATCHDOG(
        codeimport):
    machine = codeimport.factory.makeCodeImportMachine(
        hostname="silent", set_online=True)
    lively = codeimport.factory.makeCodeImportMachine(
        hostname="lively", set_online=True)
    limit = codeimport.settings.machine_heartbeat_limit
    age(codeimport.store, "codeimportmachine", machine.id, "heartbeat",
        limit + 60)
    age(codeimport.store, "codeimportmachine", lively.id, "heartbeat", 1)
    codeimport.commit()
    events = codeimport.new_events()

    ran = cli("watchdog", "--once", dsn=codeimport.dsn)

    assert ran.returncode == 0, ran.stderr
    assert "took 1 machine(s) offline ['silent']" in ran.stderr
    reload(codeimport)
    assert machine.state == CodeImportMachineState.OFFLINE
    assert lively.state == CodeImportMachineState.ONLINE
    [event] = list(events)
    assert event.event_type == CodeImportEventType.OFFLINE
    assert dict(event.items())[
        CodeImportEventDataType.OFFLINE_REASON] == "WATCHDOG"


def test_once_with_settings_file_uses_its_limits(
        codeimport, tmp_path, capsys):
    job = codeimport.factory.makeRunningJob()
    age(codeimport.store, "codeimportjob", job.id, "heartbeat", 120)
    codeimport.commit()
    settings = tmp_path / "codeimport.ini"
    settings.write_text("[codeimport]\nmaximum_heartbeat_interval = 60\n")

    ran = call(watchdog.main, "--once", "--settings-file", str(settings),
               "--dsn", codeimport.dsn, capsys=capsys)

    assert ran.returncode == 0, ran.stderr
    assert "reclaimed 1 job(s)" in ran.stderr


def test_bad_dsn_exits_1_with_one_line():
    ran = cli("watchdog", "--once", dsn="host=/nonexistent dbname=nothing")

    assert ran.returncode == 1
    assert ran.stderr.count("\n") == 1
    assert ran.stderr.startswith("codeimport watchdog: database error:")


def test_no_dsn_exits_2_with_one_line(capsys, monkeypatch):
    monkeypatch.delenv("CODEIMPORT_DSN", raising=False)
    ran = call(watchdog.main, "--once", capsys=capsys)

    assert ran.returncode == 2
    assert ran.stderr == (
        "codeimport watchdog: No database given: use --dsn or set "
        "CODEIMPORT_DSN.\n")


@pytest.mark.parametrize("interval", ["0", "-1", "soon"])
def test_bad_interval_exits_2_with_one_line(interval, capsys):
    ran = call(watchdog.main, "--interval", interval, "--dsn",
               "dbname=unused", capsys=capsys)

    assert ran.returncode == 2
    assert ran.stderr.count("\n") == 1
    assert "--interval" in ran.stderr


def test_bad_settings_file_exits_2_with_one_line(tmp_path, capsys):
    settings = tmp_path / "codeimport.ini"
    settings.write_text("[codeimport]\nno_such_setting = 1\n")

    ran = call(watchdog.main, "--once", "--settings-file", str(settings),
               "--dsn", "dbname=unused", capsys=capsys)

    assert ran.returncode == 2
    assert ran.stderr == (
        "codeimport watchdog: Unknown setting 'no_such_setting'.\n")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_loop_stops_cleanly_on_signal(codeimport, signum):
    codeimport.commit()
    env = dict(os.environ, CODEIMPORT_DSN=codeimport.dsn)
    process = subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "watchdog",
         "--interval", "3600"],
        stderr=subprocess.PIPE, text=True, env=env)
    # If the first round never reports, fail rather than wait forever; a
    # loaded CI machine may take long to start Python, so be generous.
    guard = threading.Timer(180, process.kill)
    guard.start()
    try:
        lines = []
        # Wait for the first round's report, then stop the daemon in its
        # sleep between rounds.
        for line in process.stderr:
            lines.append(line)
            if "reclaimed" in line or "round failed" in line:
                break
        guard.cancel()
        process.send_signal(signum)
        rest = process.communicate(timeout=120)[1]
        lines.append(rest)
        returncode = process.returncode
    finally:
        guard.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)
    assert returncode == 0, output
    assert "Traceback" not in output
    assert f"stopped ({signal.Signals(signum).name})" in output


class FailingWatchdog:
    def run(self):
        raise RuntimeError("the database went away\nsecond line")


class RecordingStore:
    def __init__(self):
        self.calls = []

    def commit(self):
        self.calls.append("commit")

    def rollback(self):
        self.calls.append("rollback")


def test_run_round_when_the_round_fails_rolls_back_and_logs_one_line(
        caplog):
    store = RecordingStore()
    utilities = type("Utilities", (), {"watchdog": FailingWatchdog()})
    logger = logging.getLogger("test.watchdog")

    with caplog.at_level(logging.INFO, logger="test.watchdog"):
        worked = watchdog.run_round(store, utilities, logger)

    assert worked is False
    assert store.calls == ["rollback"]
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == (
        "round failed, rolled back: the database went away")


def test_run_round_after_a_lost_connection_fails_once_then_recovers(
        codeimport, caplog):
    codeimport.commit()
    store = database.make_store(codeimport.dsn, role="importd")
    utilities = build_utilities(lambda: store, codeimport.settings)
    logger = logging.getLogger("test.watchdog")
    try:
        assert watchdog.run_round(store, utilities, logger)
        pid = store.execute("SELECT pg_backend_pid()").get_one()[0]
        store.rollback()
        codeimport.store.execute("SELECT pg_terminate_backend(?)", (pid,))
        codeimport.commit()

        with caplog.at_level(logging.INFO, logger="test.watchdog"):
            outcomes = [watchdog.run_round(store, utilities, logger)
                        for _ in range(2)]
    finally:
        store.close()

    assert outcomes == [False, True]
    assert "round failed, rolled back:" in caplog.records[0].getMessage()
