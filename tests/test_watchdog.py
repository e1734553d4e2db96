"""The watchdog: stale jobs reclaimed, silent machines OFFLINE (D6)."""

from __future__ import annotations

import pytest
from corehelpers import event_data
from corehelpers import make_stale

from codeimport.database import make_store
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.model.watchdog import WatchdogReport
from codeimport.registration import build_utilities
from codeimport.settings import Settings

State = CodeImportMachineState
LIMIT = 900  # Settings().machine_heartbeat_limit


@pytest.fixture
def watchdog(codeimport):
    return codeimport.utilities.watchdog


def age_machine(store, machine, seconds, column="heartbeat"):
    store.flush()
    store.execute(
        f"UPDATE codeimportmachine SET {column} = CURRENT_TIMESTAMP"
        " - ? * interval '1 second' WHERE id = ?", (seconds, machine.id))
    store.invalidate()


def online(codeimport, hostname, heartbeat_age=0):
    machine = codeimport.factory.makeCodeImportMachine(hostname, True)
    age_machine(codeimport.store, machine, heartbeat_age)
    return machine


def test_run_with_nothing_to_do_reports_nothing(codeimport, watchdog):
    online(codeimport, "fresh")
    report = watchdog.run()
    assert (report.reclaimed_job_ids, report.offline_hostnames) == ([], [])
    assert str(report) == "reclaimed 0 job(s), took 0 machine(s) offline"


def test_run_reclaims_stale_jobs_only(codeimport, watchdog):
    f = codeimport.factory
    stale, fresh = f.makeRunningJob(), f.makeRunningJob()
    make_stale(codeimport.store, stale, 301)
    make_stale(codeimport.store, fresh, 299)
    stale_id, code_import = stale.id, stale.code_import
    report = watchdog.run()
    assert report.reclaimed_job_ids == [stale_id]
    assert fresh.state == CodeImportJobState.RUNNING
    assert code_import.results[0].status == CodeImportResultStatus.RECLAIMED
    assert code_import.import_job.state == CodeImportJobState.PENDING


@pytest.mark.parametrize("start", [State.ONLINE, State.QUIESCING])
def test_run_takes_silent_machine_offline_with_watchdog_reason(
        codeimport, watchdog, start):
    machine = online(codeimport, "silent", LIMIT + 1)
    if start == State.QUIESCING:
        machine.setQuiescing(codeimport.factory.makePerson())
    events = codeimport.new_events()
    report = watchdog.run()
    assert report.offline_hostnames == ["silent"]
    assert machine.state == State.OFFLINE
    assert events.summary() == "OFFLINE silent"
    [event] = list(events)
    assert event.person is None
    assert event_data(event) == {"OFFLINE_REASON": "WATCHDOG"}


def test_run_leaves_live_and_offline_machines_alone(codeimport, watchdog):
    live = online(codeimport, "live", LIMIT - 1)
    off = codeimport.factory.makeCodeImportMachine("off")
    age_machine(codeimport.store, off, 10 * LIMIT)
    events = codeimport.new_events()
    assert watchdog.run().offline_hostnames == []
    assert live.state == State.ONLINE and off.state == State.OFFLINE
    assert events.summary() == ""


def test_run_machine_that_never_polled_counts_from_creation(codeimport,
                                                            watchdog):
    store = codeimport.store
    young = codeimport.factory.makeCodeImportMachine("young", True)
    old = codeimport.factory.makeCodeImportMachine("old", True)
    age_machine(store, old, LIMIT + 1, "date_created")
    assert young.heartbeat is None and old.heartbeat is None
    assert watchdog.run().offline_hostnames == ["old"]
    assert young.state == State.ONLINE


def test_run_lists_offline_machines_by_hostname(codeimport, watchdog):
    for name in ("charlie", "alpha", "bravo"):
        online(codeimport, name, 2 * LIMIT)
    report = watchdog.run()
    assert report.offline_hostnames == ["alpha", "bravo", "charlie"]
    assert str(report) == (
        "reclaimed 0 job(s), took 3 machine(s) offline"
        " ['alpha', 'bravo', 'charlie']")


def test_run_reclaims_jobs_of_the_machines_it_takes_offline(codeimport,
                                                            watchdog):
    machine = online(codeimport, "dead")
    job = codeimport.factory.makeRunningJob(machine)
    make_stale(codeimport.store, job, 1000)
    age_machine(codeimport.store, machine, 2 * LIMIT)
    job_id = job.id
    report = watchdog.run()
    assert report.reclaimed_job_ids == [job_id]
    assert report.offline_hostnames == ["dead"]
    assert str(report) == (
        f"reclaimed 1 job(s) [{job_id}], took 1 machine(s) offline ['dead']")


def test_run_follows_configured_machine_limit(codeimport):
    machine = online(codeimport, "m", 120)
    assert codeimport.utilities.watchdog.run().offline_hostnames == []
    custom = codeimport.use_settings(Settings(machine_heartbeat_limit=60))
    assert custom.watchdog.run().offline_hostnames == ["m"]
    assert machine.state == State.OFFLINE


def test_report_is_a_plain_value():
    report = WatchdogReport([1, 2], ["h"])
    assert str(report) == "reclaimed 2 job(s) [1, 2], took 1 machine(s)" \
        " offline ['h']"


# -- concurrency: SKIP LOCKED, never waiting --------------------------------

@pytest.fixture
def second(codeimport):
    """Utilities on a second connection to the same database."""
    store = make_store(codeimport.dsn)
    yield build_utilities(lambda: store), store
    store.rollback()
    store.close()


def test_two_watchdogs_at_once_handle_each_row_once(codeimport, second):
    other, other_store = second
    f = codeimport.factory
    job = f.makeRunningJob()
    make_stale(codeimport.store, job, 1000)
    online(codeimport, "silent", 2 * LIMIT)
    job_id = job.id
    codeimport.commit()

    first_report = codeimport.utilities.watchdog.run()  # holds its locks
    second_report = other.watchdog.run()  # skips them, does not wait
    assert (first_report.reclaimed_job_ids,
            first_report.offline_hostnames) == ([job_id], ["silent"])
    assert (second_report.reclaimed_job_ids,
            second_report.offline_hostnames) == ([], [])
    codeimport.commit()
    other_store.rollback()
    again = other.watchdog.run()
    assert (again.reclaimed_job_ids, again.offline_hostnames) == ([], [])


def test_watchdog_skips_a_machine_that_is_polling_now(codeimport, second):
    other, other_store = second
    online(codeimport, "poller", 2 * LIMIT)
    codeimport.commit()
    # The machine polls in the other session; its row is locked until
    # that session commits, with a fresh heartbeat.
    assert other.jobs.getJobForMachine("poller", 1) is None
    assert codeimport.utilities.watchdog.run().offline_hostnames == []
    other_store.commit()
    codeimport.abort()
    assert codeimport.utilities.watchdog.run().offline_hostnames == []
    machine = codeimport.utilities.machines.getByHostname("poller")
    assert machine.state == State.ONLINE
