"""The job workflow: preconditions, field effects and events (§5.3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now
from corehelpers import event_data
from corehelpers import set_fields
from corehelpers import utc

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidMachineState
from codeimport.errors import InvalidReviewStatus
from codeimport.errors import NoSuchCodeImportJob

State = CodeImportJobState
Review = CodeImportReviewStatus
S = CodeImportResultStatus
U = "~vcs-imports/gnome-terminal/import"


@pytest.fixture
def workflow(codeimport):
    return codeimport.utilities.workflow


@pytest.fixture
def vcs_imports(codeimport):
    return codeimport.utilities.persons.getByName("vcs-imports")


@pytest.fixture
def nopriv(codeimport):
    return codeimport.factory.makePerson(name="no-priv")


@pytest.fixture
def machine(codeimport):
    return codeimport.factory.makeCodeImportMachine(
        hostname="bazaar-importer", set_online=True)


@pytest.fixture
def gnome(codeimport, vcs_imports, nopriv):
    """The seed's ~vcs-imports/gnome-terminal/import, REVIEWED."""
    return make_gnome(codeimport, vcs_imports)


def make_gnome(codeimport, vcs_imports, **kwargs):
    registrant = codeimport.factory.makePerson(member_of=[vcs_imports])
    return codeimport.factory.makeCodeImport(
        registrant=registrant, owner=vcs_imports, project="gnome-terminal",
        branch_name="import", url="http://svn.example.org/svnroot/gt",
        rcs_type=RevisionControlSystems.BZR_SVN, **kwargs)


@pytest.fixture
def running(codeimport, workflow, gnome, machine):
    job = gnome.import_job
    workflow.startJob(job, machine)
    # The tests read job.code_import after the job is gone; a deleted
    # job can no longer load its references, so load it now.
    assert job.code_import is gnome
    return job


def count(store, table, **where):
    clause = " AND ".join(f"{k} = ?" for k in where) or "TRUE"
    return store.execute(f"SELECT count(*) FROM {table} WHERE {clause}",
                         tuple(where.values())).get_one()[0]


# -- newJob -----------------------------------------------------------------

@pytest.mark.parametrize("status", [
    Review.NEW, Review.INVALID, Review.SUSPENDED, Review.FAILING,
])
def test_newJob_when_not_reviewed_raises(codeimport, workflow, vcs_imports,
                                         status):
    code_import = make_gnome(codeimport, vcs_imports, review_status=status)
    with pytest.raises(InvalidReviewStatus) as info:
        workflow.newJob(code_import)
    assert str(info.value) == (
        f"Review status of {U} is not REVIEWED: {status.name}")


def test_newJob_when_job_exists_raises(workflow, gnome):
    with pytest.raises(InvalidJobState) as info:
        workflow.newJob(gnome)
    assert str(info.value) == f"Already associated to a CodeImportJob: {U}"


def fresh_reviewed(codeimport, vcs_imports):
    """A REVIEWED import without a job (as after a finished run)."""
    code_import = make_gnome(codeimport, vcs_imports,
                             review_status=Review.SUSPENDED)
    set_fields(codeimport.store, code_import, review_status=Review.REVIEWED)
    return code_import


def test_newJob_never_run_is_due_now_without_event(codeimport, workflow,
                                                   vcs_imports):
    code_import = fresh_reviewed(codeimport, vcs_imports)
    events = codeimport.new_events()
    job = workflow.newJob(code_import)
    assert code_import.import_job is job
    assert job.state == State.PENDING
    assert job.date_due == db_now(codeimport.store)
    assert events.summary() == ""


def test_newJob_recent_run_is_due_at_start_plus_interval(
        codeimport, workflow, vcs_imports):
    code_import = fresh_reviewed(codeimport, vcs_imports)
    now = db_now(codeimport.store)
    codeimport.factory.makeCodeImportResult(
        code_import, date_started=now - timedelta(hours=2),
        date_finished=now - timedelta(hours=1))
    job = workflow.newJob(code_import)
    assert job.date_due == now + timedelta(hours=4)


def test_newJob_old_run_is_due_now(codeimport, workflow, vcs_imports):
    code_import = fresh_reviewed(codeimport, vcs_imports)
    codeimport.factory.makeCodeImportResult(
        code_import, date_started=utc(2000, 1, 1),
        date_finished=utc(2000, 1, 2))
    assert workflow.newJob(code_import).date_due == db_now(codeimport.store)


def test_newJob_explicit_interval_replaces_default(codeimport, workflow,
                                                   vcs_imports):
    code_import = fresh_reviewed(codeimport, vcs_imports)
    now = db_now(codeimport.store)
    codeimport.factory.makeCodeImportResult(
        code_import, date_started=now - timedelta(hours=2),
        date_finished=now - timedelta(hours=1))
    job = workflow.newJob(code_import, timedelta(days=1))
    assert job.date_due == now + timedelta(hours=22)


def test_newJob_uses_most_recently_finished_result(codeimport, workflow,
                                                   vcs_imports):
    code_import = fresh_reviewed(codeimport, vcs_imports)
    now = db_now(codeimport.store)
    f = codeimport.factory
    # The last to finish started earliest (a long run).
    f.makeCodeImportResult(code_import, date_started=now - timedelta(hours=1),
                           date_finished=now - timedelta(minutes=50))
    f.makeCodeImportResult(code_import, date_started=now - timedelta(hours=5),
                           date_finished=now - timedelta(minutes=10))
    job = workflow.newJob(code_import)
    assert job.date_due == now + timedelta(hours=1)


# -- deletePendingJob -------------------------------------------------------

def test_deletePendingJob_when_reviewed_raises(workflow, gnome):
    with pytest.raises(InvalidReviewStatus) as info:
        workflow.deletePendingJob(gnome)
    assert str(info.value) == f"The review status of {U} is REVIEWED."


def test_deletePendingJob_without_job_raises(codeimport, workflow,
                                             vcs_imports):
    code_import = make_gnome(codeimport, vcs_imports,
                             review_status=Review.NEW)
    with pytest.raises(InvalidJobState) as info:
        workflow.deletePendingJob(code_import)
    assert str(info.value) == f"Not associated to a CodeImportJob: {U}"


def test_deletePendingJob_running_raises_associated_to(codeimport, workflow,
                                                       running):
    set_fields(codeimport.store, running.code_import,
               review_status=Review.INVALID)
    with pytest.raises(InvalidJobState) as info:
        workflow.deletePendingJob(running.code_import)
    assert str(info.value) == (
        f"The CodeImportJob associated to {U} is RUNNING.")


def test_deletePendingJob_deletes_without_event_or_result(codeimport,
                                                          workflow, gnome):
    set_fields(codeimport.store, gnome, review_status=Review.INVALID)
    events = codeimport.new_events()
    workflow.deletePendingJob(gnome)
    assert gnome.import_job is None
    assert events.summary() == ""
    assert count(codeimport.store, "codeimportresult") == 0


# -- requestJob -------------------------------------------------------------

def test_requestJob_future_job_becomes_due_now(codeimport, workflow, gnome,
                                               nopriv):
    job = gnome.import_job
    set_fields(codeimport.store, job, date_due=utc(2100, 1, 1))
    events = codeimport.new_events()
    workflow.requestJob(job, nopriv)
    assert job.requesting_user is nopriv
    assert job.date_due == db_now(codeimport.store)
    assert events.summary() == f"REQUEST {U} no-priv"
    assert event_data(list(events)[0]) == {"CODE_IMPORT": str(gnome.id)}


def test_requestJob_overdue_job_keeps_its_place(codeimport, workflow, gnome,
                                                nopriv):
    job = gnome.import_job
    set_fields(codeimport.store, job, date_due=utc(2000, 1, 1))
    workflow.requestJob(job, nopriv)
    assert job.date_due == utc(2000, 1, 1)
    assert job.requesting_user is nopriv


def test_requestJob_twice_raises_already_requested(codeimport, workflow,
                                                   gnome, nopriv):
    job = gnome.import_job
    workflow.requestJob(job, nopriv)
    events = codeimport.new_events()
    with pytest.raises(CodeImportAlreadyRequested) as info:
        workflow.requestJob(job, codeimport.factory.makePerson())
    assert str(info.value) == (
        f"The CodeImportJob associated with {U} was already requested by "
        "no-priv.")
    assert info.value.requesting_user is nopriv
    assert events.summary() == ""


def test_requestJob_running_raises(workflow, running, nopriv):
    with pytest.raises(InvalidJobState) as info:
        workflow.requestJob(running, nopriv)
    assert str(info.value) == (
        f"The CodeImportJob associated with {U} is RUNNING.")


def test_requestJob_without_user_raises(workflow, gnome):
    with pytest.raises(CodeImportValidationError) as info:
        workflow.requestJob(gnome.import_job, None)
    assert str(info.value) == "user must not be None"


# -- startJob ---------------------------------------------------------------

def test_startJob_sets_running_fields_and_writes_start(codeimport, workflow,
                                                       gnome, machine):
    job = gnome.import_job
    events = codeimport.new_events()
    workflow.startJob(job, machine)
    now = db_now(codeimport.store)
    assert job.state == State.RUNNING
    assert job.machine is machine
    assert job.date_started == job.heartbeat == now
    assert job.logtail == ""
    assert events.summary() == f"START {U} bazaar-importer"
    [event] = list(events)
    assert event.person is None and event_data(event) == {}
    codeimport.store.flush()  # satisfies valid_state


def test_startJob_running_raises(codeimport, workflow, running):
    other = codeimport.factory.makeCodeImportMachine(set_online=True)
    with pytest.raises(InvalidJobState) as info:
        workflow.startJob(running, other)
    assert str(info.value) == (
        f"The CodeImportJob associated with {U} is RUNNING.")


@pytest.mark.parametrize("state", [
    CodeImportMachineState.OFFLINE, CodeImportMachineState.QUIESCING,
])
def test_startJob_on_machine_not_online_raises(codeimport, workflow, gnome,
                                               state):
    machine = codeimport.factory.makeCodeImportMachine(hostname="frobisher")
    set_fields(codeimport.store, machine, state=state)
    with pytest.raises(InvalidMachineState) as info:
        workflow.startJob(gnome.import_job, machine)
    assert str(info.value) == f"The machine frobisher is {state.name}."
    assert gnome.import_job.state == State.PENDING


# -- updateHeartbeat --------------------------------------------------------

def test_updateHeartbeat_sets_heartbeat_and_logtail_without_event(
        codeimport, workflow, running):
    set_fields(codeimport.store, running, heartbeat=utc(2007, 1, 1))
    events = codeimport.new_events()
    workflow.updateHeartbeat(running, "some interesting log output")
    assert running.heartbeat == db_now(codeimport.store)
    assert running.logtail == "some interesting log output"
    assert events.summary() == ""


def test_updateHeartbeat_strips_nul_characters(workflow, running):
    workflow.updateHeartbeat(running, "a\x00b")
    assert running.logtail == "ab"


def test_updateHeartbeat_pending_raises(workflow, gnome):
    with pytest.raises(InvalidJobState) as info:
        workflow.updateHeartbeat(gnome.import_job, "x")
    assert str(info.value) == (
        f"The CodeImportJob associated with {U} is PENDING.")


def test_updateHeartbeat_with_bytes_raises(workflow, running):
    with pytest.raises(CodeImportValidationError) as info:
        workflow.updateHeartbeat(running, b"x")
    assert str(info.value) == "logtail must be a string."


def test_updateHeartbeat_after_reclaim_raises_NoSuchCodeImportJob(
        workflow, running):
    job_id = running.id
    workflow.reclaimJob(running)
    with pytest.raises(NoSuchCodeImportJob) as info:
        workflow.updateHeartbeat(running, "late")
    assert str(info.value) == f"Job {job_id} not found."


# -- finishJob --------------------------------------------------------------

def test_finishJob_pending_raises(workflow, gnome):
    with pytest.raises(InvalidJobState) as info:
        workflow.finishJob(gnome.import_job, S.SUCCESS, None)
    assert str(info.value) == (
        f"The CodeImportJob associated with {U} is PENDING.")


def test_finishJob_with_status_that_is_not_a_result_raises(workflow,
                                                           running):
    with pytest.raises(CodeImportValidationError) as info:
        workflow.finishJob(running, "SUCCESS", None)
    assert str(info.value) == "Not a result status: 'SUCCESS'"
    assert running.state == State.RUNNING


def test_finishJob_twice_raises_NoSuchCodeImportJob(workflow, running):
    workflow.finishJob(running, S.FAILURE, None)
    with pytest.raises(NoSuchCodeImportJob):
        workflow.finishJob(running, S.SUCCESS, None)


def test_finishJob_writes_result_copying_the_job(codeimport, workflow,
                                                 gnome, machine, nopriv):
    job = gnome.import_job
    workflow.requestJob(job, nopriv)
    workflow.startJob(job, machine)
    workflow.updateHeartbeat(job, "the tail")
    set_fields(codeimport.store, job, date_started=utc(2020, 1, 1))
    log = codeimport.factory.makeLibraryFileAlias(content=b"full log")
    result = workflow.finishJob(job, S.FAILURE_INVALID, log)
    assert (result.code_import, result.machine, result.requesting_user,
            result.log_excerpt, result.log_file, result.status) == (
        gnome, machine, nopriv, "the tail", log, S.FAILURE_INVALID)
    assert result.date_job_started == utc(2020, 1, 1)
    assert result.date_job_finished == db_now(codeimport.store)
    assert gnome.results == [result]


def test_finishJob_replaces_job_with_new_unrequested_pending_one(
        codeimport, workflow, gnome, machine, nopriv):
    job = gnome.import_job
    workflow.requestJob(job, nopriv)
    workflow.startJob(job, machine)
    old_id = job.id
    workflow.finishJob(job, S.SUCCESS, None)
    new = gnome.import_job
    assert new.id != old_id
    assert new.state == State.PENDING and new.requesting_user is None
    assert count(codeimport.store, "codeimportjob", id=old_id) == 0


def test_finishJob_writes_finish_event_only(codeimport, workflow, running):
    events = codeimport.new_events()
    workflow.finishJob(running, S.SUCCESS_NOCHANGE, None)
    assert events.summary() == f"FINISH {U} bazaar-importer"
    assert event_data(list(events)[0]) == {}


def test_finishJob_success_date_due_is_interval_after_due(
        codeimport, workflow, running):
    # As in the original test_createsNewJob: created, started and
    # finished in one transaction, so due == started == now.
    old_due, code_import = running.date_due, running.code_import
    workflow.finishJob(running, S.SUCCESS, None)
    new = code_import.import_job
    assert new.date_due - old_due == code_import.effective_update_interval


@pytest.mark.parametrize("status", [S.SUCCESS, S.SUCCESS_NOCHANGE])
def test_finishJob_full_success_sets_date_last_successful(
        codeimport, workflow, running, status):
    workflow.finishJob(running, status, None)
    assert running.code_import.date_last_successful == db_now(
        codeimport.store)


@pytest.mark.parametrize("status", [
    s for s in S.items if s not in (S.SUCCESS, S.SUCCESS_NOCHANGE)
], ids=lambda s: s.name)
def test_finishJob_other_status_keeps_date_last_successful(
        codeimport, workflow, running, status):
    set_fields(codeimport.store, running.code_import,
               date_last_successful=utc(2000, 1, 1))
    workflow.finishJob(running, status, None)
    assert running.code_import.date_last_successful == utc(2000, 1, 1)


def test_finishJob_success_requests_a_mirror_of_the_branch(
        codeimport, workflow, running):
    branch = running.code_import.branch
    assert branch.next_mirror_time is None
    workflow.finishJob(running, S.SUCCESS, None)
    assert branch.next_mirror_time == db_now(codeimport.store)


@pytest.mark.parametrize("status", [
    S.SUCCESS_NOCHANGE, S.SUCCESS_PARTIAL, S.FAILURE,
])
def test_finishJob_other_status_requests_no_mirror(workflow, running,
                                                   status):
    workflow.finishJob(running, status, None)
    assert running.code_import.branch.next_mirror_time is None


def test_finishJob_success_into_git_target_requests_a_mirror_too(
        codeimport, workflow, machine):
    job = codeimport.factory.makeRunningJob(
        machine, codeimport.factory.makeCodeImport(
            target_rcs_type=TargetRevisionControlSystems.GIT))
    branch = job.code_import.branch
    workflow.finishJob(job, S.SUCCESS, None)
    assert branch.next_mirror_time == db_now(codeimport.store)
    assert job.code_import.date_last_successful is not None


# -- reclaimJob -------------------------------------------------------------

def test_reclaimJob_pending_raises(workflow, gnome):
    with pytest.raises(InvalidJobState) as info:
        workflow.reclaimJob(gnome.import_job)
    assert str(info.value) == (
        f"The CodeImportJob associated with {U} is PENDING.")


def test_reclaimJob_writes_reclaimed_result_and_reclaim_event(
        codeimport, workflow, gnome, machine, nopriv):
    job = gnome.import_job
    workflow.requestJob(job, nopriv)
    workflow.startJob(job, machine)
    workflow.updateHeartbeat(job, "stuck here")
    set_fields(codeimport.store, job, date_started=utc(2020, 1, 1))
    job_id = job.id
    events = codeimport.new_events()
    result = workflow.reclaimJob(job)
    assert (result.status, result.log_excerpt, result.log_file,
            result.requesting_user, result.machine) == (
        S.RECLAIMED, "stuck here", None, nopriv, machine)
    assert result.date_job_started == utc(2020, 1, 1)
    assert events.summary() == f"RECLAIM {U} bazaar-importer"
    assert event_data(list(events)[0]) == {"RECLAIMED_JOB_ID": str(job_id)}


def test_reclaimJob_new_job_is_due_now_and_unrequested(
        codeimport, workflow, gnome, machine, nopriv):
    job = gnome.import_job
    workflow.requestJob(job, nopriv)
    workflow.startJob(job, machine)
    set_fields(codeimport.store, job, date_started=utc(2000, 1, 1))
    workflow.reclaimJob(job)
    new = gnome.import_job
    assert new.id != job.id
    assert new.date_due == db_now(codeimport.store)
    assert new.requesting_user is None


def test_reclaimJob_touches_no_success_date_and_no_mirror(
        codeimport, workflow, running):
    workflow.reclaimJob(running)
    assert running.code_import.date_last_successful is None
    assert running.code_import.branch.next_mirror_time is None


@pytest.mark.parametrize("status", [Review.SUSPENDED, Review.INVALID])
def test_reclaimJob_of_import_no_longer_reviewed_makes_no_job(
        codeimport, workflow, running, status):
    running.code_import.updateFromData({"review_status": status}, None)
    workflow.reclaimJob(running)
    assert running.code_import.import_job is None
    assert running.code_import.review_status == status


def test_reclaimJob_twice_raises_NoSuchCodeImportJob(workflow, running):
    workflow.reclaimJob(running)
    with pytest.raises(NoSuchCodeImportJob):
        workflow.reclaimJob(running)


# -- reclaimStaleJobs -------------------------------------------------------

def test_reclaimStaleJobs_reclaims_only_stale_jobs_by_id(codeimport,
                                                         workflow):
    from corehelpers import make_stale

    f = codeimport.factory
    fresh, stale1, stale2 = (f.makeRunningJob() for _ in range(3))
    for job in (stale2, stale1):
        make_stale(codeimport.store, job, 1000)
    ids = [stale1.id, stale2.id]
    assert workflow.reclaimStaleJobs() == ids
    assert fresh.state == State.RUNNING
    assert count(codeimport.store, "codeimportresult",
                 status=S.RECLAIMED.value) == 2


# -- by job id, as the scheduler service calls them --------------------------

def test_updateHeartbeat_by_id(codeimport, workflow, running):
    set_fields(codeimport.store, running, heartbeat=utc(2007, 1, 1))
    codeimport.utilities.queue.heartbeat(running.id, "by id")
    assert running.heartbeat == db_now(codeimport.store)
    assert running.logtail == "by id"


def test_updateHeartbeat_by_id_of_pending_job_raises(codeimport, gnome):
    with pytest.raises(InvalidJobState) as info:
        codeimport.utilities.queue.heartbeat(gnome.import_job.id, "x")
    assert str(info.value) == (
        f"The CodeImportJob associated with {U} is PENDING.")


@pytest.mark.parametrize("method, args", [
    ("queue.heartbeat", ("x",)),
    ("queue.start", (1,)),
    ("workflow.finishJobById", (CodeImportResultStatus.SUCCESS, None)),
    ("workflow.reclaimJobById", ()),
])
@pytest.mark.parametrize("job_id", [987654, 0, -3, 2**31, 2**63])
def test_by_id_of_no_job_raises_NoSuchCodeImportJob(codeimport, method, args,
                                                    job_id):
    # Ids beyond PostgreSQL's integer range too: no row has one.
    utility, name = method.split(".")
    with pytest.raises(NoSuchCodeImportJob) as info:
        getattr(getattr(codeimport.utilities, utility), name)(job_id, *args)
    assert str(info.value) == f"Job {job_id} not found."


def test_finishJob_by_id_drops_the_job_and_writes_the_result(
        codeimport, workflow, running, gnome):
    job_id = running.id
    result = workflow.finishJobById(job_id, CodeImportResultStatus.SUCCESS,
                                    None)
    assert result.status == CodeImportResultStatus.SUCCESS
    assert codeimport.utilities.jobs.getById(job_id) is None
    assert gnome.import_job.state == CodeImportJobState.PENDING


def test_finishJob_by_id_of_an_import_no_longer_reviewed(
        codeimport, workflow, running, gnome):
    # The import gets no next job, and the job is gone.
    job_id = running.id
    set_fields(codeimport.store, gnome,
               review_status=CodeImportReviewStatus.SUSPENDED)
    result = workflow.finishJobById(job_id, CodeImportResultStatus.FAILURE,
                                    None)
    assert result.status == CodeImportResultStatus.FAILURE
    assert gnome.import_job is None
    with pytest.raises(NoSuchCodeImportJob):
        workflow.finishJobById(job_id, CodeImportResultStatus.FAILURE, None)
