"""`codeimport status`: machines, running jobs, the queue, results."""

from __future__ import annotations

import json
import re
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from scripthelpers import age
from scripthelpers import call
from scripthelpers import cli

from codeimport.enums import CodeImportResultStatus
from codeimport.scripts import status

UTC = timezone.utc


def lines_of(text):
    """The report's lines with runs of spaces squeezed to one and ages
    (which depend on when the command ran) replaced by AGE."""
    text = re.sub(r"\b(\d+[dhm] )?\d+[hms] ago\b", "AGE ago", text)
    return [" ".join(line.split()) for line in text.splitlines()]


def test_status_of_an_empty_system(codeimport):
    codeimport.commit()

    ran = cli("status", dsn=codeimport.dsn)

    assert ran.returncode == 0, ran.stderr
    assert lines_of(ran.stdout) == [
        "Machines (0)", "none", "",
        "Running jobs (0)", "none", "",
        "Pending jobs: 0 due now (0 requested), 0 later", "",
        "Latest results (0)", "none", "",
        "Branch puller: no run recorded",
    ]


def test_status_shows_machines_jobs_queue_results_and_puller(
        codeimport, capsys):
    factory, store = codeimport.factory, codeimport.store
    alpha = factory.makeCodeImportMachine("alpha", set_online=True)
    factory.makeCodeImportMachine("beta")
    running = factory.makeRunningJob(
        machine=alpha, code_import=factory.makeCodeImport(
            project="gnome-terminal", branch_name="import"))
    codeimport.utilities.workflow.updateHeartbeat(
        running, "Fetching\n" + "x" * 100 + "\n\n")
    age(store, "codeimportmachine", alpha.id, "heartbeat", 30)
    age(store, "codeimportjob", running.id, "heartbeat", 12)
    factory.makeCodeImport()                    # due now
    requested = factory.makeCodeImport()        # due now, requested
    codeimport.utilities.workflow.requestJob(
        requested.import_job, factory.makePerson("alice"))
    later = factory.makeCodeImport().import_job
    store.execute(
        "UPDATE codeimportjob SET date_due = CURRENT_TIMESTAMP"
        " + interval '2 hours 30 seconds' WHERE id = ?", (later.id,))
    finished = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    factory.makeCodeImportResult(
        code_import=running.code_import,
        result_status=CodeImportResultStatus.SUCCESS_NOCHANGE,
        date_started=finished - timedelta(minutes=5, seconds=3),
        date_finished=finished, machine=alpha)
    codeimport.utilities.script_activities.recordSuccess(
        "branch-puller", finished - timedelta(seconds=42), finished,
        hostname="pullhost")
    codeimport.commit()

    ran = call(status.main, "--dsn", codeimport.dsn, capsys=capsys)

    assert ran.returncode == 0, ran.stderr
    lines = lines_of(ran.stdout)
    assert lines[:4] == [
        "Machines (2)",
        "HOSTNAME STATE HEARTBEAT JOBS",
        "alpha ONLINE AGE ago 1",
        "beta OFFLINE never 0",
    ]
    assert lines[5:7] == [
        "Running jobs (1)",
        "JOB IMPORT MACHINE STARTED HEARTBEAT LOG TAIL",
    ]
    job_line = lines[7].split(" ")
    assert job_line[:3] == [
        str(running.id), running.code_import.branch.unique_name, "alpha"]
    assert job_line[5:] == ["AGE", "ago", "x" * 59 + "\N{HORIZONTAL ELLIPSIS}"]
    assert lines[9] == (
        "Pending jobs: 2 due now (1 requested), 1 later (next in 2h 00m)")
    assert lines[11:14] == [
        "Latest results (1)",
        "IMPORT STATUS FINISHED DURATION",
        f"{running.code_import.branch.unique_name} SUCCESS_NOCHANGE "
        "2026-01-02 03:04:05 5m 03s",
    ]
    assert lines[15].startswith("Branch puller: last run on pullhost ")
    assert lines[15].endswith(", took 42s")


def test_status_marks_stale_heartbeats(codeimport, capsys):
    alpha = codeimport.factory.makeCodeImportMachine("alpha", True)
    job = codeimport.factory.makeRunningJob(machine=alpha)
    limit = codeimport.settings.maximum_heartbeat_interval
    age(codeimport.store, "codeimportjob", job.id, "heartbeat", limit + 1)
    age(codeimport.store, "codeimportmachine", alpha.id, "heartbeat", 5)
    codeimport.commit()

    ran = call(status.main, "--dsn", codeimport.dsn, capsys=capsys)

    lines = lines_of(ran.stdout)
    assert lines[2] == "alpha ONLINE AGE ago 1"
    assert lines[6].endswith(" AGE ago (stale)")


@pytest.mark.parametrize("last_seen, outage_ended, away", [
    (1, 10, False),    # the service came back 10 s ago
    (3600, None, True),  # the service is away
])
def test_status_counts_no_silence_across_an_outage(
        codeimport, capsys, last_seen, outage_ended, away):
    job = codeimport.factory.makeRunningJob()
    limit = codeimport.settings.maximum_heartbeat_interval
    age(codeimport.store, "codeimportjob", job.id, "heartbeat", limit + 1)
    since = ("'-infinity'" if outage_ended is None else
             f"CURRENT_TIMESTAMP - interval '{outage_ended} seconds'")
    codeimport.store.execute(
        "INSERT INTO codeimportservice VALUES (1, CURRENT_TIMESTAMP"
        f" - interval '{last_seen} seconds', {since})")
    codeimport.commit()

    ran = call(status.main, "--dsn", codeimport.dsn, capsys=capsys)
    assert "(stale)" not in ran.stdout
    ran = call(status.main, "--json", "--dsn", codeimport.dsn,
               capsys=capsys)
    assert json.loads(ran.stdout)["service"]["away"] is away


def test_status_results_option_limits_the_results(codeimport, capsys):
    code_import = codeimport.factory.makeCodeImport()
    for _ in range(3):
        codeimport.factory.makeCodeImportResult(code_import=code_import)
    codeimport.commit()

    ran = call(status.main, "--results", "2", "--dsn", codeimport.dsn,
               capsys=capsys)

    assert "Latest results (2)" in ran.stdout


@pytest.mark.parametrize("args, message", [
    (["--results", "-1"], "argument --results: must not be negative"),
    (["--results", "many"], "argument --results: not a number"),
    (["--dsn", "host=/nonexistent dbname=x"], "database error:"),
])
def test_status_with_bad_input_prints_one_line(args, message, capsys):
    ran = call(status.main, *args, capsys=capsys)

    assert ran.returncode in (1, 2)
    assert ran.stdout == ""
    assert ran.stderr.count("\n") == 1
    assert message in ran.stderr


def test_render_measures_ages_from_the_database_time():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    report = status.StatusReport(
        now=now,
        machines=[("alpha", "ONLINE", now - timedelta(seconds=901), 0),
                  ("beta", "OFFLINE", now - timedelta(hours=2), 0),
                  ("gamma", "QUIESCING", now - timedelta(seconds=12), 1)],
        running=[(7, "~a/b/c", "gamma", now - timedelta(hours=1),
                  now - timedelta(seconds=301), "one\ntwo\n")],
        due_later=1, next_due=now + timedelta(minutes=5))

    lines = status.render(report).splitlines()

    assert lines[1:5] == [
        "  HOSTNAME  STATE      HEARTBEAT            JOBS",
        "  alpha     ONLINE     15m 01s ago (stale)  0",
        "  beta      OFFLINE    2h 00m ago           0",
        "  gamma     QUIESCING  12s ago              1",
    ]
    assert lines[8] == (
        "  7    ~a/b/c  gamma    2026-01-02 02:04:05  5m 01s ago (stale)"
        "  two")
    assert lines[10] == (
        "Pending jobs: 0 due now (0 requested), 1 later (next in 5m 00s)")


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (59, "59s"), (60, "1m 00s"), (3599, "59m 59s"),
    (3600, "1h 00m"), (86399, "23h 59m"), (90000, "1d 01h"), (-5, "0s"),
])
def test_format_duration(seconds, text):
    assert status.format_duration(timedelta(seconds=seconds)) == text


HOSTILE_HOST = "evil\x1b[31mRED\x1b[0m\nFAKE    ONLINE  1s ago  0"
HOSTILE_TAIL = ("fetching\r\n\x1b]0;owned\x07\x1b[2J\u009b31mred"
                "\u202eevil\u2066\u200f\u061c\t" + "w" * 500)


def test_status_shows_hostile_host_names_and_tails_harmlessly(
        codeimport, capsys):
    """A host name registered before names were checked, and a log tail
    from a hostile source: escapes, newlines, C1 and bidi controls are
    shown as escapes, and long values are cut."""
    factory, store = codeimport.factory, codeimport.store
    store.execute("INSERT INTO codeimportmachine (hostname, state)"
                  " VALUES (?, 20)", (HOSTILE_HOST,))
    machine = codeimport.utilities.machines.getByHostname(HOSTILE_HOST)
    running = factory.makeRunningJob(machine=machine)
    codeimport.utilities.workflow.updateHeartbeat(running, HOSTILE_TAIL)
    codeimport.commit()

    ran = call(status.main, "--dsn", codeimport.dsn, capsys=capsys)

    assert ran.returncode == 0, ran.stderr
    out = ran.stdout
    for char in "\x1b\x07\x9b\u202e\u2066\u200f\u061c\r\t":
        assert char not in out
    lines = out.splitlines()
    # One row per machine and per job: nothing forged.
    assert lines[0] == "Machines (1)"
    assert lines[2].startswith(
        "  evil\\x1b[31mRED\\x1b[0m\\nFAKE    ONLINE  1s ago  0  ONLINE")
    assert lines[3] == ""
    assert lines[4] == "Running jobs (1)"
    tail = lines[6].split("  ")[-1].strip()
    assert tail == ("\\x1b]0;owned\\x07\\x1b[2J\\x9b31mred\\u202eevil"
                    "\\u2066\\u200f\\u06\N{HORIZONTAL ELLIPSIS}")
    assert len(tail) == status.LOG_TAIL_WIDTH
    assert lines[7] == ""
    assert max(len(line) for line in lines) < 400


def test_last_line_skips_blank_lines_and_shortens():
    assert status.last_line(None) == ""
    assert status.last_line("one\ntwo  \n\n") == "two"
    assert len(status.last_line("y" * 200)) == status.LOG_TAIL_WIDTH
