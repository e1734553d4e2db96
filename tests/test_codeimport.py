"""Code imports and their set (§4): registration, lookups, updates,
requests, intervals and failure counting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now
from corehelpers import event_data
from corehelpers import set_fields
from corehelpers import utc

from codeimport.enums import BranchType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import BranchCreatorNotMemberOfOwnerTeam
from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import CodeImportAlreadyRunning
from codeimport.errors import CodeImportInvalidTargetType
from codeimport.errors import CodeImportNotInReviewedState
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidReviewStatus
from codeimport.errors import NoSuchCodeImport
from codeimport.settings import Settings

R = RevisionControlSystems
T = TargetRevisionControlSystems
Review = CodeImportReviewStatus
S = CodeImportResultStatus


@pytest.fixture
def code_imports(codeimport):
    return codeimport.utilities.code_imports


@pytest.fixture
def alice(codeimport):
    return codeimport.factory.makePerson(name="alice")


def new_import(code_imports, registrant, rcs_type=R.GIT, target=T.BZR,
               name="import", project="proj", **kwargs):
    if rcs_type != R.CVS:
        kwargs.setdefault("url", "http://example.com/src")
    return code_imports.new(registrant, project, name, rcs_type, target,
                            **kwargs)


# -- CodeImportSet.new ------------------------------------------------------

def test_new_reviewed_by_default_with_job_due_now(codeimport, code_imports,
                                                  alice):
    events = codeimport.new_events()
    code_import = new_import(code_imports, alice)
    assert code_import.review_status == Review.REVIEWED
    assert (code_import.registrant, code_import.owner) == (alice, alice)
    branch = code_import.branch
    assert branch.unique_name == "~alice/proj/import"
    assert branch.branch_type == BranchType.IMPORTED
    assert code_import.target is branch
    assert repr(code_import) == "<CodeImport for ~alice/proj/import>"
    job = code_import.import_job
    assert job.state == CodeImportJobState.PENDING
    assert job.date_due == db_now(codeimport.store)
    assert job.requesting_user is None and job.machine is None
    assert events.summary() == "CREATE ~alice/proj/import alice"


@pytest.mark.parametrize("status", [
    Review.NEW, Review.INVALID, Review.SUSPENDED, Review.FAILING,
])
def test_new_not_reviewed_has_no_job(code_imports, alice, status):
    code_import = new_import(code_imports, alice, review_status=status)
    assert code_import.review_status == status
    assert code_import.import_job is None


def test_new_for_a_team_owner_the_registrant_belongs_to(codeimport,
                                                        code_imports, alice):
    team = codeimport.factory.makeTeam(name="team", members=[alice])
    code_import = new_import(code_imports, alice, owner=team)
    assert code_import.owner is team and code_import.registrant is alice
    assert code_import.branch.unique_name == "~team/proj/import"


def test_new_for_an_owner_the_registrant_is_not_in_raises(
        codeimport, code_imports, alice):
    team = codeimport.factory.makeTeam(name="team")
    with pytest.raises(BranchCreatorNotMemberOfOwnerTeam) as info:
        new_import(code_imports, alice, owner=team)
    assert str(info.value) == "alice is not a member of team."


def test_new_url_is_stored_without_trailing_slash(code_imports, alice):
    code_import = new_import(code_imports, alice,
                             url="http://example.com/src/")
    assert code_import.url == "http://example.com/src"


@pytest.mark.parametrize("rcs_type", [R.BZR_SVN, R.BZR, R.CVS, R.HG])
def test_new_every_source_kind_imports_into_git(code_imports, alice,
                                                rcs_type):
    kwargs = ({"cvs_root": ":pserver:a@cvs.example.org:/c",
               "cvs_module": "m"} if rcs_type == R.CVS else {})
    code_import = new_import(code_imports, alice, rcs_type, T.GIT, **kwargs)
    assert code_import.rcs_type == rcs_type
    assert code_import.target_rcs_type == T.GIT


def test_new_with_unknown_target_type_raises(code_imports, alice):
    with pytest.raises(CodeImportInvalidTargetType):
        new_import(code_imports, alice, target="SVN")


@pytest.mark.parametrize("rcs_type", [R.SVN])
def test_new_with_legacy_rcs_type_raises(code_imports, alice, rcs_type):
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, rcs_type)
    assert str(info.value) == (
        "Don't know how to sanity check source details for unknown "
        f"rcs_type {rcs_type.name}")


@pytest.mark.parametrize("kwargs", [
    {"cvs_root": ":pserver:a@cvs.example.org:/c"},
    {"cvs_module": "m"},
    {"cvs_root": ":pserver:a@cvs.example.org:/c", "cvs_module": "m",
     "url": "http://example.com/x"},
])
def test_new_cvs_with_wrong_details_raises(code_imports, alice, kwargs):
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, R.CVS, **kwargs)
    assert str(info.value) == (
        "A CVS import needs cvs_root and cvs_module and no url.")


@pytest.mark.parametrize("kwargs", [
    {"url": None},
    {"cvs_root": ":pserver:a@cvs.example.org:/c"},
    {"cvs_module": "m"},
])
def test_new_url_import_with_wrong_details_raises(code_imports, alice,
                                                  kwargs):
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, R.BZR_SVN, **kwargs)
    assert str(info.value) == (
        "A BZR_SVN import needs a url and no CVS details.")


def test_new_cvs_with_bad_root_raises_validator_message(code_imports, alice):
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, R.CVS, cvs_root=":local:/x",
                   cvs_module="m")
    assert str(info.value) == "Local CVS roots are not allowed."


def test_new_cvs_with_bad_module_raises_validator_message(code_imports,
                                                          alice):
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, R.CVS,
                   cvs_root=":pserver:a@cvs.example.org:/c", cvs_module="CVS")
    assert str(info.value) == 'A CVS module can not be called "CVS".'


@pytest.mark.parametrize("rcs_type, target", [(R.GIT, T.GIT), (R.BZR, T.BZR)])
@pytest.mark.parametrize("host", [
    "code.example.test", "git.code.example.test"])
def test_new_same_vcs_import_from_our_own_host_raises(
        code_imports, alice, rcs_type, target, host):
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, rcs_type, target,
                   url=f"https://{host}/repo")
    assert str(info.value) == (
        "You cannot create same-VCS imports for branches or repositories "
        "that are hosted by code.example.test.")


def test_new_cross_vcs_import_from_our_own_host_is_allowed(code_imports,
                                                           alice):
    code_import = new_import(code_imports, alice, R.GIT, T.BZR,
                             url="https://code.example.test/repo")
    assert code_import.url == "https://code.example.test/repo"


def test_new_duplicate_url_for_same_target_kind_raises(code_imports, alice):
    first = new_import(code_imports, alice, url="git://example.com/r")
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, name="other",
                   url="git://example.com/r/")
    assert str(info.value) == (
        "This foreign branch URL is already specified for the imported "
        f"branch {first.branch.unique_name}.")


def test_new_same_url_for_other_target_kind_is_allowed(code_imports, alice):
    new_import(code_imports, alice, R.GIT, T.BZR, url="git://example.com/r")
    git = new_import(code_imports, alice, R.GIT, T.GIT, name="git",
                     url="git://example.com/r")
    assert git.target_rcs_type == T.GIT


def test_new_duplicate_cvs_details_raise(code_imports, alice):
    root = ":pserver:a@cvs.example.org:/c"
    first = new_import(code_imports, alice, R.CVS, cvs_root=root,
                       cvs_module="m")
    with pytest.raises(CodeImportValidationError) as info:
        new_import(code_imports, alice, R.CVS, name="b", cvs_root=root,
                   cvs_module="m")
    assert str(info.value) == (
        "Those CVS details are already specified for the imported branch "
        f"{first.branch.unique_name}.")


# -- lookups ----------------------------------------------------------------

def test_get_returns_the_import(code_imports, alice):
    code_import = new_import(code_imports, alice)
    assert code_imports.get(code_import.id) is code_import


@pytest.mark.parametrize("bad_id", [-10, 999999, "1", None])
def test_get_unknown_raises_NoSuchCodeImport(code_imports, bad_id):
    with pytest.raises(NoSuchCodeImport) as info:
        code_imports.get(bad_id)
    assert str(info.value) == f"No code import with ID {bad_id}"


def test_getByBranch_and_getByURL_and_getByCVSDetails(codeimport,
                                                      code_imports, alice):
    git = new_import(code_imports, alice, url="git://example.com/r")
    cvs = new_import(code_imports, alice, R.CVS, name="cvs",
                     cvs_root=":pserver:a@cvs.example.org:/c",
                     cvs_module="m")
    hosted = codeimport.factory.makeBranch()
    assert code_imports.getByBranch(git.branch) is git
    assert code_imports.getByBranch(hosted) is None
    assert code_imports.getByURL("git://example.com/r", T.BZR) is git
    assert code_imports.getByURL("git://example.com/r", T.GIT) is None
    assert code_imports.getByCVSDetails(
        ":pserver:a@cvs.example.org:/c", "m") is cvs
    assert code_imports.getByCVSDetails(
        ":pserver:a@cvs.example.org:/c", "other") is None


def test_getByURL_with_unknown_target_type_raises(code_imports):
    with pytest.raises(CodeImportValidationError) as info:
        code_imports.getByURL("git://example.com/r", "SVN")
    assert str(info.value) == "Unknown target_rcs_type 'SVN'"


def test_search_combines_filters(codeimport, code_imports, alice):
    make = codeimport.factory.makeCodeImport
    git_bzr = make(rcs_type=R.GIT)
    git_git = make(rcs_type=R.GIT, target_rcs_type=T.GIT)
    svn_new = make(rcs_type=R.BZR_SVN, review_status=Review.NEW)
    assert code_imports.search() == [git_bzr, git_git, svn_new]
    assert code_imports.search(review_status=Review.REVIEWED) == [
        git_bzr, git_git]
    assert code_imports.search(rcs_type=R.GIT, target_rcs_type=T.GIT) == [
        git_git]
    assert code_imports.search(target_rcs_type=T.BZR) == [git_bzr, svn_new]
    assert code_imports.search(rcs_type=R.CVS) == []


@pytest.mark.parametrize("running", [False, True])
def test_delete_removes_job_results_and_events_silently(
        codeimport, code_imports, running):
    f = codeimport.factory
    code_import = f.makeCodeImport()
    job = f.makeRunningJob(code_import=code_import) if running else (
        code_import.import_job)
    f.makeCodeImportResult(code_import)
    events = codeimport.new_events()
    import_id, job_id = code_import.id, job.id
    code_imports.delete(code_import)
    store = codeimport.store
    for table, column, value in [
        ("codeimport", "id", import_id), ("codeimportjob", "id", job_id),
        ("codeimportresult", "code_import", import_id),
        ("codeimportevent", "code_import", import_id),
    ]:
        assert store.execute(
            f"SELECT count(*) FROM {table} WHERE {column} = ?", (value,)
        ).get_one()[0] == 0
    assert events.summary() == ""


# -- intervals, display, failure count --------------------------------------

@pytest.mark.parametrize("rcs_type, seconds", [
    (R.CVS, 43200), (R.BZR_SVN, 21600), (R.GIT, 21600), (R.BZR, 21600),
])
def test_effective_update_interval_defaults_by_rcs_type(codeimport, rcs_type,
                                                        seconds):
    code_import = codeimport.factory.makeCodeImport(rcs_type=rcs_type)
    assert code_import.update_interval is None
    assert code_import.effective_update_interval == timedelta(
        seconds=seconds)


@pytest.mark.parametrize("rcs_type", [R.SVN, R.HG])
def test_effective_update_interval_legacy_types_fall_back_to_6h(
        codeimport, rcs_type):
    code_import = codeimport.factory.makeCodeImport()
    set_fields(codeimport.store, code_import, rcs_type=rcs_type)
    assert code_import.effective_update_interval == timedelta(hours=6)


@pytest.mark.parametrize("seconds", [7200, 3600])
def test_effective_update_interval_user_set_wins(codeimport, seconds):
    code_import = codeimport.factory.makeCodeImport(rcs_type=R.CVS)
    set_fields(codeimport.store, code_import,
               update_interval=timedelta(seconds=seconds))
    assert code_import.effective_update_interval == timedelta(
        seconds=seconds)


def test_effective_update_interval_follows_configured_default(codeimport):
    code_import = codeimport.factory.makeCodeImport(rcs_type=R.GIT)
    custom = codeimport.use_settings(Settings(default_interval_git=3600))
    found = custom.code_imports.get(code_import.id)
    assert found.effective_update_interval == timedelta(hours=1)


def test_getImportDetailsForDisplay_cvs_and_url(codeimport):
    make = codeimport.factory.makeCodeImport
    cvs = make(rcs_type=R.CVS, cvs_root=":pserver:a@cvs.example.org:/c",
               cvs_module="hello")
    svn = make(rcs_type=R.BZR_SVN, url="svn://svn.example.org/trunk")
    assert cvs.getImportDetailsForDisplay() == (
        ":pserver:a@cvs.example.org:/c hello")
    assert svn.getImportDetailsForDisplay() == "svn://svn.example.org/trunk"


@pytest.mark.parametrize("statuses, expected", [
    ([], 0),
    ([S.FAILURE], 1),
    ([S.FAILURE, S.FAILURE], 2),
    ([S.SUCCESS, S.FAILURE], 1),
    ([S.FAILURE, S.SUCCESS], 0),
    ([S.FAILURE, S.SUCCESS_NOCHANGE], 0),
    ([S.FAILURE, S.FAILURE, S.SUCCESS_PARTIAL], 0),
    ([S.SUCCESS_PARTIAL, S.RECLAIMED, S.KILLED, S.INTERNAL_FAILURE], 3),
    ([S.SUCCESS, S.FAILURE_INVALID, S.FAILURE_FORBIDDEN,
      S.FAILURE_UNSUPPORTED_FEATURE, S.FAILURE_REMOTE_BROKEN], 4),
])
def test_consecutive_failure_count_counts_since_last_success(
        codeimport, statuses, expected):
    f = codeimport.factory
    code_import = f.makeCodeImport()
    for n, status in enumerate(statuses):
        f.makeCodeImportResult(code_import, status,
                               date_finished=utc(2020, 1, 1 + n))
    assert code_import.consecutive_failure_count == expected


def test_consecutive_failure_count_ignores_other_imports(codeimport):
    f = codeimport.factory
    mine, other = f.makeCodeImport(), f.makeCodeImport()
    f.makeCodeImportResult(mine, S.FAILURE, date_finished=utc(2020, 1, 1))
    f.makeCodeImportResult(other, S.SUCCESS, date_finished=utc(2020, 1, 2))
    f.makeCodeImportResult(other, S.FAILURE, date_finished=utc(2020, 1, 3))
    assert mine.consecutive_failure_count == 1
    assert other.consecutive_failure_count == 1


def test_consecutive_failure_count_orders_by_id_not_date(codeimport):
    f = codeimport.factory
    code_import = f.makeCodeImport()
    f.makeCodeImportResult(code_import, S.FAILURE,
                           date_finished=utc(2020, 1, 2))
    # Recorded later, but dated earlier: it still counts as the latest.
    f.makeCodeImportResult(code_import, S.SUCCESS,
                           date_finished=utc(2020, 1, 1))
    assert code_import.consecutive_failure_count == 0


# -- updateFromData ---------------------------------------------------------

def test_updateFromData_empty_returns_None_without_event(codeimport):
    code_import = codeimport.factory.makeCodeImport()
    events = codeimport.new_events()
    assert code_import.updateFromData({}, None) is None
    assert events.summary() == ""


def test_updateFromData_unchanged_value_returns_None(codeimport):
    code_import = codeimport.factory.makeCodeImport()
    events = codeimport.new_events()
    assert code_import.updateFromData(
        {"review_status": Review.REVIEWED}, None) is None
    assert events.summary() == ""


def test_updateFromData_to_reviewed_creates_job_and_modify_event(
        codeimport, alice):
    code_import = codeimport.factory.makeCodeImport(
        review_status=Review.NEW, registrant=alice, project="p",
        branch_name="i")
    events = codeimport.new_events()
    event = code_import.updateFromData({"review_status": Review.REVIEWED},
                                       alice)
    assert events.summary() == "MODIFY ~alice/p/i alice"
    data = event_data(event)
    assert (data["REVIEW_STATUS"], data["OLD_REVIEW_STATUS"]) == (
        "REVIEWED", "NEW")
    assert code_import.import_job.state == CodeImportJobState.PENDING
    assert code_import.import_job.date_due == db_now(codeimport.store)


def test_updateFromData_to_reviewed_after_recent_run_is_due_later(
        codeimport):
    f = codeimport.factory
    code_import = f.makeCodeImport(review_status=Review.SUSPENDED)
    now = db_now(codeimport.store)
    started = now - timedelta(hours=1)
    f.makeCodeImportResult(code_import, S.SUCCESS, date_started=started,
                           date_finished=started + timedelta(minutes=5))
    code_import.updateFromData({"review_status": Review.REVIEWED}, None)
    assert code_import.import_job.date_due == started + timedelta(hours=6)


@pytest.mark.parametrize("status", [
    Review.NEW, Review.INVALID, Review.SUSPENDED, Review.FAILING,
])
def test_updateFromData_leaving_reviewed_deletes_pending_job(codeimport,
                                                             status):
    code_import = codeimport.factory.makeCodeImport()
    code_import.updateFromData({"review_status": status}, None)
    assert code_import.import_job is None
    assert code_import.review_status == status


def test_updateFromData_leaving_reviewed_keeps_running_job(codeimport):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import
    code_import.updateFromData({"review_status": Review.SUSPENDED}, None)
    assert code_import.import_job is job
    assert job.state == CodeImportJobState.RUNNING


def test_updateFromData_reviewed_again_with_job_leaves_it(codeimport):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import
    code_import.updateFromData({"review_status": Review.SUSPENDED}, None)
    code_import.updateFromData({"review_status": Review.REVIEWED}, None)
    assert code_import.import_job is job
    assert job.state == CodeImportJobState.RUNNING


def test_updateFromData_url_change_does_not_reschedule(codeimport):
    code_import = codeimport.factory.makeCodeImport()
    job = code_import.import_job
    set_fields(codeimport.store, job, date_due=utc(2100, 1, 1))
    code_import.updateFromData(
        {"url": "http://example.com/new/",
         "update_interval": timedelta(hours=1)}, None)
    assert code_import.url == "http://example.com/new"
    assert code_import.import_job is job
    assert job.date_due == utc(2100, 1, 1)


def test_updateFromData_changes_source_kind_with_all_fields(codeimport):
    code_import = codeimport.factory.makeCodeImport(rcs_type=R.BZR_SVN)
    event = code_import.updateFromData({
        "rcs_type": R.CVS, "url": None,
        "cvs_root": ":pserver:a@cvs.example.org:/c", "cvs_module": "m",
    }, None)
    assert code_import.rcs_type == R.CVS
    assert event_data(event)["CVS_MODULE"] == "m"
    codeimport.store.flush()  # satisfies valid_vcs_details


def test_updateFromData_rcs_type_without_source_fields_raises(codeimport):
    code_import = codeimport.factory.makeCodeImport(rcs_type=R.BZR_SVN)
    with pytest.raises(CodeImportValidationError) as info:
        code_import.updateFromData({"rcs_type": R.CVS}, None)
    assert str(info.value) == (
        "The source details do not suit a CVS import.")


@pytest.mark.parametrize("data, message", [
    ({"whiteboard": "x"}, "Cannot update whiteboard."),
    ({"branch": None, "id": 3}, "Cannot update branch, id."),
    ({"review_status": "REVIEWED"}, "Not a review status: 'REVIEWED'"),
    ({"rcs_type": "GIT"}, "Not a source type: 'GIT'"),
    ({"url": "http://example.com/x?y=1"},
     "The URL 'http://example.com/x?y=1' must not have a query or a "
     "fragment."),
])
def test_updateFromData_bad_data_raises_before_any_change(codeimport, data,
                                                          message):
    code_import = codeimport.factory.makeCodeImport()
    events = codeimport.new_events()
    with pytest.raises(CodeImportValidationError) as info:
        code_import.updateFromData(data, None)
    assert str(info.value) == message
    assert code_import.review_status == Review.REVIEWED
    assert events.summary() == ""


def test_updateFromData_bad_cvs_root_raises(codeimport):
    code_import = codeimport.factory.makeCodeImport(rcs_type=R.CVS)
    with pytest.raises(CodeImportValidationError) as info:
        code_import.updateFromData({"cvs_root": "nohost"}, None)
    assert str(info.value) == "bad CVSROOT: 'nohost'"


# -- updateURL --------------------------------------------------------------

def test_updateURL_unchanged_returns_None(codeimport):
    code_import = codeimport.factory.makeCodeImport(url="http://e.com/a")
    assert code_import.updateURL("http://e.com/a", None) is None


def test_updateURL_changed_returns_modify_event(codeimport, alice):
    code_import = codeimport.factory.makeCodeImport(url="http://e.com/a")
    event = code_import.updateURL("http://e.com/b", alice)
    assert event.person is alice
    data = event_data(event)
    assert (data["URL"], data["OLD_URL"]) == ("http://e.com/b",
                                              "http://e.com/a")


# -- requestImport / tryFailingImportAgain ---------------------------------

@pytest.mark.parametrize("status", [Review.NEW, Review.FAILING])
def test_requestImport_without_job_raises_not_reviewed(codeimport, alice,
                                                       status):
    code_import = codeimport.factory.makeCodeImport(review_status=status)
    with pytest.raises(CodeImportNotInReviewedState) as info:
        code_import.requestImport(alice)
    assert str(info.value) == (
        f"This code import is {status.name}, and must be Reviewed for you "
        "to call requestImport.")


def test_requestImport_running_raises_already_running(codeimport, alice):
    job = codeimport.factory.makeRunningJob()
    with pytest.raises(CodeImportAlreadyRunning) as info:
        job.code_import.requestImport(alice)
    assert str(info.value) == "This code import is already running."


def test_requestImport_pending_requests_the_job(codeimport, alice):
    code_import = codeimport.factory.makeCodeImport(
        project="p", branch_name="i")
    events = codeimport.new_events()
    assert code_import.requestImport(alice) is None
    assert code_import.import_job.requesting_user is alice
    assert events.summary() == f"REQUEST ~{code_import.owner.name}/p/i alice"


def test_requestImport_already_requested_is_silent_by_default(codeimport,
                                                              alice):
    code_import = codeimport.factory.makeCodeImport()
    code_import.requestImport(alice)
    bob = codeimport.factory.makePerson()
    events = codeimport.new_events()
    assert code_import.requestImport(bob) is None
    assert code_import.import_job.requesting_user is alice
    assert events.summary() == ""


def test_requestImport_already_requested_raises_when_asked(codeimport,
                                                           alice):
    code_import = codeimport.factory.makeCodeImport()
    code_import.requestImport(alice)
    with pytest.raises(CodeImportAlreadyRequested) as info:
        code_import.requestImport(codeimport.factory.makePerson(),
                                  error_if_already_requested=True)
    assert str(info.value) == (
        "This code import has already been requested to run.")
    assert info.value.requesting_user is alice


@pytest.mark.parametrize("status", [
    Review.NEW, Review.REVIEWED, Review.SUSPENDED, Review.INVALID,
])
def test_tryFailingImportAgain_when_not_failing_raises(codeimport, alice,
                                                       status):
    code_import = codeimport.factory.makeCodeImport(review_status=status)
    with pytest.raises(InvalidReviewStatus) as info:
        code_import.tryFailingImportAgain(alice)
    assert str(info.value) == f"review_status is {status.name} not FAILING"


def test_tryFailingImportAgain_reviews_and_requests_now(codeimport, alice):
    f = codeimport.factory
    code_import = f.makeCodeImport(review_status=Review.FAILING,
                                   project="p", branch_name="i")
    now = db_now(codeimport.store)
    f.makeCodeImportResult(code_import, S.FAILURE,
                           date_started=now - timedelta(minutes=10),
                           date_finished=now - timedelta(minutes=5))
    events = codeimport.new_events()
    code_import.tryFailingImportAgain(alice)
    owner = code_import.owner.name
    assert events.summary() == (
        f"MODIFY ~{owner}/p/i alice\nREQUEST ~{owner}/p/i alice")
    job = code_import.import_job
    assert code_import.review_status == Review.REVIEWED
    assert job.requesting_user is alice
    assert job.date_due == now


def test_new_with_rcs_type_that_is_not_an_item_raises(code_imports, alice):
    with pytest.raises(CodeImportValidationError) as info:
        code_imports.new(alice, "p", "b", "GIT", T.BZR,
                         url="git://example.com/r")
    assert str(info.value) == "Not a source type: 'GIT'"
