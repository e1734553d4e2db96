"""Zope events the library notifies for host applications (D9)."""

from __future__ import annotations

import pytest
import zope.event
from corehelpers import utc
from zope.interface.verify import verifyObject

from codeimport import notification as n
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus

S = CodeImportResultStatus
Review = CodeImportReviewStatus


@pytest.fixture
def notified():
    """Collect every object passed to `zope.event.notify` meanwhile."""
    seen = []
    zope.event.subscribers.append(seen.append)
    yield seen
    zope.event.subscribers.remove(seen.append)


def ours(seen):
    return [e for e in seen
            if isinstance(e, (n.CodeImportCreated, n.CodeImportModified,
                              n.CodeImportMarkedFailing,
                              n.CodeImportJobFinished,
                              n.CodeImportJobReclaimed))]


def kinds(seen):
    return [type(e).__name__ for e in ours(seen)]


@pytest.mark.parametrize("cls, interface, args", [
    (n.CodeImportCreated, n.ICodeImportCreated, ("ci",)),
    (n.CodeImportModified, n.ICodeImportModified, ("ci", "event")),
    (n.CodeImportMarkedFailing, n.ICodeImportMarkedFailing, ("ci",)),
    (n.CodeImportJobFinished, n.ICodeImportJobFinished, ("ci", "result")),
    (n.CodeImportJobReclaimed, n.ICodeImportJobReclaimed,
     ("ci", "result", 3)),
])
def test_notification_classes_provide_their_interfaces(cls, interface,
                                                       args):
    assert verifyObject(interface, cls(*args))


def test_new_import_notifies_created(codeimport, notified):
    code_import = codeimport.factory.makeCodeImport()
    [created] = ours(notified)
    assert isinstance(created, n.CodeImportCreated)
    assert created.code_import is code_import


def test_updateFromData_with_change_notifies_modified(codeimport, notified):
    code_import = codeimport.factory.makeCodeImport()
    del notified[:]
    event = code_import.updateFromData({"review_status": Review.SUSPENDED},
                                       None)
    [modified] = ours(notified)
    assert isinstance(modified, n.CodeImportModified)
    assert (modified.code_import, modified.event) == (code_import, event)


def test_updateFromData_without_change_notifies_nothing(codeimport,
                                                        notified):
    code_import = codeimport.factory.makeCodeImport()
    del notified[:]
    code_import.updateFromData({}, None)
    code_import.updateFromData({"review_status": Review.REVIEWED}, None)
    assert ours(notified) == []


def test_finishJob_notifies_job_finished_with_result(codeimport, notified):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import
    del notified[:]
    result = codeimport.utilities.workflow.finishJob(job, S.SUCCESS, None)
    [finished] = ours(notified)
    assert isinstance(finished, n.CodeImportJobFinished)
    assert (finished.code_import, finished.result) == (code_import, result)


def fail_four_times(codeimport, code_import):
    for day in range(1, 5):
        codeimport.factory.makeCodeImportResult(
            code_import, S.FAILURE, date_started=utc(2000, 1, day),
            date_finished=utc(2000, 1, day, 1))


def test_finishJob_at_limit_notifies_modified_failing_then_finished(
        codeimport, notified):
    job = codeimport.factory.makeRunningJob()
    fail_four_times(codeimport, job.code_import)
    del notified[:]
    codeimport.utilities.workflow.finishJob(job, S.FAILURE, None)
    assert kinds(notified) == [
        "CodeImportModified", "CodeImportMarkedFailing",
        "CodeImportJobFinished"]
    assert ours(notified)[1].code_import is job.code_import


def test_reclaimJob_notifies_reclaimed_with_result_and_job_id(codeimport,
                                                              notified):
    job = codeimport.factory.makeRunningJob()
    job_id, code_import = job.id, job.code_import
    del notified[:]
    result = codeimport.utilities.workflow.reclaimJob(job)
    [reclaimed] = ours(notified)
    assert isinstance(reclaimed, n.CodeImportJobReclaimed)
    assert (reclaimed.code_import, reclaimed.result, reclaimed.job_id) == (
        code_import, result, job_id)
    assert result.status == S.RECLAIMED


def test_reclaimJob_at_limit_notifies_failing_then_reclaimed(codeimport,
                                                             notified):
    job = codeimport.factory.makeRunningJob()
    fail_four_times(codeimport, job.code_import)
    del notified[:]
    codeimport.utilities.workflow.reclaimJob(job)
    assert kinds(notified) == [
        "CodeImportModified", "CodeImportMarkedFailing",
        "CodeImportJobReclaimed"]


def test_tryFailingImportAgain_notifies_modified(codeimport, notified):
    code_import = codeimport.factory.makeCodeImport(
        review_status=Review.FAILING)
    del notified[:]
    code_import.tryFailingImportAgain(codeimport.factory.makePerson())
    assert kinds(notified) == ["CodeImportModified"]


def test_job_transitions_without_outcome_notify_nothing(codeimport,
                                                        notified):
    f = codeimport.factory
    code_import = f.makeCodeImport()
    job = code_import.import_job
    machine = f.makeCodeImportMachine(set_online=True)
    workflow = codeimport.utilities.workflow
    del notified[:]
    workflow.requestJob(job, f.makePerson())
    workflow.startJob(job, machine)
    workflow.updateHeartbeat(job, "tail")
    assert ours(notified) == []
