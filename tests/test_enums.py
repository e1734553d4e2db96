"""The enumerations keep the original's names, values and titles (§1)."""

from __future__ import annotations

import pytest
from lazr.enum import DBEnumeratedType
from lazr.enum import EnumeratedType

from codeimport import enums
from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.enums import WorkerExitCode

EXPECTED = {
    "RevisionControlSystems": {
        "CVS": 1, "SVN": 2, "BZR_SVN": 3, "GIT": 4, "HG": 5, "BZR": 6,
    },
    "CodeImportReviewStatus": {
        "NEW": 1, "INVALID": 10, "REVIEWED": 20, "SUSPENDED": 30,
        "FAILING": 40,
    },
    "CodeImportJobState": {"PENDING": 10, "SCHEDULED": 20, "RUNNING": 30},
    "CodeImportMachineState": {"OFFLINE": 10, "ONLINE": 20, "QUIESCING": 30},
    "CodeImportMachineOfflineReason": {
        "STOPPED": 110, "QUIESCED": 120, "WATCHDOG": 210,
    },
    "CodeImportEventType": {
        "CREATE": 110, "MODIFY": 120, "DELETE": 130, "START": 210,
        "FINISH": 220, "PUBLISH": 230, "RECLAIM": 240, "REQUEST": 310,
        "KILL": 320, "ONLINE": 410, "OFFLINE": 420, "QUIESCE": 430,
    },
    "CodeImportEventDataType": {
        "MESSAGE": 10, "CODE_IMPORT": 110, "OWNER": 120, "OLD_OWNER": 121,
        "REVIEW_STATUS": 130, "OLD_REVIEW_STATUS": 131, "ASSIGNEE": 140,
        "OLD_ASSIGNEE": 141, "UPDATE_INTERVAL": 210,
        "OLD_UPDATE_INTERVAL": 211, "CVS_ROOT": 220, "CVS_MODULE": 221,
        "OLD_CVS_ROOT": 222, "OLD_CVS_MODULE": 223, "SVN_BRANCH_URL": 230,
        "OLD_SVN_BRANCH_URL": 231, "GIT_REPO_URL": 237,
        "OLD_GIT_REPO_URL": 238, "URL": 240, "OLD_URL": 241,
        # Ours (issue 13): when a private source's credentials were set.
        "SOURCE_CREDENTIALS": 250, "OLD_SOURCE_CREDENTIALS": 251,
        "OFFLINE_REASON": 410, "RECLAIMED_JOB_ID": 510,
    },
    "CodeImportResultStatus": {
        "SUCCESS": 100, "SUCCESS_NOCHANGE": 110, "SUCCESS_PARTIAL": 120,
        "FAILURE": 200, "INTERNAL_FAILURE": 210, "FAILURE_INVALID": 220,
        "FAILURE_UNSUPPORTED_FEATURE": 230, "FAILURE_FORBIDDEN": 240,
        "FAILURE_REMOTE_BROKEN": 250, "RECLAIMED": 310, "KILLED": 320,
    },
    "BranchType": {"HOSTED": 1, "MIRRORED": 2, "IMPORTED": 3, "REMOTE": 4},
}


@pytest.mark.parametrize("enum_name", sorted(EXPECTED))
def test_db_enum_names_and_values_match_original(enum_name):
    enum = getattr(enums, enum_name)
    assert issubclass(enum, DBEnumeratedType)
    values = {item.name: item.value for item in enum.items}
    assert values == EXPECTED[enum_name]


@pytest.mark.parametrize("enum_name", sorted(EXPECTED))
def test_db_enum_items_lookup_by_value_and_name_agree(enum_name):
    enum = getattr(enums, enum_name)
    for name, value in EXPECTED[enum_name].items():
        assert enum.items[value] is enum.items[name]


def test_review_status_titles_match_original():
    titles = {item.name: item.title for item in CodeImportReviewStatus.items}
    assert titles == {
        "NEW": "Pending Review", "INVALID": "Invalid",
        "REVIEWED": "Reviewed", "SUSPENDED": "Suspended",
        "FAILING": "Failed",
    }


def test_event_type_titles_match_original():
    titles = {item.name: item.title for item in CodeImportEventType.items}
    assert titles == {
        "CREATE": "Import Created", "MODIFY": "Import Modified",
        "DELETE": "Import Deleted", "START": "Job Started",
        "FINISH": "Job Finished", "PUBLISH": "Import First Published",
        "RECLAIM": "Job Reclaimed Automatically",
        "REQUEST": "Update Requested", "KILL": "Termination Requested",
        "ONLINE": "Machine Online", "OFFLINE": "Machine Offline",
        "QUIESCE": "Quiescing Requested",
    }


def test_result_status_titles_match_original():
    titles = {item.name: item.title for item in CodeImportResultStatus.items}
    assert titles == {
        "SUCCESS": "Success", "SUCCESS_NOCHANGE": "Success with no changes",
        "SUCCESS_PARTIAL": "Partial Success", "FAILURE": "Failure",
        "INTERNAL_FAILURE": "Internal Failure",
        "FAILURE_INVALID": "Foreign branch invalid",
        "FAILURE_UNSUPPORTED_FEATURE": "Unsupported feature",
        "FAILURE_FORBIDDEN": "Forbidden URL",
        "FAILURE_REMOTE_BROKEN": "Broken remote branch",
        "RECLAIMED": "Job reclaimed", "KILLED": "Job killed",
    }


def test_rcs_titles_match_original():
    titles = {item.name: item.title for item in RevisionControlSystems.items}
    assert titles == {
        "CVS": "Concurrent Versions System", "SVN": "Subversion via CSCVS",
        "BZR_SVN": "Subversion via bzr-svn", "GIT": "Git",
        "HG": "Mercurial", "BZR": "Bazaar",
    }


def test_successes_lists_the_three_success_statuses_in_order():
    S = CodeImportResultStatus
    assert S.successes == [S.SUCCESS, S.SUCCESS_NOCHANGE, S.SUCCESS_PARTIAL]


def test_non_cvs_rcs_types_are_bzr_svn_git_bzr():
    R = RevisionControlSystems
    assert enums.NON_CVS_RCS_TYPES == (R.BZR_SVN, R.GIT, R.BZR, R.HG)


def test_target_rcs_types_are_plain_enumerated_bzr_and_git():
    T = TargetRevisionControlSystems
    assert issubclass(T, EnumeratedType)
    assert not issubclass(T, DBEnumeratedType)
    assert [item.name for item in T.items] == ["BZR", "GIT"]
    assert (T.BZR.title, T.GIT.title) == ("Bazaar", "Git")


def test_worker_exit_codes_match_original():
    W = WorkerExitCode
    assert (W.SUCCESS, W.FAILURE, W.SUCCESS_NOCHANGE, W.SUCCESS_PARTIAL,
            W.FAILURE_INVALID, W.FAILURE_UNSUPPORTED_FEATURE,
            W.FAILURE_FORBIDDEN, W.FAILURE_REMOTE_BROKEN) == tuple(range(8))


def test_every_old_data_type_pairs_with_a_current_one():
    D = CodeImportEventDataType
    names = {item.name for item in D.items}
    for name in names:
        if name.startswith("OLD_"):
            assert name[4:] in names
    assert "OLD_URL" in names and D.items["OLD_URL"].value == 241
