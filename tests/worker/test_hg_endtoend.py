"""Mercurial imports end to end: the real service, ``codeimport
dispatch`` with its monitor and worker, an ``hg serve`` source, and the
per-kind revision limit from the service's settings.

It runs once the end-to-end harness (`codeimport.testing.endtoend`) is
on the branch; until then it says so as a skip.
"""

from __future__ import annotations

import subprocess

import pytest

from codeimport.testing.vcs.hg import HgRepo
from codeimport.testing.vcs.hg import HgServer
from codeimport.testing.vcs.hg import build_fixture

endtoend = pytest.importorskip(
    "codeimport.testing.endtoend",
    reason="the end-to-end harness has not landed yet")


def target_refs(path):
    out = subprocess.run(
        ["git", f"--git-dir={path}", "for-each-ref",
         "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"],
        check=True, capture_output=True, text=True).stdout
    return dict(line.split() for line in out.splitlines())


def test_mercurial_in_chunks_then_incremental_then_nothing_new(
        codeimport, tmp_path):
    served = tmp_path / "served"
    with HgServer(served) as server:
        nodes = build_fixture(served / "project")
        harness = endtoend.ImportHarness(
            codeimport, tmp_path / "e2e",
            settings={"revision_limit_mercurial": 7})
        try:
            code_import = harness.register("hg", server.urlFor("project"))
            runs = [harness.run(code_import) for _ in range(2)]
            assert [run.status for run in runs] == [
                "SUCCESS_PARTIAL", "SUCCESS"], runs
            assert "changesets 7/12" in runs[0].log
            assert "Checked against the source" in runs[1].log
            target = harness.targetPath(code_import)
            refs = target_refs(target)
            assert {"refs/heads/master", "refs/heads/branches/stable",
                    "refs/heads/branches/doomed", "refs/heads/feature-bm",
                    "refs/tags/v1.0", "refs/tags/v1.1",
                    f"refs/heads/heads/default/{nodes['main'][:12]}",
                    } == set(refs)
            repo = HgRepo(served / "project")
            repo.commit("Later", {"later.txt": "l\n"},
                        parents=[nodes["anonymous"]])
            repo.close()
            run = harness.run(code_import)
            assert run.status == "SUCCESS", run
            assert "Converted 1 changesets (13 of 13)" in run.log
            assert harness.run(code_import).status == "SUCCESS_NOCHANGE"

            missing = harness.register("hg", server.urlFor("no-such-repo"))
            run = harness.run(missing)
            assert run.status == "FAILURE_INVALID", run
            assert "HTTP Error 404" in run.log
            assert "Traceback" not in run.log
        finally:
            harness.close()
