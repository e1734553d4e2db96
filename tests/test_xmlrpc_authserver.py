"""`BranchStatusAPI`, called in-process: results and faults."""

from __future__ import annotations

import xmlrpc.client
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest

from codeimport.enums import BranchType
from codeimport.xmlrpc.authserver import BranchStatusAPI

UTC = timezone.utc
STARTED = datetime(2007, 7, 5, 19, 32, 1, tzinfo=UTC)
COMPLETED = datetime(2007, 7, 5, 19, 34, 24, tzinfo=UTC)


@pytest.fixture
def api(codeimport):
    return BranchStatusAPI(codeimport.utilities)


def fault_code(call, *args):
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(*args)
    return info.value.faultCode


def mirrored(codeimport):
    return codeimport.factory.makeBranch(branch_type=BranchType.MIRRORED)


@pytest.mark.parametrize("method, extra", [
    ("startMirroring", ()),
    ("mirrorComplete", ("rev-1",)),
    ("mirrorFailed", ("reason",)),
    ("requestMirror", ()),
])
def test_branch_methods_with_an_unknown_id_fault_270(api, method, extra):
    with pytest.raises(xmlrpc.client.Fault) as info:
        getattr(api, method)(-1, *extra)
    assert info.value.faultCode == 270
    assert info.value.faultString == "No branch with ID -1"


@pytest.mark.parametrize("method, extra", [
    ("startMirroring", ()),
    ("mirrorFailed", ("reason",)),
    ("requestMirror", ()),
])
@pytest.mark.parametrize("branch_type", [BranchType.HOSTED, BranchType.REMOTE])
def test_branch_methods_on_unmirrored_types_fault_906(
        codeimport, api, method, extra, branch_type):
    branch = codeimport.factory.makeBranch(branch_type=branch_type)

    assert fault_code(getattr(api, method), branch.id, *extra) == 906


def test_startMirroring_records_the_attempt(codeimport, api):
    branch = mirrored(codeimport)

    assert api.startMirroring(branch.id) is True
    assert branch.last_mirror_attempt is not None
    assert branch.next_mirror_time is None


def test_mirrorComplete_without_startMirroring_faults_902(codeimport, api):
    branch = mirrored(codeimport)

    assert fault_code(api.mirrorComplete, branch.id, "rev-1") == 902


def test_mirrorComplete_records_the_mirror(codeimport, api):
    branch = mirrored(codeimport)
    api.startMirroring(branch.id)

    assert api.mirrorComplete(branch.id, "rev-1") is True
    assert branch.last_mirrored == branch.last_mirror_attempt
    assert branch.last_mirrored_id == "rev-1"
    assert branch.mirror_failures == 0


@pytest.mark.parametrize("revision", ["", None, 7])
def test_mirrorComplete_with_a_bad_revision_faults_904(
        codeimport, api, revision):
    branch = mirrored(codeimport)
    api.startMirroring(branch.id)

    assert fault_code(api.mirrorComplete, branch.id, revision) == 904


def test_mirrorFailed_counts_and_backs_off(codeimport, api):
    branch = mirrored(codeimport)
    api.startMirroring(branch.id)
    api.mirrorFailed(branch.id, "one")
    api.mirrorFailed(branch.id, "two")

    assert branch.mirror_failures == 2
    assert branch.mirror_status_message == "two"
    codeimport.store.flush()
    codeimport.store.invalidate(branch)
    assert branch.next_mirror_time - branch.last_mirror_attempt == (
        timedelta(hours=12))


def test_requestMirror_makes_the_branch_due(codeimport, api):
    branch = mirrored(codeimport)

    assert api.requestMirror(branch.id) is True
    assert branch.next_mirror_time is not None


def test_acquireBranchToPull_with_nothing_due_returns_empty(api):
    assert api.acquireBranchToPull([]) == []


def test_acquireBranchToPull_returns_the_due_branch_and_starts_it(
        codeimport, api):
    branch = mirrored(codeimport)
    branch.requestMirror()

    answer = api.acquireBranchToPull(["MIRRORED", "IMPORTED"])

    assert answer == [branch.id, branch.url, branch.unique_name, "",
                      "MIRRORED"]
    assert branch.next_mirror_time is None
    assert branch.last_mirror_attempt is not None
    assert api.acquireBranchToPull([]) == []


def test_acquireBranchToPull_filters_by_type(codeimport, api):
    mirrored(codeimport).requestMirror()

    assert api.acquireBranchToPull(["IMPORTED"]) == []


def test_acquireBranchToPull_of_an_imported_branch_gives_its_pull_url(
        codeimport, api):
    branch = codeimport.factory.makeBranch(branch_type=BranchType.IMPORTED)
    branch.requestMirror()

    answer = api.acquireBranchToPull([])

    assert answer == [branch.id, branch.getPullURL(), branch.unique_name, "",
                      "IMPORTED"]


def test_acquireBranchToPull_with_an_unknown_type_faults_903(api):
    with pytest.raises(xmlrpc.client.Fault) as info:
        api.acquireBranchToPull(["MIRRORED", "SHINY"])
    assert info.value.faultCode == 903
    assert info.value.faultString == "Unknown branch type: 'SHINY'"


def test_acquireBranchToPull_of_never_mirrored_types_faults_906(api):
    assert fault_code(api.acquireBranchToPull, ["REMOTE"]) == 906


@pytest.mark.parametrize("names", ["MIRRORED", None, [1], [["MIRRORED"]]])
def test_acquireBranchToPull_with_a_non_list_faults_904(api, names):
    assert fault_code(api.acquireBranchToPull, names) == 904


@pytest.mark.parametrize("started, completed", [
    (STARTED, COMPLETED),
    (list(STARTED.utctimetuple()), list(COMPLETED.utctimetuple())),
    (list(STARTED.utctimetuple())[:6], list(COMPLETED.utctimetuple())[:6]),
    (xmlrpc.client.DateTime("20070705T19:32:01"),
     xmlrpc.client.DateTime("2007-07-05T19:34:24")),
    (STARTED.replace(tzinfo=None), COMPLETED.astimezone(
        timezone(timedelta(hours=2)))),
])
def test_recordSuccess_accepts_each_time_form(
        codeimport, api, started, completed):
    assert api.recordSuccess("branch-puller", "vostok", started,
                             completed) is True

    activity = codeimport.utilities.script_activities.getLastActivity(
        "branch-puller")
    assert activity.hostname == "vostok"
    assert activity.date_started == STARTED
    assert activity.date_completed == COMPLETED


@pytest.mark.parametrize("started", [
    "2007-07-05", 1183663921, [2007, 7, 5], [2007, 13, 5, 0, 0, 0],
    [2007, 7, 5, 19, 32, "1"], list(range(10)),
    xmlrpc.client.DateTime("yesterday"),
])
def test_recordSuccess_with_a_bad_time_faults_904(api, started):
    assert fault_code(api.recordSuccess, "puller", "vostok", started,
                      COMPLETED) == 904


def test_recordSuccess_finishing_before_it_started_faults_904(api):
    assert fault_code(api.recordSuccess, "puller", "vostok", COMPLETED,
                      STARTED) == 904


@pytest.mark.parametrize("name, hostname", [("", "vostok"), ("x", None)])
def test_recordSuccess_without_names_faults_904(api, name, hostname):
    assert fault_code(api.recordSuccess, name, hostname, STARTED,
                      COMPLETED) == 904
