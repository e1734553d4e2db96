"""One configuration per store: configured settings never revert.

Regression tests for the bug where a record's collaborators were built
with the default settings and rebound the store to them mid-transaction
(a new job due after the default interval, ``--exclude-host`` dropped).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now

from codeimport import database
from codeimport.enums import CodeImportMachineOfflineReason as Offline
from codeimport.enums import CodeImportMachineState as MachineState
from codeimport.enums import CodeImportResultStatus as S
from codeimport.enums import CodeImportReviewStatus as Review
from codeimport.errors import ConfigurationError
from codeimport.model.context import context_of
from codeimport.registration import build_utilities
from codeimport.settings import Settings

CONFIGURED = Settings(
    default_interval_git=60,
    blacklisted_hostnames=("internal.example",),
    consecutive_failure_limit=3,
    mainsite_hostname="code.example.org",
)


@pytest.fixture
def world(codeimport):
    """A configured fixture: a REVIEWED Git import with a PENDING job, an
    ONLINE machine and a person."""
    u = codeimport.use_settings(CONFIGURED)
    factory = codeimport.factory
    code_import = factory.makeCodeImport()
    return u, code_import, factory.makeCodeImportMachine(set_online=True), \
        factory.makePerson()


def _machine_cycle(u, code_import, machine, person):
    machine.setQuiescing(person, "maintenance")
    machine.setOnline(person)
    machine.setOffline(Offline.STOPPED, person)
    u.machines.new("another", state=MachineState.ONLINE)


def _review_cycle(u, code_import, machine, person):
    code_import.updateFromData({"review_status": Review.SUSPENDED}, person)
    code_import.updateFromData({"review_status": Review.REVIEWED}, person)
    code_import.updateURL("http://example.com/moved", person)


def _request(u, code_import, machine, person):
    code_import.requestImport(person)


def _claim_and_fail(u, code_import, machine, person):
    job = u.jobs.getJobForMachine(machine.hostname, 1)
    u.workflow.finishJob(job, S.FAILURE, None)


def _claim_and_reclaim(u, code_import, machine, person):
    job = u.jobs.getJobForMachine("new-machine", 1)
    u.workflow.reclaimJob(job)
    u.watchdog.run()


def _fail_to_the_limit(u, code_import, machine, person):
    for _ in range(CONFIGURED.consecutive_failure_limit):
        code_import.requestImport(person)
        job = u.jobs.getJobForMachine(machine.hostname, 1)
        u.workflow.finishJob(job, S.FAILURE, None)
    code_import.tryFailingImportAgain(person)


def _read_everything(u, code_import, machine, person):
    code_import.results, code_import.consecutive_failure_count
    machine.current_jobs, machine.events, machine.offline_reason
    u.files.create("log.txt", b"x")
    u.persons.newTeam("team-x")
    u.branches.getByUniqueName(code_import.branch.unique_name)
    u.code_imports.new(person, "p", "other", code_import.rcs_type,
                       code_import.target_rcs_type,
                       url="http://example.com/other")


@pytest.mark.parametrize("action", [
    _machine_cycle, _review_cycle, _request, _claim_and_fail,
    _claim_and_reclaim, _fail_to_the_limit, _read_everything,
])
def test_configured_settings_survive_every_method(world, action):
    u, code_import, machine, person = world
    action(u, code_import, machine, person)
    assert context_of(code_import).settings is CONFIGURED
    assert context_of(machine) is u
    assert code_import.effective_update_interval == timedelta(seconds=60)
    job = code_import.import_job
    if job is not None:
        assert job.makeWorkerArguments()[-2:] == [
            "--exclude-host", "internal.example"]


def test_exclude_host_is_kept_after_a_machine_goes_online(world):
    u, code_import, _, _ = world
    job = code_import.import_job
    assert job.makeWorkerArguments()[-2:] == [
        "--exclude-host", "internal.example"]
    u.machines.new("fresh").setOnline()
    assert job.makeWorkerArguments()[-2:] == [
        "--exclude-host", "internal.example"]


def test_rereviewed_import_is_due_after_the_configured_interval(
        codeimport, world):
    u, code_import, machine, person = world
    job = u.jobs.getJobForMachine(machine.hostname, 1)
    started = job.date_started
    u.workflow.finishJob(job, S.SUCCESS, None)
    code_import.updateFromData({"review_status": Review.SUSPENDED}, person)
    code_import.updateFromData({"review_status": Review.REVIEWED}, person)
    expected = max(started + timedelta(seconds=60), db_now(codeimport.store))
    assert code_import.import_job.date_due == expected


def test_a_store_serves_one_configuration(codeimport):
    store = codeimport.store
    codeimport.utilities.persons.getByName("nobody")
    other = build_utilities(lambda: store, Settings(default_interval_git=7))
    with pytest.raises(ConfigurationError) as raised:
        other.persons.getByName("nobody")
    assert "other settings" in str(raised.value)
    # Equal settings are the same configuration: accepted, and the
    # first context stays the one records use.
    same = build_utilities(lambda: store, codeimport.settings)
    person = same.persons.new("somebody")
    assert context_of(person) is codeimport.utilities


def test_a_record_of_an_unconfigured_store_says_so(codeimport):
    store = database.make_store(codeimport.dsn)
    try:
        code_import = codeimport.factory.makeCodeImport()
        codeimport.commit()
        loaded = store.get(type(code_import), code_import.id)
        with pytest.raises(ConfigurationError) as raised:
            loaded.effective_update_interval
        assert "configured store" in str(raised.value)
    finally:
        store.rollback()
        store.close()


def test_a_utility_belongs_to_one_configuration(codeimport):
    u = codeimport.utilities
    with pytest.raises(ConfigurationError):
        u.workflow._attach(u)
    other = build_utilities(codeimport.get_store, Settings())
    with pytest.raises(ConfigurationError):
        type(u.workflow)(codeimport.get_store, Settings(), u.events,
                         u.queue)._attach(other)
