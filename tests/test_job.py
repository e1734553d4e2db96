"""Code import jobs and the job set's queries (§5.1, §5.2, §5.6, §7.2)."""

from __future__ import annotations

import pytest
from corehelpers import make_stale
from corehelpers import set_fields
from corehelpers import utc

from codeimport.enums import CodeImportJobState
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.model.constants import UTC_NOW
from codeimport.settings import Settings

R = RevisionControlSystems
T = TargetRevisionControlSystems
LIMIT = 300


@pytest.fixture
def jobs(codeimport):
    return codeimport.utilities.jobs


# -- the job ----------------------------------------------------------------

@pytest.mark.parametrize("date_due, overdue", [
    (utc(2100, 1, 1), False),
    (utc(1900, 1, 1), True),
    (UTC_NOW, True),
])
def test_isOverdue_compares_with_transaction_time(codeimport, date_due,
                                                  overdue):
    job = codeimport.factory.makeCodeImportJob()
    set_fields(codeimport.store, job, date_due=date_due)
    assert job.isOverdue() is overdue


def test_pending_job_fields(codeimport):
    job = codeimport.factory.makeCodeImportJob()
    assert job.state == CodeImportJobState.PENDING
    for name in ("machine", "requesting_user", "ordering", "heartbeat",
                 "logtail", "date_started"):
        assert getattr(job, name) is None, name
    assert job.date_created is not None
    assert repr(job) == f"<CodeImportJob {job.id} PENDING>"


# -- makeWorkerArguments ----------------------------------------------------

def arguments_for(codeimport, settings=None, **kwargs):
    job = codeimport.factory.makeCodeImportJob(
        codeimport.factory.makeCodeImport(**kwargs))
    if settings is not None:
        job = codeimport.use_settings(settings).jobs.getById(job.id)
    return job, job.makeWorkerArguments()


def test_makeWorkerArguments_bzr_excludes_our_own_host(codeimport):
    job, args = arguments_for(codeimport, rcs_type=R.BZR,
                              url="http://example.com/foo")
    assert args == [str(job.code_import.branch.id), "bzr", "bzr",
                    "http://example.com/foo", "--exclude-host",
                    "code.example.test"]


def test_makeWorkerArguments_git_to_bzr(codeimport):
    job, args = arguments_for(codeimport, rcs_type=R.GIT,
                              url="git://git.example.com/r.git")
    assert args == [str(job.code_import.branch.id), "git", "bzr",
                    "git://git.example.com/r.git"]


def test_makeWorkerArguments_git_to_git_uses_unique_name(codeimport):
    job, args = arguments_for(codeimport, rcs_type=R.GIT,
                              target_rcs_type=T.GIT,
                              url="git://git.example.com/r.git")
    assert args == [job.code_import.branch.unique_name, "git", "git",
                    "git://git.example.com/r.git", "--exclude-host",
                    "code.example.test"]
    assert "--macaroon" not in args and "--stacked-on" not in args


def test_makeWorkerArguments_cvs(codeimport):
    job, args = arguments_for(codeimport, rcs_type=R.CVS,
                              cvs_root=":pserver:foo@example.com:/bar",
                              cvs_module="bar")
    assert args == [str(job.code_import.branch.id), "cvs", "bzr",
                    ":pserver:foo@example.com:/bar", "--cvs-module", "bar"]


def test_makeWorkerArguments_bzr_svn(codeimport):
    job, args = arguments_for(codeimport, rcs_type=R.BZR_SVN,
                              url="svn://svn.example.com/trunk")
    assert args == [str(job.code_import.branch.id), "bzr-svn", "bzr",
                    "svn://svn.example.com/trunk", "--revision-limit", "500"]


def test_makeWorkerArguments_hg_into_git(codeimport):
    job, args = arguments_for(codeimport, rcs_type=R.HG,
                              target_rcs_type=T.GIT,
                              url="https://hg.example.com/repo")
    assert args == [job.code_import.branch.unique_name, "hg", "git",
                    "https://hg.example.com/repo"]


@pytest.mark.parametrize("rcs_type, limit, expected", [
    (R.BZR_SVN, 1200, ["--revision-limit", "1200"]),
    (R.BZR_SVN, None, []),
    (R.HG, 40, ["--revision-limit", "40"]),
    (R.BZR, 7, ["--revision-limit", "7"]),
    (R.CVS, 9, ["--revision-limit", "9"]),
])
def test_makeWorkerArguments_revision_limit_per_kind(codeimport, rcs_type,
                                                     limit, expected):
    field = {R.BZR_SVN: "subversion", R.HG: "mercurial", R.BZR: "bzr",
             R.CVS: "cvs"}[rcs_type]
    settings = Settings(**{f"revision_limit_{field}": limit})
    kwargs = ({"cvs_root": ":pserver:a@cvs.example.com:/c",
               "cvs_module": "m"} if rcs_type == R.CVS
              else {"url": "http://example.com/src"})
    job, args = arguments_for(codeimport, settings, rcs_type=rcs_type,
                              target_rcs_type=T.GIT, **kwargs)
    tail = args[args.index("--revision-limit"):] if expected else []
    assert tail == expected
    assert ("--revision-limit" in args) == bool(expected)


def test_makeWorkerArguments_git_has_no_revision_limit(codeimport):
    job, args = arguments_for(codeimport, rcs_type=R.GIT,
                              target_rcs_type=T.GIT,
                              url="https://example.com/src.git")
    assert "--revision-limit" not in args


def test_makeWorkerArguments_blacklisted_hosts_in_configured_order(
        codeimport):
    settings = Settings(blacklisted_hostnames="localhost, 127.0.0.1")
    job, args = arguments_for(codeimport, settings, rcs_type=R.GIT,
                              url="git://git.example.com/r.git")
    assert args[3:] == ["git://git.example.com/r.git",
                        "--exclude-host", "localhost",
                        "--exclude-host", "127.0.0.1"]


def test_makeWorkerArguments_same_vcs_with_blacklist_own_host_first(
        codeimport):
    settings = Settings(mainsite_hostname="launchpad.test",
                        blacklisted_hostnames=("b.example", "a.example"))
    job, args = arguments_for(codeimport, settings, rcs_type=R.BZR,
                              url="http://example.com/foo")
    assert args[4:] == ["--exclude-host", "launchpad.test",
                        "--exclude-host", "b.example",
                        "--exclude-host", "a.example"]


@pytest.mark.parametrize("rcs_type", [R.SVN])
def test_makeWorkerArguments_legacy_rcs_type_raises(codeimport, rcs_type):
    job = codeimport.factory.makeCodeImportJob()
    set_fields(codeimport.store, job.code_import, rcs_type=rcs_type)
    with pytest.raises(CodeImportValidationError) as info:
        job.makeWorkerArguments()
    assert str(info.value) == f"Unknown rcs_type {rcs_type!r}."


# -- the job set ------------------------------------------------------------

def test_getById_returns_job_or_None(codeimport, jobs):
    job = codeimport.factory.makeCodeImportJob()
    assert jobs.getById(job.id) is job
    assert jobs.getById(job.id + 1000) is None
    assert jobs.getById(-1) is None


@pytest.mark.parametrize("bad", ["1", None, True, 1.0])
def test_getById_with_non_int_returns_None(codeimport, jobs, bad):
    codeimport.factory.makeCodeImportJob()
    assert jobs.getById(bad) is None


def test_getJobsInState_returns_jobs_by_id(codeimport, jobs):
    f = codeimport.factory
    pending = [f.makeCodeImportJob(), f.makeCodeImportJob()]
    running = f.makeRunningJob()
    assert jobs.getJobsInState(CodeImportJobState.PENDING) == pending
    assert jobs.getJobsInState(CodeImportJobState.RUNNING) == [running]
    assert jobs.getJobsInState(CodeImportJobState.SCHEDULED) == []


def test_getReclaimableJobs_half_limit_is_not_stale(codeimport, jobs):
    job = codeimport.factory.makeRunningJob()
    make_stale(codeimport.store, job, LIMIT // 2)
    assert jobs.getReclaimableJobs() == []


def test_getReclaimableJobs_exactly_at_limit_is_not_stale(codeimport, jobs):
    job = codeimport.factory.makeRunningJob()
    make_stale(codeimport.store, job, LIMIT)
    assert jobs.getReclaimableJobs() == []


def test_getReclaimableJobs_twice_limit_is_stale(codeimport, jobs):
    job = codeimport.factory.makeRunningJob()
    make_stale(codeimport.store, job, 2 * LIMIT)
    assert jobs.getReclaimableJobs() == [job]


def test_getReclaimableJobs_never_returns_pending(codeimport, jobs):
    codeimport.factory.makeCodeImportJob()
    assert jobs.getReclaimableJobs() == []


def test_getReclaimableJobs_mix_returns_only_stale_ones(codeimport, jobs):
    f = codeimport.factory
    store = codeimport.store
    fresh, stale1, stale2 = (f.makeRunningJob() for _ in range(3))
    f.makeCodeImportJob()
    make_stale(store, stale1, 10 * LIMIT)
    make_stale(store, stale2, LIMIT + 1)
    make_stale(store, fresh, 1)
    assert jobs.getReclaimableJobs() == [stale1, stale2]


def test_getReclaimableJobs_follows_configured_limit(codeimport):
    job = codeimport.factory.makeRunningJob()
    store = codeimport.store
    make_stale(store, job, 120)
    assert codeimport.utilities.jobs.getReclaimableJobs() == []
    custom = codeimport.use_settings(Settings(maximum_heartbeat_interval=60))
    assert custom.jobs.getReclaimableJobs() == [job]
