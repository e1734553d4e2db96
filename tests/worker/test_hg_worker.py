"""The ``codeimport importworker`` command on a Mercurial source: the
argument contract (``hg``, ``--revision-limit``), the registration in
`default_importers` and the exit statuses the monitor maps to results."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codeimport.enums import WorkerExitCode
from codeimport.testing.fixture import TEST_SOURCE_NETWORKS
from codeimport.testing.vcs.hg import HgServer
from codeimport.testing.vcs.hg import build_fixture


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hg-worker") / "repos"
    with HgServer(root) as served:
        build_fixture(root / "project")
        yield served


def worker(store, url, *extra):
    return subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "importworker",
         "--target-store", str(store),
         "--allowed-source-networks", ",".join(TEST_SOURCE_NETWORKS),
         "--", "~team/project/import", "hg",
         "git", url, *extra], capture_output=True, text=True, timeout=120)


def test_the_worker_imports_in_chunks_then_reports_nothing_new(
        server, tmp_path):
    url = server.urlFor("project")
    runs = [worker(tmp_path, url, "--revision-limit", "7")
            for _ in range(3)]
    assert [run.returncode for run in runs] == [
        WorkerExitCode.SUCCESS_PARTIAL, WorkerExitCode.SUCCESS,
        WorkerExitCode.SUCCESS_NOCHANGE], [run.stdout for run in runs]
    assert "changesets 7/12" in runs[0].stdout
    assert "updated  refs/heads/master" in runs[1].stdout
    assert "added    refs/tags/v1.1" in runs[1].stdout
    # The log ends with the published tips, after the verdict.
    assert "\nNo changes.\nPublished 7 ref(s)" in runs[2].stdout


def test_the_worker_reports_a_missing_source_as_invalid(server, tmp_path):
    run = worker(tmp_path, server.urlFor("missing"))
    assert run.returncode == WorkerExitCode.FAILURE_INVALID
    assert "HTTP Error 404" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_the_default_policy_refuses_a_local_path(tmp_path):
    run = worker(tmp_path, str(tmp_path / "repo"))
    assert run.returncode == WorkerExitCode.FAILURE_FORBIDDEN
    assert "Traceback" not in run.stdout + run.stderr
