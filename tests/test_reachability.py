"""Outages never make a job or a machine silent (issue 13).

Silence is measured from the later of a job's heartbeat (a machine's
poll) and the end of the last outage of the scheduler service or its
database, as the service records it in ``codeimportservice``; while the
service is away nothing is silent.  See `codeimport.model.rules`.
"""

from __future__ import annotations

import pytest
from corehelpers import make_stale

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.model import rules
from codeimport.settings import Settings

HEARTBEAT = Settings().maximum_heartbeat_interval  # 300
OUTAGE = Settings().service_outage_after  # 60
MACHINE = Settings().machine_heartbeat_limit  # 900


def set_service(store, last_seen_age, reachable_age):
    """Write the service row: last seen and reachable since so many
    seconds ago (None for -infinity)."""
    store.flush()
    store.execute("DELETE FROM codeimportservice")
    since = ("'-infinity'::timestamptz" if reachable_age is None else
             f"CURRENT_TIMESTAMP - {reachable_age} * interval '1 second'")
    store.execute(
        "INSERT INTO codeimportservice VALUES (1, CURRENT_TIMESTAMP"
        f" - ? * interval '1 second', {since})", (last_seen_age,))
    store.invalidate()


def record(store, outage=OUTAGE):
    """Run the service's write; whether it ended an outage."""
    statement, layout = rules.positional(rules.RECORD_REACHABLE)
    return store.execute(statement, layout({"outage": outage})).get_one()[0]


def service_row(store):
    return store.execute(
        "SELECT CURRENT_TIMESTAMP - date_last_seen,"
        " isfinite(date_reachable_since),"
        " CASE WHEN isfinite(date_reachable_since)"
        "  THEN CURRENT_TIMESTAMP - date_reachable_since END"
        " FROM codeimportservice").get_one()


def stale_job(codeimport, age=HEARTBEAT + 1):
    job = codeimport.factory.makeRunningJob()
    make_stale(codeimport.store, job, age)
    return job


def silent_machine(codeimport, age=MACHINE + 1):
    machine = codeimport.factory.makeCodeImportMachine("silent", True)
    store = codeimport.store
    store.flush()
    store.execute("UPDATE codeimportmachine SET heartbeat = CURRENT_TIMESTAMP"
                  " - ? * interval '1 second' WHERE id = ?",
                  (age, machine.id))
    store.invalidate()
    return machine


def reclaimable_ids(codeimport):
    return [job.id for job in codeimport.utilities.jobs.getReclaimableJobs()]


# -- the service's record ----------------------------------------------------

def test_first_record_sees_no_outage(codeimport):
    store = codeimport.store
    assert record(store) is False
    last_seen, finite, _ = service_row(store)
    assert last_seen.total_seconds() == 0 and finite is False


def test_record_within_the_outage_limit_keeps_reachable_since(codeimport):
    store = codeimport.store
    set_service(store, OUTAGE - 5, 3600)
    assert record(store) is False
    _, finite, since = service_row(store)
    assert finite and since.total_seconds() == pytest.approx(3600)


def test_record_after_a_gap_ends_an_outage_now(codeimport):
    store = codeimport.store
    set_service(store, OUTAGE + 1, 3600)
    assert record(store) is True
    last_seen, finite, since = service_row(store)
    assert finite and since.total_seconds() == 0
    assert last_seen.total_seconds() == 0


# -- jobs --------------------------------------------------------------------

def test_without_a_service_record_heartbeats_alone_count(codeimport):
    job = stale_job(codeimport)
    assert reclaimable_ids(codeimport) == [job.id]


def test_service_up_for_long_stale_job_is_reclaimed(codeimport):
    job = stale_job(codeimport)
    job_id = job.id
    set_service(codeimport.store, 1, HEARTBEAT + 1)
    assert reclaimable_ids(codeimport) == [job_id]
    assert codeimport.utilities.watchdog.run().reclaimed_job_ids == [job_id]


def test_job_is_not_stale_until_the_limit_after_an_outage(codeimport):
    # The heartbeat is an hour old, but the service came back 10 s ago:
    # the job has HEARTBEAT seconds from then.
    job = stale_job(codeimport, 3600)
    set_service(codeimport.store, 1, 10)
    assert reclaimable_ids(codeimport) == []
    report = codeimport.utilities.watchdog.run()
    assert report.reclaimed_job_ids == []
    assert job.state == CodeImportJobState.RUNNING


def test_nothing_is_stale_while_the_service_is_away(codeimport):
    job = stale_job(codeimport, 3600)
    set_service(codeimport.store, OUTAGE + 1, None)
    assert reclaimable_ids(codeimport) == []
    assert codeimport.utilities.watchdog.run().reclaimed_job_ids == []
    assert job.state == CodeImportJobState.RUNNING


def test_getJobForMachine_reclaims_nothing_after_an_outage(codeimport):
    job = stale_job(codeimport, 3600)
    set_service(codeimport.store, 1, 10)
    codeimport.utilities.jobs.getJobForMachine("poller", 1)
    assert job.state == CodeImportJobState.RUNNING


def test_getJobForMachine_reclaims_when_the_service_was_up(codeimport):
    job = stale_job(codeimport)
    code_import = job.code_import
    set_service(codeimport.store, 1, HEARTBEAT + 1)
    codeimport.utilities.jobs.getJobForMachine("poller", 0)
    assert [r.status.name for r in code_import.results] == ["RECLAIMED"]


def test_a_reclaim_racing_a_comeback_is_refused_by_the_guard(codeimport):
    # The watchdog's reclaim re-checks staleness in its own statement.
    from codeimport.model.queue import NotStale
    job = stale_job(codeimport)
    set_service(codeimport.store, 1, 10)
    with pytest.raises(NotStale):
        codeimport.utilities.workflow.reclaimJobById(job.id, only_stale=True)


# -- machines ----------------------------------------------------------------

def test_silent_machine_goes_offline_when_the_service_was_up(codeimport):
    machine = silent_machine(codeimport)
    set_service(codeimport.store, 1, MACHINE + 1)
    assert codeimport.utilities.watchdog.run().offline_hostnames == [
        "silent"]
    assert machine.state == CodeImportMachineState.OFFLINE


@pytest.mark.parametrize("last_seen, since", [(1, 10), (OUTAGE + 1, None)])
def test_machine_silent_only_because_of_an_outage_stays(codeimport,
                                                        last_seen, since):
    machine = silent_machine(codeimport)
    set_service(codeimport.store, last_seen, since)
    assert codeimport.utilities.watchdog.run().offline_hostnames == []
    assert machine.state == CodeImportMachineState.ONLINE


# -- the service writes it ---------------------------------------------------

def test_service_records_reachability_and_notices_its_own_outage(
        codeimport, tmp_path):
    """A real ``codeimport serve`` writes the row; stopped for longer
    than ``service_outage_after`` and started again, it ends the outage
    (watched through the database's clock, not slept through)."""
    from codeimport.testing.endtoend import wait_for
    from codeimport.testing.server import XMLRPCTestServer

    settings = tmp_path / "service.ini"
    settings.write_text("[codeimport]\nservice_outage_after = 1\n")
    server = XMLRPCTestServer(
        codeimport.dsn, extra_args=["--settings-file", str(settings)])
    store = codeimport.store
    # The readers use the service's settings, as a deployment's should.
    codeimport.use_settings(Settings(service_outage_after=1))

    def row():
        codeimport.abort()
        return store.execute(
            "SELECT extract(epoch FROM CURRENT_TIMESTAMP - date_last_seen),"
            " isfinite(date_reachable_since),"
            " CASE WHEN isfinite(date_reachable_since) THEN extract(epoch"
            "  FROM CURRENT_TIMESTAMP - date_reachable_since) END"
            " FROM codeimportservice").get_one()

    try:
        server.start()
        first = wait_for(row)
        assert first[1] is False  # the first record ends no outage
        # It keeps writing: the row gets younger than it was.
        wait_for(lambda: row()[0] < 1)
        server.stop()
        wait_for(lambda: row()[0] > 1.5)  # an outage, by the DB's clock
        job = stale_job(codeimport, 3600)
        job_id = job.id
        codeimport.commit()
        # While the service is away, nothing is stale.
        assert reclaimable_ids(codeimport) == []
        server.start()
        wait_for(lambda: "reaches the database again" in server.log())
        _, finite, since = row()
        assert finite and since < HEARTBEAT
        assert reclaimable_ids(codeimport) == []
        assert codeimport.utilities.jobs.getById(job_id).state.name == (
            "RUNNING")
    finally:
        server.close()


# -- the recorder, in process -------------------------------------------------

def test_recorder_writes_until_stopped(codeimport):
    from codeimport.testing.endtoend import wait_for
    from codeimport.xmlrpc.reachability import ReachabilityRecorder

    recorder = ReachabilityRecorder(
        codeimport.dsn, Settings(service_outage_after=1))
    assert recorder.interval == pytest.approx(1 / 3)
    recorder.start()
    try:
        def seen():
            codeimport.abort()
            return codeimport.store.execute(
                "SELECT count(*) FROM codeimportservice").get_one()[0]
        wait_for(seen)
    finally:
        recorder.stop()
    assert not recorder._thread.is_alive()


def test_recorder_survives_a_database_it_cannot_reach(caplog):
    import logging

    from codeimport.testing.endtoend import wait_for
    from codeimport.xmlrpc.reachability import ReachabilityRecorder

    recorder = ReachabilityRecorder(
        "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=1",
        Settings(service_outage_after=1))
    with caplog.at_level(logging.INFO, logger="codeimport.xmlrpc"):
        recorder.start()
        try:
            wait_for(lambda: recorder._failing, timeout=30)
            # It keeps trying, and says so only once.
            wait_for(lambda: recorder._thread.is_alive(), timeout=1)
        finally:
            recorder.stop()
    warnings = [r for r in caplog.records
                if "cannot record" in r.getMessage()]
    assert len(warnings) == 1


def test_service_app_starts_and_stops_its_recorder(codeimport):
    from codeimport.xmlrpc.app import make_app
    from codeimport.xmlrpc.auth import Credentials

    app = make_app(codeimport.dsn, Credentials({"u": "secret-" * 3}),
                   settings=Settings(service_outage_after=1),
                   record_reachability=True)
    try:
        assert app.recorder is not None
    finally:
        app.close()
    assert not app.recorder._thread.is_alive()
    assert make_app(codeimport.dsn, Credentials({"u": "secret-" * 3})) \
        .recorder is None
