"""The operators' command line: everything the web interface does.

Commands run in this process (`call`), on the real database, in the
web tests' world (`webhelpers.world`).
"""

from __future__ import annotations

import json

import pytest
from scripthelpers import call
from scripthelpers import cli

from codeimport.cli import main as codeimport_main
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportReviewStatus


@pytest.fixture
def run(codeimport, capsys):
    def run(*args):
        return call(codeimport_main, *args, "--dsn", codeimport.dsn,
                    capsys=capsys)
    return run


def test_imports_lists_with_filters(world, run):
    ran = run("imports")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "IMPORT", "SOURCE"]
    assert [line.split()[1] for line in lines[1:]] == [
        "~alice/hello/trunk", "~bob/world/main", "~carol/svnproj/trunk"]
    assert "FAILING" in lines[1] and "FAILURE" in lines[1]
    assert "running" in lines[2]
    failing = run("imports", "--filter", "failing").stdout.splitlines()
    assert len(failing) == 2 and "~alice/hello/trunk" in failing[1]
    assert run("imports", "--search", "nothing-like-it").stdout == (
        "No imports match.\n")


def test_imports_json(world, run):
    rows = json.loads(run("imports", "--json", "--sort", "freshness").stdout)
    assert [r["unique_name"] for r in rows] == [
        "~bob/world/main", "~carol/svnproj/trunk", "~alice/hello/trunk"]
    alice = rows[2]
    assert alice["review_status"] == "FAILING"
    assert alice["last_status"] == "FAILURE"
    assert alice["consecutive_failures"] == 1
    assert 8 * 3600 <= alice["freshness_seconds"] < 9 * 3600
    assert rows[0]["job_state"] == "RUNNING"
    assert rows[1]["rcs_type"] == "BZR_SVN"


@pytest.mark.parametrize("args, message", [
    (("imports", "--filter", "odd"), "invalid choice"),
    (("imports", "--limit", "-1"), "must not be negative"),
    (("show", "~nobody/x/y"), "No code import targets ~nobody/x/y."),
    (("show", "424242"), "No code import has id 424242."),
    (("suspend", "~nobody/x/y"), "No code import targets"),
    (("retry", "1"), "the following arguments are required: --by"),
    (("person", "add", "Bad Name"), "Bad Name"),
    (("team", "add-member", "alice", "bob"), "alice is a person, not a team"),
    (("team", "add-member", "vcs-imports", "nobody"),
     "No person called 'nobody'"),
    (("machines", "--events", "x"), "not a number"),
])
def test_bad_input_is_one_line_and_exit_2(world, run, args, message):
    ran = run(*args)
    assert ran.returncode == 2
    assert message in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1
    assert "Traceback" not in ran.stderr


def test_show_text(world, run):
    ran = run("show", "~alice/hello/trunk")
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout
    assert out.startswith(f"~alice/hello/trunk (import {world.failing.id})")
    assert "review status: FAILING" in out
    assert "consecutive failures: 1" in out
    assert "Job:\n  none" in out
    assert "Results (3):" in out and "hello.log" in out
    modify = [line for line in out.splitlines() if " MODIFY: " in line][0]
    assert "REVIEW_STATUS=FAILING, OLD_REVIEW_STATUS=REVIEWED" in modify
    running = run("show", str(world.running.id)).stdout
    assert "RUNNING" in running and "on importer-1" in running
    assert "  | <b>bold</b> & more" in running


def test_show_json_and_log(world, run):
    info = json.loads(run("show", "~alice/hello/trunk", "--json").stdout)
    assert info["review_status"] == "FAILING"
    assert [r["status"] for r in info["results"]] == [
        "FAILURE", "SUCCESS_NOCHANGE", "SUCCESS"]
    assert info["results"][0]["duration_seconds"] == 12
    assert [e["event_type"] for e in info["events"]] == ["CREATE", "MODIFY"]
    assert info["events"][1]["data"]["REVIEW_STATUS"] == "FAILING"
    result = info["results"][0]["id"]
    log = run("show", "~alice/hello/trunk", "--log", str(result))
    assert log.stdout == "cloning...\nfatal: gone\n"
    none = run("show", "~alice/hello/trunk", "--log",
               str(info["results"][1]["id"]))
    assert none.returncode == 2 and "has no log file" in none.stderr


def test_suspend_resume_invalidate(world, run, codeimport):
    name = "~carol/svnproj/trunk"
    for command, status in (("suspend", "SUSPENDED"), ("resume", "REVIEWED"),
                            ("invalidate", "INVALID")):
        ran = run(command, name, "--by", "victor")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.endswith(f"-> {status}\n")
        codeimport.abort()
        assert world.pending.review_status.name == status
    assert run("invalidate", name).stdout.endswith(
        "already INVALID; nothing changed\n")
    events = codeimport.utilities.events.getEventsForCodeImport(
        world.pending)
    assert [e.person.name for e in events
            if e.event_type == CodeImportEventType.MODIFY] == ["victor"] * 3


def test_retry(world, run, codeimport):
    ran = run("retry", "~alice/hello/trunk", "--by", "alice")
    assert ran.returncode == 0, ran.stderr
    assert "FAILING -> REVIEWED" in ran.stdout
    codeimport.abort()
    assert world.failing.review_status == CodeImportReviewStatus.REVIEWED
    assert world.failing.import_job.requesting_user.name == "alice"
    again = run("retry", "~alice/hello/trunk", "--by", "alice")
    assert again.returncode == 2 and "FAILING" in again.stderr


def test_person_and_team(world, run, codeimport):
    ran = run("person", "add", "dora", "--email", "dora@example.com",
              "--member-of", "vcs-imports")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "dora: created, member of vcs-imports\n"
    assert run("team", "add", "ops").stdout == "ops: team created\n"
    assert run("team", "add-member", "admins", "ops").stdout == (
        "ops: now a member of admins\n")
    assert run("team", "add-member", "ops", "dora").stdout == (
        "dora: now a member of ops\n")
    assert "nothing changed" in run(
        "team", "add-member", "ops", "dora").stdout
    codeimport.abort()
    persons = codeimport.utilities.persons
    dora = persons.getByName("dora")
    assert dora.inTeam(persons.getByName("admins"))
    assert dora.inTeam(persons.getByName("vcs-imports"))
    taken = run("person", "add", "dora")
    assert taken.returncode == 2


def test_machines(world, run):
    ran = run("machines", "--events", "2")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[1].split()[:2] == ["importer-1", "ONLINE"]
    assert "~bob/world/main" in lines[1]
    assert lines[3] == "importer-1:"
    assert [line.split()[2] for line in lines[4:]] == ["START", "ONLINE"]
    rows = json.loads(run("machines", "--json").stdout)
    assert rows[0]["hostname"] == "importer-1"
    assert rows[0]["running"] == ["~bob/world/main"]


def test_commands_run_as_programs(world, codeimport):
    # One real process, for the entry point and the JSON it prints.
    ran = cli("imports", "--json", "--filter", "running", dsn=codeimport.dsn)
    assert ran.returncode == 0, ran.stderr
    assert [r["unique_name"] for r in json.loads(ran.stdout)] == [
        "~bob/world/main"]


def test_status_json(world, run):
    report = json.loads(run("status", "--json").stdout)
    assert [m["hostname"] for m in report["machines"]] == ["importer-1"]
    assert report["machines"][0]["state"] == "ONLINE"
    assert report["machines"][0]["running_jobs"] == 1
    (running,) = report["running"]
    assert running["import"] == "~bob/world/main"
    assert running["log_tail"].endswith("<b>bold</b> & more")
    assert report["pending"]["due_now"] == 1
    assert [r["status"] for r in report["results"]] == [
        "FAILURE", "SUCCESS_NOCHANGE", "SUCCESS"]
    assert report["results"][0]["duration_seconds"] == 12
    assert report["puller"] is None


def test_text_output_shows_control_characters_escaped(world, run,
                                                      codeimport):
    # A hostile source's log tail must not drive the operator's terminal.
    codeimport.utilities.workflow.updateHeartbeat(
        world.running.import_job, "fetching\x1b]0;pwned\x07\nok\tdone")
    codeimport.commit()
    out = run("show", str(world.running.id)).stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "  | fetching\\x1b]0;pwned\\x07" in out
    assert "  | ok\\tdone" in out
    shown = json.loads(run("show", str(world.running.id), "--json").stdout)
    assert shown["job"]["logtail"].startswith("fetching\x1b]0;pwned\x07")


def test_listings_show_a_hostile_host_name_in_one_harmless_row(
        world, run, codeimport):
    # A host name stored before host names were checked.
    hostile = "evil\x1b[31m\nFAKE  ONLINE\u009b\u202e" + "h" * 300
    codeimport.store.execute(
        "UPDATE codeimportmachine SET hostname = ? WHERE hostname = ?",
        (hostile, "importer-1"))
    codeimport.commit()
    for command in (("machines", "--events", "1"), ("status",),
                    ("show", str(world.running.id))):
        out = run(*command).stdout
        for char in "\x1b\x9b\u202e":
            assert char not in out, command
        assert [line for line in out.splitlines()
                if line.lstrip().startswith("FAKE")] == [], command
        assert "evil\\x1b[31m\\nFAKE  ONLINE\\x9b\\u202ehhh" in out, command
        assert max(len(line) for line in out.splitlines()) < 250, command
