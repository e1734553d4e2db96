"""The job queue: each statement's guards, and which one refused."""

from __future__ import annotations

import pytest
from corehelpers import make_stale
from corehelpers import set_fields

from codeimport.enums import BranchType
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus as S
from codeimport.enums import CodeImportReviewStatus as Review
from codeimport.errors import BranchTypeError
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidMachineState
from codeimport.errors import NoSuchCodeImportJob
from codeimport.model.queue import FailureLimitReached
from codeimport.model.queue import NotStale
from codeimport.model.rules import positional
from codeimport.settings import Settings


@pytest.fixture
def queue(codeimport):
    return codeimport.utilities.queue


@pytest.fixture
def running(codeimport):
    return codeimport.factory.makeRunningJob()


def test_positional_lays_out_named_parameters_in_order():
    statement, layout = positional("SELECT $a, $b::int, $a")
    assert statement == "SELECT ?, ?::int, ?"
    assert layout({"a": 1, "b": 2}) == (1, 2, 1)


def test_start_refuses_a_machine_that_is_not_online(codeimport, queue):
    job = codeimport.factory.makeCodeImportJob()
    machine = codeimport.factory.makeCodeImportMachine()
    with pytest.raises(InvalidMachineState, match=(
            f"The machine {machine.hostname} is OFFLINE.")):
        queue.start(job.id, machine.id)


def test_start_refuses_a_machine_that_does_not_exist(codeimport, queue):
    job = codeimport.factory.makeCodeImportJob()
    with pytest.raises(InvalidMachineState, match="There is no machine 0."):
        queue.start(job.id, 0)


def test_start_refuses_a_running_job(codeimport, queue, running):
    machine = codeimport.factory.makeCodeImportMachine(set_online=True)
    with pytest.raises(InvalidJobState, match="is RUNNING"):
        queue.start(running.id, machine.id)


def test_heartbeat_refuses_a_pending_job_and_a_bad_log(codeimport, queue):
    job = codeimport.factory.makeCodeImportJob()
    with pytest.raises(InvalidJobState, match="is PENDING"):
        queue.heartbeat(job.id, "x")
    with pytest.raises(CodeImportValidationError):
        queue.heartbeat(job.id, b"bytes")
    with pytest.raises(CodeImportValidationError):
        queue.heartbeat("1", "x")


def test_end_of_a_success_of_an_unmirrorable_branch(codeimport, queue,
                                                    running):
    branch = running.code_import.branch
    set_fields(codeimport.store, branch, branch_type=BranchType.HOSTED)
    with pytest.raises(BranchTypeError):
        queue.end(running.id, S.SUCCESS)
    # Refused: nothing was written, the job still runs.
    assert running.code_import.import_job == running


def test_end_says_when_the_failure_limit_is_reached(codeimport, running):
    queue = codeimport.use_settings(
        Settings(consecutive_failure_limit=1)).queue
    with pytest.raises(FailureLimitReached) as reached:
        queue.end(running.id, S.FAILURE)
    assert (reached.value.job_id, reached.value.code_import_id) == (
        running.id, running.code_import_id)
    # With the limit handled (the workflow made the import FAILING), it
    # ends and schedules nothing.
    code_import = running.code_import
    set_fields(codeimport.store, code_import, review_status=Review.FAILING)
    queue.end(running.id, S.FAILURE, limit_handled=True)
    assert code_import.import_job is None


def test_end_only_if_stale(codeimport, queue, running):
    with pytest.raises(NotStale):
        queue.end(running.id, S.RECLAIMED, reclaimed=True, only_stale=True)
    make_stale(codeimport.store, running, 3600)
    code_import_id, machine_id, result = queue.end(
        running.id, S.RECLAIMED, reclaimed=True, only_stale=True)
    assert result.status == S.RECLAIMED


def test_under_worker_limit(codeimport, queue, running):
    assert not queue.underWorkerLimit(running.machine_id, 1)
    assert queue.underWorkerLimit(running.machine_id, 2)


def test_poll_of_a_machine_not_online(codeimport, queue):
    machine = codeimport.factory.makeCodeImportMachine()
    assert machine.state == CodeImportMachineState.OFFLINE
    assert queue.poll(machine.hostname) is None
    assert queue.poll("nobody") is None


def test_schedule_with_an_interval_of_its_own(codeimport, queue):
    code_import = codeimport.factory.makeCodeImport(
        review_status=Review.SUSPENDED)
    job = queue.schedule(code_import.id, 0)
    assert job.code_import_id == code_import.id


def test_ids_that_no_row_has(queue):
    for job_id in (0, -1, 2**31):
        with pytest.raises(NoSuchCodeImportJob):
            queue.end(job_id, S.SUCCESS)


def test_get_a_job_or_the_same_refusal_as_every_transition(codeimport,
                                                           queue):
    job = codeimport.factory.makeCodeImportJob()
    assert queue.get(job.id) is job
    for job_id in (0, -1, 2**31, job.id + 1):
        with pytest.raises(NoSuchCodeImportJob):
            queue.get(job_id)
    with pytest.raises(CodeImportValidationError):
        queue.get("1")
