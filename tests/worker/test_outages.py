"""Outages never cost work (issue 13): real processes, real PostgreSQL.

* the database stopped for longer than the heartbeat limit (a cluster of
  the test's own): no healthy job is reclaimed when it returns;
* the service stopped for longer than the heartbeat limit while imports
  finish: every result is recorded, and mirrored, once it returns;
* a result kept in the machine's spool survives its monitor and its
  dispatcher being killed, and is recorded as a late result when its job
  was reclaimed meanwhile, with the mirror request;
* with the spool lost too, the rerun that finds nothing new
  (SUCCESS_NOCHANGE) still requests the mirror: the target changed since
  the last report.

The sources are served by ``git daemon``, which holds the fetches while
the test sets up the outage, so each job is RUNNING and healthy for as
long as the test needs.  Time is driven by events (the database's clock,
the service's log, processes' exit statuses); the only wait on the wall
clock is the database outage itself, checked afterwards by the
database's clock.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from codeimport import database
from codeimport.enums import CodeImportEventType as Event
from codeimport.model.watchdog import WatchdogReport
from codeimport.registration import build_utilities
from codeimport.settings import Settings
from codeimport.testing import postgres
from codeimport.testing.endtoend import Dispatcher
from codeimport.testing.endtoend import ImportHarness
from codeimport.testing.endtoend import wait_for
from codeimport.testing.vcs.git import GitDaemon
from codeimport.testing.vcs.git import add_commits
from codeimport.testing.vcs.git import git_refs
from codeimport.testing.vcs.git import make_history

HEARTBEAT = 3  # maximum_heartbeat_interval, seconds
SETTINGS = {
    "maximum_heartbeat_interval": HEARTBEAT,
    "service_outage_after": 1,
    "machine_heartbeat_limit": 600,
}


# -- helpers ------------------------------------------------------------------

class OwnDatabase:
    """What `ImportHarness` needs of the ``codeimport`` fixture, on a
    database of the test's own (the harness registers through it)."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.store = database.make_store(dsn)
        self.utilities = build_utilities(lambda: self.store)
        counter = itertools.count(1)

        class Factory:
            @staticmethod
            def getUniqueString(prefix="generic"):
                return f"{prefix}-{next(counter)}"

        self.factory = Factory()

    def abort(self) -> None:
        self.store.rollback()

    def reconnect(self) -> None:
        """A new store, after an outage broke the old one's connection."""
        try:
            self.store.close()
        except Exception:
            pass
        self.store = database.make_store(self.dsn)

    def close(self) -> None:
        self.store.close()


class Cluster:
    """An embedded PostgreSQL of the test's own, which it may stop."""

    def __init__(self):
        import pgserver
        from pgserver._commands import pg_ctl

        self._pg_ctl = pg_ctl
        # Short, for the socket path's length limit.
        self.pgdata = tempfile.mkdtemp(prefix="ci-outage-")
        self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        server = postgres.Server(self.server.get_uri(), "embedded")
        self.dsn = postgres.create_database(server, "outage")
        database.install(self.dsn)

    def stop(self) -> None:
        self._pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.server.pgdata,
                     user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.pgdata, ignore_errors=True)


def watchdog_once(dsn: str, settings_file) -> subprocess.CompletedProcess:
    """One round of the real ``codeimport watchdog``."""
    return subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "watchdog", "--once",
         "--dsn", dsn, "--settings-file", str(settings_file)],
        capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)


def library_watchdog(dsn: str) -> WatchdogReport:
    """One round of the library's watchdog, as fast as the test can."""
    store = database.make_store(dsn, role="importd")
    try:
        report = build_utilities(lambda: store, Settings(**SETTINGS)) \
            .watchdog.run()
        store.commit()
        return report
    finally:
        store.close()


def statuses(world, code_import) -> list[str]:
    world.abort()
    return [result.status.name for result in
            sorted(code_import.results, key=lambda result: result.id)]


def heartbeat_age(world, job_id) -> float:
    world.abort()
    row = world.store.execute(
        "SELECT extract(epoch FROM CURRENT_TIMESTAMP - heartbeat)"
        " FROM codeimportjob WHERE id = ?", (job_id,)).get_one()
    return -1.0 if row is None else float(row[0])


def fetching(world, code_import, daemon, count=1):
    """The import's job is RUNNING and its worker is held fetching."""
    world.abort()
    job = code_import.import_job
    return (job is not None and job.state.name == "RUNNING"
            and "Fetching" in (job.logtail or "")
            and daemon.waiting >= count)


def signal_all(pids, signum) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


@pytest.fixture
def daemon(tmp_path):
    served = GitDaemon(tmp_path / "served").start()
    yield served
    served.gate.set()
    served.close()


# -- the database away -------------------------------------------------------

def test_database_outage_reclaims_no_healthy_job(tmp_path, daemon):
    cluster = Cluster()
    world = OwnDatabase(cluster.dsn)
    harness = ImportHarness(world, tmp_path / "fleet", settings=SETTINGS)
    settings_file = tmp_path / "fleet" / "service.ini"
    try:
        source = make_history(daemon.path("project.git"), commits=5)
        code_import = harness.register("git", daemon.url("project.git"))
        daemon.stall(after=1)  # the listing passes, the fetch waits
        machine = harness.dispatcher("importer-1")
        wait_for(lambda: fetching(world, code_import, daemon))
        job_id = code_import.import_job.id
        # The machine is healthy but cannot get a heartbeat through
        # while the database is away: hold its monitor, so that none
        # slips through in the moment the database is back either.
        monitors = machine.monitorsAndWorkers()
        signal_all(monitors, signal.SIGSTOP)
        world.abort()
        cluster.stop()
        down_at = time.monotonic()
        assert watchdog_once(cluster.dsn, settings_file).returncode == 1
        wait_for(lambda: time.monotonic() - down_at > HEARTBEAT + 1,
                 timeout=60)
        cluster.start()
        # The watchdog's first round after the return, at once.
        report = wait_for(lambda: _try(library_watchdog, cluster.dsn))
        assert report.reclaimed_job_ids == []
        world.reconnect()
        code_import = world.utilities.code_imports.get(code_import.id)
        # The job was stale by its heartbeat: only the rule saved it.
        assert heartbeat_age(world, job_id) > HEARTBEAT
        wait_for(lambda: "reaches the database again"
                 in harness.server.log())
        round_ = watchdog_once(cluster.dsn, settings_file)
        assert round_.returncode == 0, round_.stderr
        assert "reclaimed 0 job(s)" in round_.stderr
        assert library_watchdog(cluster.dsn).reclaimed_job_ids == []
        signal_all(monitors, signal.SIGCONT)
        wait_for(lambda: 0 <= heartbeat_age(world, job_id) < 1)
        daemon.gate.set()
        wait_for(lambda: statuses(world, code_import) == ["SUCCESS"])
        assert git_refs(harness.targetPath(code_import)) == git_refs(source)
        world.abort()
        assert world.store.execute(
            "SELECT count(*) FROM codeimportevent WHERE entry_type = ?",
            (Event.RECLAIM.value,)).get_one()[0] == 0
        assert machine.stop() == 0
    finally:
        with contextlib.suppress(Exception):  # its store saw the outage
            harness.close()
        world.close()
        cluster.close()


def _try(function, *args):
    """`function(*args)`, or None while the database refuses."""
    try:
        return function(*args)
    except Exception:
        return None


# -- the service away ---------------------------------------------------------

def test_service_outage_loses_no_result_and_no_mirror(
        codeimport, tmp_path, daemon):
    # Machines too are silent only while they could be heard.
    harness = ImportHarness(codeimport, tmp_path / "fleet", settings=dict(
        SETTINGS, machine_heartbeat_limit=HEARTBEAT))
    settings_file = tmp_path / "fleet" / "service.ini"
    server = harness.server
    other = GitDaemon(tmp_path / "served-too").start()
    daemons = (daemon, other)
    try:
        imports = []
        for served in daemons:  # one daemon each: one fetch held each
            make_history(served.path("project.git"), commits=5)
            imports.append(harness.register("git",
                                            served.url("project.git")))
            served.stall(after=1)
        machine = harness.dispatcher("importer-1", max_jobs=2)
        wait_for(lambda: all(fetching(codeimport, ci, served)
                             for ci, served in zip(imports, daemons)))
        job_ids = [ci.import_job.id for ci in imports]
        server.stop()
        # The imports finish while nobody can hear them.
        for served in daemons:
            served.gate.set()
        spool = machine.log_dir / "spool"
        wait_for(lambda: sorted(os.listdir(spool)) == sorted(
            str(job_id) for job_id in job_ids) if spool.exists() else False)
        # Longer than the heartbeat limit, by the database's clock; the
        # watchdog, which reaches the database, reclaims nothing.
        wait_for(lambda: min(heartbeat_age(codeimport, job_id)
                             for job_id in job_ids) > HEARTBEAT + 1,
                 timeout=60)
        round_ = watchdog_once(codeimport.dsn, settings_file)
        assert "reclaimed 0 job(s)" in round_.stderr, round_.stderr
        server.start()
        assert library_watchdog(codeimport.dsn).reclaimed_job_ids == []
        for code_import in imports:
            wait_for(lambda: statuses(codeimport, code_import) == [
                "SUCCESS"])
            codeimport.abort()
            assert code_import.branch.next_mirror_time is not None
        wait_for(lambda: os.listdir(spool) == [])
        codeimport.abort()
        assert codeimport.store.execute(
            "SELECT count(*) FROM codeimportevent WHERE entry_type IN"
            " (?, ?)", (Event.RECLAIM.value, Event.OFFLINE.value)
        ).get_one()[0] == 0
        assert machine.stop() == 0
    finally:
        harness.close()
        other.gate.set()
        other.close()


# -- the spool, a restart and a late result -----------------------------------

def test_spooled_result_survives_restarts_and_is_recorded_late(
        codeimport, tmp_path, daemon):
    harness = ImportHarness(codeimport, tmp_path / "fleet", settings=SETTINGS)
    settings_file = tmp_path / "fleet" / "service.ini"
    server = harness.server
    try:
        source = make_history(daemon.path("project.git"), commits=5)
        code_import = harness.register("git", daemon.url("project.git"))
        daemon.stall(after=1)
        machine = harness.dispatcher("importer-1", max_jobs=1)
        wait_for(lambda: fetching(codeimport, code_import, daemon))
        job_id = code_import.import_job.id
        server.stop()
        daemon.gate.set()
        entry = machine.log_dir / "spool" / str(job_id)
        wait_for(lambda: (entry / "result.json").exists())
        # The machine dies with its result unreported: the dispatcher
        # and the monitor (still retrying) are killed.
        machine.killMachine()
        server.start()
        # No heartbeat comes any more: the watchdog reclaims the job
        # once the limit has passed since the service came back.
        wait_for(lambda: "RECLAIMED" in statuses(codeimport, code_import)
                 or (watchdog_once(codeimport.dsn, settings_file)
                     and False), timeout=60)
        assert statuses(codeimport, code_import) == ["RECLAIMED"]
        codeimport.abort()
        assert code_import.branch.next_mirror_time is None
        # The machine comes back: its new dispatcher reports the result.
        again = Dispatcher(server.scheduler_url, machine.directory,
                           "importer-1", max_jobs=1,
                           target_store=harness.target_store)
        wait_for(lambda: statuses(codeimport, code_import)[:2] == [
            "RECLAIMED", "SUCCESS"])
        codeimport.abort()
        assert code_import.branch.next_mirror_time is not None
        assert code_import.date_last_successful is not None
        events = [
            (event.event_type.name,
             {kind.name: value for kind, value in event.items()})
            for event in codeimport.utilities.events.getEventsForCodeImport(
                code_import)]
        late = [data for kind, data in events
                if kind == "FINISH" and "RECLAIMED_JOB_ID" in data]
        assert [data["RECLAIMED_JOB_ID"] for data in late] == [str(job_id)]
        assert "Late result SUCCESS" in late[0]["MESSAGE"]
        assert not entry.exists()
        # The successor runs on; the lost run already published.
        wait_for(lambda: len(statuses(codeimport, code_import)) == 3)
        assert statuses(codeimport, code_import)[2] == "SUCCESS_NOCHANGE"
        assert git_refs(harness.targetPath(code_import)) == git_refs(source)
        assert again.stop() == 0
    finally:
        harness.close()


def test_nochange_after_a_lost_success_still_asks_for_the_mirror(
        codeimport, tmp_path, daemon):
    """The probe's finding 4, with the spool lost too (a machine whose
    disk died): the run that published is never reported, and its
    rerun, which finds nothing new, still requests the mirror, because
    the target changed since the last report."""
    harness = ImportHarness(codeimport, tmp_path / "fleet", settings=SETTINGS)
    settings_file = tmp_path / "fleet" / "service.ini"
    server = harness.server
    try:
        source = make_history(daemon.path("project.git"), commits=5)
        code_import = harness.register("git", daemon.url("project.git"))
        assert harness.run(code_import).status == "SUCCESS"
        codeimport.abort()
        # The puller mirrors it: no mirror is due any more.
        codeimport.store.execute(
            "UPDATE branch SET next_mirror_time = NULL WHERE id = ?",
            (code_import.branch.id,))
        codeimport.commit()
        add_commits(source, 3)  # new work
        harness.request(code_import)
        daemon.stall(after=1)
        machine = harness.dispatcher("importer-1", max_jobs=1)
        wait_for(lambda: fetching(codeimport, code_import, daemon))
        job_id = code_import.import_job.id
        server.stop()
        daemon.gate.set()
        entry = machine.log_dir / "spool" / str(job_id)
        wait_for(lambda: (entry / "result.json").exists())
        machine.killMachine()
        shutil.rmtree(machine.log_dir / "spool")  # the disk is lost
        server.start()
        wait_for(lambda: "RECLAIMED" in statuses(codeimport, code_import)
                 or (watchdog_once(codeimport.dsn, settings_file)
                     and False), timeout=60)
        codeimport.abort()
        assert code_import.branch.next_mirror_time is None
        # Another machine runs the successor: nothing new to import.
        rerun = harness.run(code_import)
        assert rerun.status == "SUCCESS_NOCHANGE", rerun.log
        codeimport.abort()
        assert code_import.branch.next_mirror_time is not None
        assert git_refs(harness.targetPath(code_import)) == git_refs(source)
    finally:
        harness.close()
