"""Scheduling after a run: the back-off table of §5.3.6, the failure
limit (FAILING) and reclaims counting towards it (D15)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now
from corehelpers import event_data
from corehelpers import set_fields
from corehelpers import utc

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.settings import Settings

S = CodeImportResultStatus
Review = CodeImportReviewStatus
R = RevisionControlSystems
H = timedelta(hours=1)
FAILURES = [s for s in S.items if s not in S.successes]


def prepare(codeimport, prior=(), **kwargs):
    """Return a running job of a new import whose history is `prior`.

    The prior results finished long ago; the run started an hour before
    the transaction time, so the next due date is not clipped to now.
    """
    f = codeimport.factory
    code_import = f.makeCodeImport(**kwargs)
    for n, status in enumerate(prior):
        f.makeCodeImportResult(code_import, status,
                               date_started=utc(2000, 1, 1 + n),
                               date_finished=utc(2000, 1, 1 + n, 1))
    job = f.makeRunningJob(code_import=code_import)
    started = db_now(codeimport.store) - H
    set_fields(codeimport.store, job, date_started=started)
    return job, started


def finish(codeimport, job, status, workflow=None):
    workflow = workflow or codeimport.utilities.workflow
    code_import = job.code_import
    workflow.finishJob(job, status, None)
    return code_import, code_import.import_job


@pytest.mark.parametrize("status", [S.SUCCESS, S.SUCCESS_NOCHANGE])
def test_finishJob_success_is_due_one_interval_after_start(codeimport,
                                                           status):
    job, started = prepare(codeimport, [S.FAILURE, S.FAILURE])
    _, new = finish(codeimport, job, status)
    assert new.date_due == started + 6 * H


def test_finishJob_partial_success_is_due_now(codeimport):
    job, _ = prepare(codeimport, [S.FAILURE])
    code_import, new = finish(codeimport, job, S.SUCCESS_PARTIAL)
    assert new.date_due == db_now(codeimport.store)
    assert code_import.consecutive_failure_count == 0


@pytest.mark.parametrize("prior_failures, hours", [
    (0, 6), (1, 12), (2, 24), (3, 48),
])
def test_finishJob_failure_backs_off_exponentially(codeimport,
                                                   prior_failures, hours):
    job, started = prepare(codeimport, [S.SUCCESS] + [S.FAILURE] *
                           prior_failures)
    code_import, new = finish(codeimport, job, S.FAILURE)
    assert code_import.consecutive_failure_count == prior_failures + 1
    assert new.date_due == started + hours * H
    assert new.state == CodeImportJobState.PENDING
    assert code_import.review_status == Review.REVIEWED


@pytest.mark.parametrize("status", FAILURES, ids=lambda s: s.name)
def test_finishJob_every_non_success_status_counts(codeimport, status):
    job, started = prepare(codeimport, [status])
    _, new = finish(codeimport, job, status)
    assert new.date_due == started + 12 * H


@pytest.mark.parametrize("prior_failures, hours", [
    (0, 12), (1, 24), (2, 48), (3, 96),
])
def test_finishJob_cvs_backs_off_from_12_hours(codeimport, prior_failures,
                                               hours):
    job, started = prepare(codeimport, [S.FAILURE] * prior_failures,
                           rcs_type=R.CVS)
    _, new = finish(codeimport, job, S.FAILURE)
    assert new.date_due == started + hours * H


def test_finishJob_cvs_success_is_due_12_hours_after_start(codeimport):
    job, started = prepare(codeimport, rcs_type=R.CVS)
    _, new = finish(codeimport, job, S.SUCCESS)
    assert new.date_due == started + 12 * H


@pytest.mark.parametrize("prior_failures, minutes", [
    (None, 30), (0, 30), (1, 60), (2, 120), (3, 240),
])
def test_finishJob_user_set_interval_replaces_the_base(codeimport,
                                                       prior_failures,
                                                       minutes):
    job, _ = prepare(codeimport, [S.FAILURE] * (prior_failures or 0))
    started = db_now(codeimport.store) - timedelta(minutes=10)
    set_fields(codeimport.store, job, date_started=started)
    set_fields(codeimport.store, job.code_import,
               update_interval=timedelta(minutes=30))
    status = S.SUCCESS if prior_failures is None else S.FAILURE
    _, new = finish(codeimport, job, status)
    assert new.date_due == started + timedelta(minutes=minutes)


def test_finishJob_due_date_is_never_before_now(codeimport):
    job, _ = prepare(codeimport, [S.FAILURE])
    set_fields(codeimport.store, job, date_started=utc(2000, 6, 1))
    _, new = finish(codeimport, job, S.FAILURE)
    assert new.date_due == db_now(codeimport.store)


def test_finishJob_success_resets_the_back_off(codeimport):
    job, started = prepare(codeimport, [S.FAILURE] * 3 + [S.SUCCESS])
    _, new = finish(codeimport, job, S.FAILURE)
    assert new.date_due == started + 6 * H


def test_finishJob_at_the_limit_marks_failing_modify_then_finish(
        codeimport):
    job, _ = prepare(codeimport, [S.FAILURE] * 4)
    machine = job.machine
    events = codeimport.new_events()
    code_import, new = finish(codeimport, job, S.FAILURE_INVALID)
    assert new is None
    assert code_import.review_status == Review.FAILING
    modify, finish_event = list(events)
    assert [e.event_type.name for e in events] == ["MODIFY", "FINISH"]
    assert modify.person is None
    data = event_data(modify)
    assert (data["REVIEW_STATUS"], data["OLD_REVIEW_STATUS"]) == (
        "FAILING", "REVIEWED")
    assert (finish_event.code_import, finish_event.machine) == (
        code_import, machine)


def test_finishJob_below_the_limit_has_no_modify(codeimport):
    job, _ = prepare(codeimport, [S.FAILURE] * 3)
    events = codeimport.new_events()
    finish(codeimport, job, S.FAILURE)
    assert [e.event_type.name for e in events] == ["FINISH"]


@pytest.mark.parametrize("status", [Review.SUSPENDED, Review.INVALID])
def test_finishJob_import_left_reviewed_during_run_gets_no_job(codeimport,
                                                               status):
    job, _ = prepare(codeimport)
    job.code_import.updateFromData({"review_status": status}, None)
    code_import, new = finish(codeimport, job, S.SUCCESS)
    assert new is None
    assert code_import.review_status == status
    assert code_import.date_last_successful == db_now(codeimport.store)


@pytest.mark.parametrize("status", [Review.SUSPENDED, Review.INVALID])
def test_finishJob_import_left_reviewed_below_limit_stays(codeimport,
                                                          status):
    job, _ = prepare(codeimport, [S.FAILURE])
    job.code_import.updateFromData({"review_status": status}, None)
    code_import, new = finish(codeimport, job, S.FAILURE)
    assert new is None and code_import.review_status == status


@pytest.mark.parametrize("status", [Review.SUSPENDED, Review.INVALID])
def test_finishJob_import_left_reviewed_at_limit_becomes_failing(
        codeimport, status):
    job, _ = prepare(codeimport, [S.FAILURE] * 4)
    job.code_import.updateFromData({"review_status": status}, None)
    events = codeimport.new_events()
    code_import, new = finish(codeimport, job, S.FAILURE)
    assert new is None
    assert code_import.review_status == Review.FAILING
    assert [e.event_type.name for e in events] == ["MODIFY", "FINISH"]
    assert event_data(list(events)[0])["OLD_REVIEW_STATUS"] == status.name


def test_finishJob_configured_limit_is_honoured(codeimport):
    custom = codeimport.use_settings(Settings(consecutive_failure_limit=2))
    job, _ = prepare(codeimport, [S.FAILURE])
    code_import, new = finish(codeimport, job, S.FAILURE, custom.workflow)
    assert new is None and code_import.review_status == Review.FAILING


def test_finishJob_prior_reclaims_count_towards_the_limit(codeimport):
    job, _ = prepare(codeimport, [S.RECLAIMED] * 4)
    code_import, new = finish(codeimport, job, S.FAILURE)
    assert new is None and code_import.review_status == Review.FAILING


# -- reclaimJob and the limit (D15) -----------------------------------------

def test_reclaimJob_below_limit_makes_job_due_now(codeimport):
    job, _ = prepare(codeimport, [S.FAILURE] * 3)
    code_import = job.code_import
    codeimport.utilities.workflow.reclaimJob(job)
    assert code_import.consecutive_failure_count == 4
    assert code_import.import_job.date_due == db_now(codeimport.store)
    assert code_import.review_status == Review.REVIEWED


def test_reclaimJob_at_limit_marks_failing_modify_then_reclaim(codeimport):
    job, _ = prepare(codeimport, [S.FAILURE] * 2 + [S.RECLAIMED] * 2)
    code_import = job.code_import
    events = codeimport.new_events()
    codeimport.utilities.workflow.reclaimJob(job)
    assert code_import.import_job is None
    assert code_import.review_status == Review.FAILING
    assert [e.event_type.name for e in events] == ["MODIFY", "RECLAIM"]
    assert list(events)[0].person is None


def test_reclaim_loop_of_a_hanging_import_ends_failing(codeimport):
    # An import whose worker always hangs is not retried forever.
    f = codeimport.factory
    code_import = f.makeCodeImport()
    workflow = codeimport.utilities.workflow
    for attempt in range(5):
        job = f.makeRunningJob(code_import=code_import)
        workflow.reclaimJob(job)
    assert code_import.review_status == Review.FAILING
    assert code_import.import_job is None
    assert [r.status for r in code_import.results] == [S.RECLAIMED] * 5
