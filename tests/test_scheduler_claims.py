"""getJobForMachine: gardening, machines, limits and claim order
(§7.1, decisions D1 and D10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now
from corehelpers import make_stale
from corehelpers import set_fields

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.errors import CodeImportValidationError

State = CodeImportMachineState
DAY = timedelta(days=1)


@pytest.fixture
def jobs(codeimport):
    return codeimport.utilities.jobs


@pytest.fixture
def machine(codeimport):
    return codeimport.factory.makeCodeImportMachine(
        hostname="bazaar-importer", set_online=True)


def due_job(codeimport, days_ago, requested_by=None):
    """Return a pending job due `days_ago` days before now."""
    job = codeimport.factory.makeCodeImportJob()
    set_fields(codeimport.store, job,
               date_due=db_now(codeimport.store) - days_ago * DAY)
    if requested_by is not None:
        set_fields(codeimport.store, job, requesting_user=requested_by)
    return job


def test_getJobForMachine_nothing_due_returns_None(codeimport, jobs,
                                                   machine):
    assert jobs.getJobForMachine("bazaar-importer", 10) is None


def test_getJobForMachine_future_job_is_not_returned(codeimport, jobs,
                                                     machine):
    due_job(codeimport, -1)
    assert jobs.getJobForMachine("bazaar-importer", 10) is None


def test_getJobForMachine_job_due_now_is_returned_and_started(
        codeimport, jobs, machine):
    job = codeimport.factory.makeCodeImportJob()
    events = codeimport.new_events()
    claimed = jobs.getJobForMachine("bazaar-importer", 10)
    assert claimed is job
    assert job.state == CodeImportJobState.RUNNING
    assert job.machine is machine
    now = db_now(codeimport.store)
    assert job.date_started == job.heartbeat == now
    assert job.logtail == ""
    assert events.summary() == (
        f"START {job.code_import.branch.unique_name} bazaar-importer")
    [event] = list(events)
    assert event.person is None and event.items() == []


def test_getJobForMachine_running_job_is_never_returned(codeimport, jobs,
                                                        machine):
    codeimport.factory.makeRunningJob()
    assert jobs.getJobForMachine("bazaar-importer", 10) is None


def test_getJobForMachine_most_overdue_first_whatever_creation_order(
        codeimport, jobs, machine):
    two = due_job(codeimport, 2)
    ten = due_job(codeimport, 10)
    five = due_job(codeimport, 5)
    claimed = [jobs.getJobForMachine("bazaar-importer", 10)
               for _ in range(4)]
    assert claimed == [ten, five, two, None]


def test_getJobForMachine_requested_job_beats_more_overdue(codeimport, jobs,
                                                           machine):
    nopriv = codeimport.factory.makePerson()
    due_job(codeimport, 10)
    requested = due_job(codeimport, 1, requested_by=nopriv)
    assert jobs.getJobForMachine("bazaar-importer", 10) is requested


def test_getJobForMachine_among_requested_most_overdue_wins(codeimport, jobs,
                                                            machine):
    nopriv = codeimport.factory.makePerson()
    due_job(codeimport, 20)
    due_job(codeimport, 2, requested_by=nopriv)
    older = due_job(codeimport, 3, requested_by=nopriv)
    assert jobs.getJobForMachine("bazaar-importer", 10) is older


def test_getJobForMachine_equal_due_dates_lowest_id_first_D1(codeimport,
                                                             jobs, machine):
    same = db_now(codeimport.store) - DAY
    created = [codeimport.factory.makeCodeImportJob() for _ in range(3)]
    for job in reversed(created):
        set_fields(codeimport.store, job, date_due=same)
    claimed = [jobs.getJobForMachine("bazaar-importer", 10)
               for _ in range(3)]
    assert claimed == created


def test_getJobForMachine_requested_future_job_waits(codeimport, jobs,
                                                     machine):
    # Only requestJob moves a job's date; a request alone does not.
    nopriv = codeimport.factory.makePerson()
    due_job(codeimport, -1, requested_by=nopriv)
    assert jobs.getJobForMachine("bazaar-importer", 10) is None


def test_getJobForMachine_unknown_host_is_created_online_then_starts(
        codeimport, jobs):
    job = codeimport.factory.makeCodeImportJob()
    events = codeimport.new_events()
    claimed = jobs.getJobForMachine("newhost", 1)
    machine = codeimport.utilities.machines.getByHostname("newhost")
    assert claimed is job and job.machine is machine
    assert machine.state == State.ONLINE
    assert events.summary() == (
        "ONLINE newhost\n"
        f"START {job.code_import.branch.unique_name} newhost")
    assert list(events)[0].person is None


def test_getJobForMachine_new_machine_gets_heartbeat_D10(codeimport, jobs):
    jobs.getJobForMachine("newhost", 1)
    machine = codeimport.utilities.machines.getByHostname("newhost")
    assert machine.heartbeat == db_now(codeimport.store)


def test_getJobForMachine_new_machine_honours_worker_limit_D10(codeimport,
                                                               jobs):
    codeimport.factory.makeCodeImportJob()
    assert jobs.getJobForMachine("newhost", 0) is None
    machine = codeimport.utilities.machines.getByHostname("newhost")
    assert machine.state == State.ONLINE


def test_getJobForMachine_offline_machine_gets_nothing(codeimport, jobs):
    machine = codeimport.factory.makeCodeImportMachine(hostname="off")
    job = codeimport.factory.makeCodeImportJob()
    events = codeimport.new_events()
    assert jobs.getJobForMachine("off", 10) is None
    assert machine.heartbeat is None and machine.state == State.OFFLINE
    assert job.state == CodeImportJobState.PENDING
    assert events.summary() == ""


def test_getJobForMachine_quiescing_busy_machine_gets_nothing(codeimport,
                                                              jobs, machine):
    admin = codeimport.factory.makePerson()
    codeimport.factory.makeRunningJob(machine)
    machine.setQuiescing(admin)
    codeimport.factory.makeCodeImportJob()
    assert jobs.getJobForMachine("bazaar-importer", 10) is None
    assert machine.state == State.QUIESCING


def test_getJobForMachine_quiescing_idle_machine_goes_offline(codeimport,
                                                              jobs, machine):
    machine.setQuiescing(codeimport.factory.makePerson())
    codeimport.factory.makeCodeImportJob()
    events = codeimport.new_events()
    assert jobs.getJobForMachine("bazaar-importer", 10) is None
    assert machine.state == State.OFFLINE
    assert events.summary() == "OFFLINE bazaar-importer"
    assert list(events)[0].items()[0][1] == (
        CodeImportMachineOfflineReason.QUIESCED.name)


@pytest.mark.parametrize("limit, running, gets_job", [
    (1, 0, True), (1, 1, False), (2, 1, True), (2, 2, False), (3, 2, True),
])
def test_getJobForMachine_respects_worker_limit(codeimport, jobs, machine,
                                                limit, running, gets_job):
    for _ in range(running):
        codeimport.factory.makeRunningJob(machine)
    job = codeimport.factory.makeCodeImportJob()
    assert (jobs.getJobForMachine("bazaar-importer", limit) is job) == (
        gets_job)


def test_getJobForMachine_fills_up_to_the_limit(codeimport, jobs, machine):
    for _ in range(5):
        codeimport.factory.makeCodeImportJob()
    claimed = [jobs.getJobForMachine("bazaar-importer", 3)
               for _ in range(5)]
    assert [job is not None for job in claimed] == [True] * 3 + [False] * 2
    assert len(machine.current_jobs) == 3


def test_getJobForMachine_gardens_stale_jobs_first(codeimport, jobs,
                                                   machine):
    stale = codeimport.factory.makeRunningJob()  # on another machine
    other_host = stale.machine.hostname
    make_stale(codeimport.store, stale, 1000)
    code_import = stale.code_import
    unique_name = code_import.branch.unique_name
    events = codeimport.new_events()
    claimed = jobs.getJobForMachine("bazaar-importer", 10)
    # The reclaimed import's new job is due now, and it is the only one.
    assert claimed is code_import.import_job
    assert claimed.machine is machine
    assert events.summary() == (
        f"RECLAIM {unique_name} {other_host}\n"
        f"START {unique_name} bazaar-importer")
    [result] = code_import.results
    assert result.status == CodeImportResultStatus.RECLAIMED


def test_getJobForMachine_from_offline_machine_still_gardens(codeimport,
                                                             jobs):
    codeimport.factory.makeCodeImportMachine(hostname="off")
    stale = codeimport.factory.makeRunningJob()
    make_stale(codeimport.store, stale, 1000)
    code_import = stale.code_import
    assert jobs.getJobForMachine("off", 10) is None
    assert code_import.import_job.state == CodeImportJobState.PENDING
    assert code_import.import_job.id != stale.id


def test_getJobForMachine_fresh_running_job_is_not_gardened(codeimport, jobs,
                                                            machine):
    running = codeimport.factory.makeRunningJob()
    make_stale(codeimport.store, running, 100)
    assert jobs.getJobForMachine("bazaar-importer", 10) is None
    assert running.state == CodeImportJobState.RUNNING


@pytest.mark.parametrize("hostname", ["", "  ", None, 42])
def test_getJobForMachine_bad_hostname_raises(jobs, hostname):
    with pytest.raises(CodeImportValidationError) as info:
        jobs.getJobForMachine(hostname, 1)
    assert str(info.value) == f"Invalid machine host name: {hostname!r}"


@pytest.mark.parametrize("limit", [-1, "3", None, 1.5])
def test_getJobForMachine_bad_worker_limit_raises(jobs, limit):
    with pytest.raises(CodeImportValidationError) as info:
        jobs.getJobForMachine("host", limit)
    assert str(info.value) == (
        f"worker_limit must be a non-negative int: {limit!r}")
