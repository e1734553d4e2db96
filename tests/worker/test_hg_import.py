"""Mercurial imports against a real ``hg serve``: mapping, incremental
runs, chunks, broken and missing sources.

The importer runs in-process (`run_import`, as the worker does), with
real ``hg`` and ``git`` programs; the source repositories are built with
Mercurial's API and served by a module-wide ``hg serve``.  git-remote-hg
serves as an oracle: on the refs it exports, its commits must equal
ours, id for id.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading

import pytest

from codeimport.access import make_policy
from codeimport.enums import WorkerExitCode
from codeimport.testing.vcs.hg import HgRepo
from codeimport.testing.vcs.hg import HgServer
from codeimport.testing.vcs.hg import build_fixture
from codeimport.worker.importworker import ImportContext
from codeimport.worker.importworker import ImportRequest
from codeimport.worker.importworker import run_import
from codeimport.worker.sources.hg import HgConverter
from codeimport.worker.sources.hg import HgImporter

TARGET = "~owner/project/import"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("hg-sources")
    with HgServer(root / "repos") as server:
        server.root_path = root / "repos"
        yield server


@pytest.fixture(scope="module")
def fixture_repo(served):
    """The standard history, served; tests must not change it."""
    nodes = build_fixture(served.root_path / "fixture")
    return served.urlFor("fixture"), nodes


@pytest.fixture(scope="module")
def one_shot(fixture_repo, tmp_path_factory):
    """The standard history imported in one run (tests read it only)."""
    url, _ = fixture_repo
    store = tmp_path_factory.mktemp("one-shot")
    run = run_hg_import(url, store)
    assert run.code == WorkerExitCode.SUCCESS, run.log
    return store, run.log


@pytest.fixture
def own_repo(served, request):
    """A copy of the standard history that the test may change."""
    name = "own-" + request.node.name.replace("[", "-").replace("]", "")
    path = served.root_path / name
    nodes = build_fixture(path)
    return served.urlFor(name), path, nodes


class Run:
    def __init__(self, code, log):
        self.code = code
        self.log = log


def run_hg_import(url, store, limit=None):
    lines = []
    request = ImportRequest(TARGET, "hg", "git", str(url),
                            revision_limit=limit)
    context = ImportContext(make_policy("anything"), str(store),
                            lines.append)
    code = run_import(request, context)
    return Run(code, "".join(lines))


def git(store, *args):
    return subprocess.run(
        ["git", f"--git-dir={store}/owner/project/import", *args],
        check=True, capture_output=True).stdout.decode()


def refs(store):
    out = git(store, "for-each-ref", "--format=%(refname) %(objectname)",
              "refs/heads", "refs/tags")
    return dict(line.split() for line in out.splitlines())


def short(node):
    return node[:12]


EXPECTED_NAMES = {
    "refs/heads/master", "refs/heads/branches/stable",
    "refs/heads/branches/doomed", "refs/heads/feature-bm",
    "refs/tags/v1.0", "refs/tags/v1.1",
}


def test_a_first_import_maps_every_head_branch_bookmark_and_tag(
        fixture_repo, one_shot):
    _, nodes = fixture_repo
    tmp_path, log = one_shot
    run = Run(WorkerExitCode.SUCCESS, log)
    got = refs(tmp_path)
    # default's tip is its highest head ("Anonymous head"); the other
    # unbookmarked head keeps a ref of its own.
    assert set(got) == EXPECTED_NAMES | {
        f"refs/heads/heads/default/{short(nodes['main'])}"}
    assert git(tmp_path, "symbolic-ref", "HEAD").strip() == \
        "refs/heads/master"
    assert "Checked against the source: refs/heads/master" in run.log
    assert "Traceback" not in run.log
    # The closed branch and the anonymous head are there, with content.
    assert git(tmp_path, "show", "refs/heads/branches/doomed:doomed.txt") \
        == "x\n"
    assert git(tmp_path, "log", "-1", "--format=%s",
               f"refs/heads/heads/default/{short(nodes['main'])}"
               ).strip() == "More on default"
    assert git(tmp_path, "log", "-1", "--format=%s", "master"
               ).strip() == "Anonymous head"
    # The master line: merge, rename, unicode, binary, symlink, exec bit.
    log = git(tmp_path, "log", "--format=%an <%ae>|%P|%s",
              f"heads/default/{short(nodes['main'])}")
    assert "Jürgen Ü <juergen@example.org>||" not in log
    assert "Jürgen Ü <juergen@example.org>|" in log
    assert "Ünïcödé commit message: café ☕" in log
    merge = [line for line in log.splitlines() if "Merge stable" in line]
    assert len(merge[0].split("|")[1].split()) == 2
    main = f"heads/default/{short(nodes['main'])}"
    tree = git(tmp_path, "ls-tree", "-r", main)
    modes = {line.split("\t")[1]: line.split()[0]
             for line in tree.splitlines()}
    assert modes["link"] == "120000" and modes["run.sh"] == "100755"
    assert "README" not in modes
    assert "README.txt" in modes and ".hgtags" in modes
    blob = subprocess.run(
        ["git", f"--git-dir={tmp_path}/owner/project/import", "cat-file",
         "blob", "master:logo.bin"], check=True, capture_output=True).stdout
    assert blob == bytes(range(256)) + b"\x00\x01\x02\xff"
    assert git(tmp_path, "log", "-1", "--format=%an|%ae", "branches/stable"
               ).strip() == "bob|unknown"


def test_commits_equal_git_remote_hg_on_every_ref_it_exports(
        fixture_repo, one_shot, tmp_path):
    url, _ = fixture_repo
    reference = tmp_path / "reference.git"
    env = dict(os.environ, HGRCPATH="",
               PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", ""))
    subprocess.run(["git", "clone", "-q", "--mirror", "hg::" + url,
                    str(reference)], env=env, check=True,
                   capture_output=True)
    out = subprocess.run(
        ["git", f"--git-dir={reference}", "for-each-ref",
         "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"],
        check=True, capture_output=True, text=True).stdout
    theirs = dict(line.split() for line in out.splitlines())
    ours = refs(one_shot[0])
    for name in ("refs/heads/master", "refs/heads/branches/stable",
                 "refs/heads/feature-bm", "refs/tags/v1.0",
                 "refs/tags/v1.1"):
        assert ours[name] == theirs[name], name
    # What git-remote-hg drops, we keep.
    assert "refs/heads/branches/doomed" not in theirs


def test_a_second_run_with_nothing_new_changes_nothing(fixture_repo,
                                                       one_shot):
    url, _ = fixture_repo
    store, _ = one_shot
    before = refs(store)
    run = run_hg_import(url, store)
    assert run.code == WorkerExitCode.SUCCESS_NOCHANGE, run.log
    assert refs(store) == before


def test_incremental_runs_bring_commits_branches_tags_and_closures(
        own_repo, tmp_path):
    url, path, nodes = own_repo
    assert run_hg_import(url, tmp_path).code == WorkerExitCode.SUCCESS
    first = refs(tmp_path)
    repo = HgRepo(path)
    new_main = repo.commit("Newer on default", {"main.txt": "newer\n"},
                           parents=[nodes["main"]])
    repo.commit("A new branch", {"next.txt": "n\n"}, branch="next",
                parents=[new_main])
    repo.tag("v2.0", new_main)
    repo.commit("Close stable", branch="stable", close=True)
    repo.bookmark("feature-bm", None)
    repo.bookmark("later", nodes["unicode"])
    repo.bookmark("ünï bm", nodes["unicode"])
    repo.close()
    run = run_hg_import(url, tmp_path)
    assert run.code == WorkerExitCode.SUCCESS, run.log
    got = refs(tmp_path)
    assert got["refs/heads/master"] != first["refs/heads/master"]
    assert "refs/heads/branches/next" in got
    assert "refs/tags/v2.0" in got
    assert git(tmp_path, "log", "-1", "--format=%s",
               "branches/stable").strip() == "Close stable"
    # The deleted bookmark's head is still there, as an extra head.
    assert "refs/heads/feature-bm" not in got
    assert f"refs/heads/heads/default/{short(nodes['feature'])}" in got
    assert git(tmp_path, "rev-parse", "later").strip() == \
        first["refs/tags/v1.0"]
    assert got["refs/heads/ünï%20bm"] == first["refs/tags/v1.0"]
    assert "Converted 4 changesets" in run.log
    # The same as importing the whole history at once.
    assert run_hg_import(url, tmp_path / "one-shot").code == \
        WorkerExitCode.SUCCESS
    assert refs(tmp_path / "one-shot") == got
    assert run_hg_import(url, tmp_path).code == \
        WorkerExitCode.SUCCESS_NOCHANGE


def test_chunks_continued_by_another_machine_equal_one_shot(
        fixture_repo, one_shot, tmp_path):
    """Chunks of 5 changesets: PARTIAL, PARTIAL, SUCCESS, then nothing
    new.  The state travels with the target: after the first chunk a
    copy of the store (another machine's view of it) continues, even
    with the dead run's Mercurial lock left behind."""
    url, _ = fixture_repo
    first = tmp_path / "first"
    logs = [run_hg_import(url, first, limit=5)]
    assert logs[0].code == WorkerExitCode.SUCCESS_PARTIAL, logs[0].log
    assert "changesets 5/12" in logs[0].log
    assert "Stopped after 5 revisions" in logs[0].log
    chunked = tmp_path / "second"
    shutil.copytree(first, chunked, symlinks=True)
    mirror = chunked / "owner/project/import/codeimport/hg-mirror/.hg"
    os.symlink("dead-host:12345", mirror / "store" / "lock")
    for _ in range(3):
        logs.append(run_hg_import(url, chunked, limit=5))
    assert [run.code for run in logs] == [
        WorkerExitCode.SUCCESS_PARTIAL, WorkerExitCode.SUCCESS_PARTIAL,
        WorkerExitCode.SUCCESS, WorkerExitCode.SUCCESS_NOCHANGE], \
        [run.log for run in logs]
    assert "changesets 12/12" in logs[2].log
    assert refs(chunked) == refs(one_shot[0])


@pytest.mark.parametrize("path, reason", [
    ("no-such-repo", "HTTP Error 404"),
    ("", "does not appear to be an hg repository"),
])
def test_a_missing_repository_is_invalid(served, tmp_path, path, reason):
    run = run_hg_import(served.urlFor(path), tmp_path)
    assert run.code == WorkerExitCode.FAILURE_INVALID, run.log
    assert reason in run.log
    assert "Traceback" not in run.log
    assert refs(tmp_path) == {}


def test_a_source_replaced_by_another_history_is_broken(
        own_repo, tmp_path):
    url, path, _ = own_repo
    assert run_hg_import(url, tmp_path).code == WorkerExitCode.SUCCESS
    before = refs(tmp_path)
    shutil.rmtree(path)
    HgRepo(path).commit("Unrelated", {"a": "b"}, date=(0, 0))
    run = run_hg_import(url, tmp_path)
    assert run.code == WorkerExitCode.FAILURE_REMOTE_BROKEN, run.log
    assert "Traceback" not in run.log
    assert refs(tmp_path) == before


def test_an_unreachable_server_is_invalid(tmp_path, free_port):
    run = run_hg_import(f"http://127.0.0.1:{free_port}/repo", tmp_path)
    assert run.code == WorkerExitCode.FAILURE_INVALID
    assert "Connection refused" in run.log
    assert "Traceback" not in run.log


def test_a_damaged_repository_is_broken_and_publishes_nothing(
        own_repo, tmp_path):
    url, path, _ = own_repo
    revlog = path / ".hg" / "store" / "data" / "logo.bin.i"
    data = bytearray(revlog.read_bytes())
    for index in range(len(data) - 40, len(data) - 20):
        data[index] ^= 0xFF
    revlog.write_bytes(bytes(data))
    run = run_hg_import(url, tmp_path)
    assert run.code == WorkerExitCode.FAILURE_REMOTE_BROKEN, run.log
    assert "is broken" in run.log
    assert "Traceback" not in run.log
    assert refs(tmp_path) == {}


def test_other_url_schemes_are_unsupported(tmp_path):
    run = run_hg_import("svn://127.0.0.1/repo", tmp_path)
    assert run.code == WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE
    assert "cannot read svn URLs" in run.log


def test_a_tree_that_differs_from_hg_archive_fails_and_publishes_nothing(
        fixture_repo, tmp_path):
    """The fidelity check really compares with ``hg archive``: told to
    archive the first changeset for every ref, it fails the run."""
    url, nodes = fixture_repo

    class Misled(HgConverter):
        def exportTrees(self, exports):
            self._nodes = {ref: nodes["initial"] for ref in self._nodes}
            return super().exportTrees(exports)

    class MisledImporter(HgImporter):
        converter_class = Misled

    lines = []
    code = run_import(
        ImportRequest(TARGET, "hg", "git", url),
        ImportContext(make_policy("anything"), str(tmp_path), lines.append),
        {("hg", "git"): MisledImporter})
    log = "".join(lines)
    assert code == WorkerExitCode.FAILURE, log
    assert "Fidelity check failed: refs/heads/master differs" in log
    assert refs(tmp_path) == {}
    # The next run, with nothing new in the source, checks the refs
    # that were left staged before it publishes them.
    run = run_hg_import(url, tmp_path)
    assert run.code == WorkerExitCode.SUCCESS, run.log
    assert "Checked against the source: refs/heads/master" in run.log


def test_every_connection_goes_through_the_policy_proxy(fixture_repo,
                                                        tmp_path):
    """With a proxy in the job's environment (the access policy's egress
    proxy), hg goes through it even for a source on 127.0.0.1, which it
    would otherwise reach directly; this proxy refuses everything."""
    url, _ = fixture_repo
    seen = []

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_error(403, "Refused by the test proxy")

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        lines = []
        context = ImportContext(
            make_policy("anything"), str(tmp_path), lines.append,
            network_env={"http_proxy":
                         f"http://127.0.0.1:{proxy.server_port}"})
        code = run_import(ImportRequest(TARGET, "hg", "git", url), context)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert code == WorkerExitCode.FAILURE_INVALID, "".join(lines)
    assert seen and seen[0].startswith(url)
