"""Branches, their mirror bookkeeping and the puller queue (§12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now
from corehelpers import set_fields
from corehelpers import utc

from codeimport.enums import BranchType
from codeimport.errors import BranchTypeError
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState

B = BranchType
SIX_HOURS = timedelta(hours=6)


@pytest.fixture
def branches(codeimport):
    return codeimport.utilities.branches


@pytest.fixture
def puller(codeimport):
    return codeimport.utilities.puller


def test_new_branch_has_unique_name_and_is_found(codeimport, branches):
    owner = codeimport.factory.makePerson(name="alice")
    branch = branches.new(owner, "proj", "trunk", B.HOSTED)
    assert branch.unique_name == "~alice/proj/trunk"
    assert repr(branch) == "<Branch ~alice/proj/trunk>"
    assert branches.getByUniqueName("~alice/proj/trunk") is branch
    assert branches.get(branch.id) is branch
    assert branch.mirror_failures == 0
    assert branch.next_mirror_time is None


def test_getByUniqueName_unknown_returns_None(branches):
    assert branches.getByUniqueName("~nobody/x/y") is None
    assert branches.get(424242) is None


def test_new_duplicate_unique_name_raises(codeimport, branches):
    owner = codeimport.factory.makePerson(name="alice")
    branches.new(owner, "proj", "trunk", B.HOSTED)
    with pytest.raises(CodeImportValidationError) as info:
        branches.new(owner, "proj", "trunk", B.IMPORTED)
    assert str(info.value) == (
        "A branch called ~alice/proj/trunk already exists.")


@pytest.mark.parametrize("project, name, label, bad", [
    ("Proj", "trunk", "project", "Proj"),
    ("proj", "", "branch", ""),
    ("proj", "a b", "branch", "a b"),
    ("proj", None, "branch", None),
])
def test_new_with_bad_name_raises(codeimport, branches, project, name,
                                  label, bad):
    owner = codeimport.factory.makePerson()
    with pytest.raises(CodeImportValidationError) as info:
        branches.new(owner, project, name, B.HOSTED)
    assert str(info.value) == f"Invalid {label} name: {bad!r}"


def test_new_mirrored_without_url_raises(codeimport, branches):
    owner = codeimport.factory.makePerson()
    with pytest.raises(CodeImportValidationError) as info:
        branches.new(owner, "p", "b", B.MIRRORED)
    assert str(info.value) == "A mirrored branch needs a URL."


@pytest.mark.parametrize("branch_type", [B.HOSTED, B.IMPORTED])
def test_new_hosted_or_imported_with_url_raises(codeimport, branches,
                                                branch_type):
    owner = codeimport.factory.makePerson()
    with pytest.raises(CodeImportValidationError) as info:
        branches.new(owner, "p", "b", branch_type, "http://example.com/b")
    assert str(info.value) == f"A {branch_type.name} branch has no URL."


def test_new_mirrored_url_loses_trailing_slash(codeimport, branches):
    owner = codeimport.factory.makePerson()
    branch = branches.new(owner, "p", "b", B.MIRRORED, "http://e.com/b/")
    assert branch.url == "http://e.com/b"


def test_new_remote_may_have_a_url(codeimport, branches):
    owner = codeimport.factory.makePerson()
    branch = branches.new(owner, "p", "b", B.REMOTE, "http://e.com/b")
    assert branch.url == "http://e.com/b"


@pytest.mark.parametrize("branch_type", [B.HOSTED, B.REMOTE])
@pytest.mark.parametrize("method, args", [
    ("requestMirror", ()), ("startMirroring", ()),
    ("mirrorFailed", ("oops",)), ("mirrorComplete", ("rev-1",)),
])
def test_mirror_methods_on_never_mirrored_branch_raise_BranchTypeError(
        codeimport, branch_type, method, args):
    branch = codeimport.factory.makeBranch(branch_type=branch_type)
    with pytest.raises(BranchTypeError) as info:
        getattr(branch, method)(*args)
    assert str(info.value) == (
        f"Branch {branch.unique_name} is {branch_type.name} and is never "
        "mirrored.")


@pytest.mark.parametrize("branch_type", [B.MIRRORED, B.IMPORTED])
def test_requestMirror_unscheduled_branch_is_due_now(codeimport,
                                                     branch_type):
    branch = codeimport.factory.makeBranch(branch_type=branch_type)
    now = db_now(codeimport.store)
    assert branch.requestMirror() == now
    assert branch.next_mirror_time == now


def test_requestMirror_future_schedule_is_promoted_to_now(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    set_fields(codeimport.store, branch, next_mirror_time=utc(2100, 1, 1))
    assert branch.requestMirror() == db_now(codeimport.store)


def test_requestMirror_earlier_schedule_is_never_demoted(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    set_fields(codeimport.store, branch, next_mirror_time=utc(2000, 1, 1))
    assert branch.requestMirror() == utc(2000, 1, 1)
    assert branch.next_mirror_time == utc(2000, 1, 1)


def test_startMirroring_records_attempt_and_clears_schedule(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    branch.requestMirror()
    branch.startMirroring()
    codeimport.store.flush()
    assert branch.last_mirror_attempt == db_now(codeimport.store)
    assert branch.next_mirror_time is None


@pytest.mark.parametrize("failures, delay_hours", [
    (1, 6), (2, 12), (3, 24), (4, 48),
])
def test_mirrorFailed_mirrored_backs_off_exponentially(
        codeimport, failures, delay_hours):
    branch = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    for n in range(failures):
        branch.startMirroring()
        branch.mirrorFailed(f"failure {n + 1}")
    codeimport.store.flush()
    assert branch.mirror_failures == failures
    assert branch.mirror_status_message == f"failure {failures}"
    assert branch.next_mirror_time == (
        db_now(codeimport.store) + timedelta(hours=delay_hours))


def test_mirrorFailed_fifth_failure_stops_retrying(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    for n in range(5):
        branch.startMirroring()
        branch.mirrorFailed("no")
    codeimport.store.flush()
    assert branch.mirror_failures == 5
    assert branch.next_mirror_time is None


def test_mirrorFailed_imported_waits_for_requestMirror(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.IMPORTED)
    branch.requestMirror()
    branch.startMirroring()
    branch.mirrorFailed("Not a branch.")
    codeimport.store.flush()
    assert branch.mirror_failures == 1
    assert branch.next_mirror_time is None


def test_mirrorComplete_before_startMirroring_raises(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    with pytest.raises(InvalidJobState) as info:
        branch.mirrorComplete("rev-1")
    assert str(info.value) == (
        "startMirroring must be called before mirrorComplete.")


def test_mirrorComplete_mirrored_resets_failures_and_schedules(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    branch.startMirroring()
    branch.mirrorFailed("bad")
    branch.startMirroring()
    branch.mirrorComplete("rev-2")
    codeimport.store.flush()
    now = db_now(codeimport.store)
    assert branch.last_mirrored == branch.last_mirror_attempt == now
    assert branch.mirror_failures == 0
    assert branch.mirror_status_message is None
    assert branch.last_mirrored_id == "rev-2"
    assert branch.next_mirror_time == now + SIX_HOURS


def test_mirrorComplete_imported_stays_unscheduled(codeimport):
    branch = codeimport.factory.makeBranch(branch_type=B.IMPORTED)
    branch.startMirroring()
    branch.mirrorComplete("rev-1")
    codeimport.store.flush()
    assert branch.next_mirror_time is None
    assert branch.last_mirrored_id == "rev-1"


def test_getPullURL_by_branch_type(codeimport):
    mirrored = codeimport.factory.makeBranch(
        branch_type=B.MIRRORED, url="http://example.com/m")
    imported = codeimport.factory.makeBranch(branch_type=B.IMPORTED)
    hosted = codeimport.factory.makeBranch(branch_type=B.HOSTED)
    assert mirrored.getPullURL() == "http://example.com/m"
    assert imported.getPullURL() == imported.unique_name
    with pytest.raises(BranchTypeError):
        hosted.getPullURL()


def test_acquireBranchToPull_empty_queue_returns_None(puller):
    assert puller.acquireBranchToPull() is None


def test_acquireBranchToPull_starts_the_earliest_due_branch(codeimport,
                                                            puller):
    store = codeimport.store
    make = codeimport.factory.makeBranch
    late = make(branch_type=B.MIRRORED)
    early = make(branch_type=B.IMPORTED)
    set_fields(store, late, next_mirror_time=utc(2001, 1, 1))
    set_fields(store, early, next_mirror_time=utc(2000, 1, 1))
    assert puller.acquireBranchToPull() is early
    assert early.next_mirror_time is None
    assert early.last_mirror_attempt == db_now(store)
    assert puller.acquireBranchToPull() is late
    assert puller.acquireBranchToPull() is None


def test_acquireBranchToPull_equal_times_lowest_id_first(codeimport, puller):
    store = codeimport.store
    first = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    second = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    for branch in (second, first):
        set_fields(store, branch, next_mirror_time=utc(2000, 1, 1))
    assert puller.acquireBranchToPull() is first


def test_acquireBranchToPull_skips_future_and_in_progress(codeimport, puller):
    store = codeimport.store
    future = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    set_fields(store, future, next_mirror_time=utc(2100, 1, 1))
    codeimport.factory.makeBranch(branch_type=B.MIRRORED)  # NULL
    assert puller.acquireBranchToPull() is None


def test_acquireBranchToPull_never_returns_remote_or_hosted(
        codeimport, puller):
    store = codeimport.store
    for branch_type in (B.REMOTE, B.HOSTED):
        branch = codeimport.factory.makeBranch(branch_type=branch_type)
        set_fields(store, branch, next_mirror_time=utc(2000, 1, 1))
    assert puller.acquireBranchToPull() is None


@pytest.mark.parametrize("branch_type", [B.REMOTE, B.HOSTED])
def test_acquireBranchToPull_asked_for_unmirrored_type_raises(
        puller, branch_type):
    with pytest.raises(BranchTypeError):
        puller.acquireBranchToPull(branch_type)


def test_acquireBranchToPull_filters_by_type(codeimport, puller):
    store = codeimport.store
    mirrored = codeimport.factory.makeBranch(branch_type=B.MIRRORED)
    imported = codeimport.factory.makeBranch(branch_type=B.IMPORTED)
    set_fields(store, mirrored, next_mirror_time=utc(2000, 1, 1))
    set_fields(store, imported, next_mirror_time=utc(2001, 1, 1))
    assert puller.acquireBranchToPull(B.IMPORTED) is imported
    assert puller.acquireBranchToPull(B.IMPORTED) is None
    assert puller.acquireBranchToPull(B.MIRRORED, B.IMPORTED) is mirrored


def test_puller_constants_match_original(puller):
    assert puller.MAXIMUM_MIRROR_FAILURES == 5
    assert puller.MIRROR_TIME_INCREMENT == SIX_HOURS
