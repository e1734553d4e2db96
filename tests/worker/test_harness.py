"""The end-to-end harness (`codeimport.testing.endtoend`) and the git
daemon test server (`codeimport.testing.vcs.git`) do what they promise.
"""

from __future__ import annotations

import subprocess

import pytest

from codeimport.testing.endtoend import ImportHarness
from codeimport.testing.vcs.git import GitDaemon
from codeimport.testing.vcs.git import add_commits
from codeimport.testing.vcs.git import git_refs
from codeimport.testing.vcs.git import make_history


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    daemon = GitDaemon(tmp_path_factory.mktemp("served")).start()
    yield daemon
    daemon.close()


def test_the_git_daemon_serves_what_make_history_built(daemon, tmp_path):
    source = make_history(daemon.path("served-history"), commits=8)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--mirror",
                    daemon.url("served-history"), str(clone)], check=True,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert git_refs(clone) == git_refs(source)
    assert sorted(git_refs(source)) == [
        "refs/heads/master", "refs/heads/stable", "refs/tags/light",
        "refs/tags/v1.0"]


def test_the_harness_runs_an_import_then_reports_no_change(
        codeimport, codeimport_xmlrpc_server, daemon, tmp_path):
    source = make_history(daemon.path("harnessed"), commits=6)
    harness = ImportHarness(codeimport, tmp_path / "e2e",
                            server=codeimport_xmlrpc_server)
    try:
        code_import = harness.register("git", daemon.url("harnessed"))
        first = harness.run(code_import)
        assert first.status == "SUCCESS", first.log
        assert git_refs(harness.targetPath(code_import)) == git_refs(source)

        assert harness.run(code_import).status == "SUCCESS_NOCHANGE"

        add_commits(source, 2)
        again = harness.run(code_import)
        assert again.status == "SUCCESS", again.log
        assert git_refs(harness.targetPath(code_import)) == git_refs(source)
    finally:
        harness.close()
