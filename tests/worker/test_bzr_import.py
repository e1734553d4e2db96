"""The Bazaar importer, run as the import worker runs it, from ``brz serve``.

The oracle is ``git-remote-bzr`` (shipped with Breezy): a one-shot fetch
of the same branch must give exactly the same commits and tags.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from codeimport.enums import WorkerExitCode
from codeimport.scripts.importworker import main
from codeimport.testing.fixture import TEST_SOURCE_NETWORKS
from codeimport.testing.vcs.bzr import BzrServer
from codeimport.testing.vcs.bzr import SampleBranch
from codeimport.worker.target import target_path

TARGET = "~bzr-imports/project/trunk"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("bzr-served")
    server = BzrServer(str(root))
    yield root, server
    server.close()


@pytest.fixture(scope="module")
def sample(served):
    """The sample branch; tests that change history make their own."""
    root, server = served
    SampleBranch.example(str(root), "sample")
    return server.url("sample")


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    return str(path)


def run_worker(store, url, *extra, policy="anything", target=TARGET):
    return main(["--access-policy", policy, "--target-store", store,
                 "--allowed-source-networks", ",".join(TEST_SOURCE_NETWORKS),
                 "--", target, "bzr", "git", url, *extra])


def git(store, *args, target=TARGET):
    return subprocess.run(
        ["git", f"--git-dir={target_path(store, target)}", *args],
        check=True, capture_output=True).stdout.decode("utf-8")


def published(store, target=TARGET):
    refs = {}
    for line in git(store, "for-each-ref", "--format=%(objectname) "
                    "%(refname)", "refs/heads", "refs/tags",
                    target=target).splitlines():
        sha, name = line.split()
        refs[name] = sha
    return refs


def reference(url, tmp_path):
    """``{ref: sha}`` of a one-shot git-remote-bzr fetch of `url`."""
    work = tmp_path / "reference"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    env = dict(os.environ, HOME=str(work), XDG_CACHE_HOME=str(work / "c"),
               PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"], BRZ_PLUGIN_PATH="-site:-user")
    subprocess.run(["git", "init", "-q", "--bare", str(work / "r.git")],
                   check=True)
    subprocess.run(
        ["git", f"--git-dir={work / 'r.git'}", "fetch", "-q", f"bzr::{url}",
         "+HEAD:refs/heads/master", "+refs/tags/*:refs/tags/*"],
        check=True, env=env, capture_output=True)
    output = subprocess.run(
        ["git", f"--git-dir={work / 'r.git'}", "for-each-ref",
         "--format=%(objectname) %(refname)"],
        check=True, capture_output=True, text=True).stdout
    return dict(reversed(line.split()) for line in output.splitlines())


def test_full_import_equals_git_remote_bzr_then_nothing_new(
        sample, store, tmp_path, capsys):
    assert run_worker(store, sample) == WorkerExitCode.SUCCESS
    out = capsys.readouterr().out
    assert "r6/6 (100%)" in out
    assert "Checked against the source: refs/heads/master" in out
    refs = published(store)
    assert set(refs) == {"refs/heads/master", "refs/tags/v1.0",
                         "refs/tags/v1.1"}
    assert refs == reference(sample, tmp_path)
    assert git(store, "symbolic-ref", "HEAD").strip() == "refs/heads/master"

    # What the mapping keeps: merges, people, messages, modes, links,
    # binary content, renames.
    log = git(store, "log", "--format=%P|%an <%ae>|%cn|%s", "master")
    merge, *_ = [line for line in log.splitlines() if "Merge feature" in line]
    assert len(merge.split("|")[0].split()) == 2
    assert "|Jürgen Ü <juergen@example.com>|Jürgen Ü|Ünïcödé message: " \
           "grüße 日本" in log
    assert "|Carol Author <carol@example.com>|Alice|Rename README" in log
    tree = git(store, "ls-tree", "-r", "v1.1")
    assert "100755 blob" in tree.split("bin/run")[0].splitlines()[-1]
    assert "120000 blob" in tree.split("link-to-readme")[0].splitlines()[-1]
    assert "README.txt" in tree and "\tREADME\n" not in tree
    assert git(store, "cat-file", "blob", "v1.1:link-to-readme") == "README"
    logo = subprocess.run(
        ["git", f"--git-dir={target_path(store, TARGET)}", "cat-file",
         "blob", "master:data/logo.bin"], capture_output=True).stdout
    assert logo == bytes(range(256)) * 4 + b"\0\r\n"
    # The directory rename (docs -> manual) moved its files.
    assert "manual/guide.txt" in git(store, "ls-tree", "-r", "master")

    assert run_worker(store, sample) == WorkerExitCode.SUCCESS_NOCHANGE
    assert "No changes." in capsys.readouterr().out
    assert published(store) == refs


def test_incremental_runs_add_merges_and_tags_like_a_one_shot_import(
        served, store, tmp_path, capsys):
    root, server = served
    trunk = SampleBranch.example(str(root), "incremental")
    feature = SampleBranch.sprout(trunk, str(root / "incremental-more"))
    url = server.url("incremental")
    assert run_worker(store, url) == WorkerExitCode.SUCCESS
    first = published(store)

    # New work on both lines, then a merge whose first parent was
    # converted in the first run, and a new tag; an old tag goes.
    feature.write("more.txt", "more\n")
    feature.commit("More feature work")
    trunk.merge(feature, "Merge more feature work")
    trunk.write("manual/guide.txt", "guide, revised\n")
    trunk.commit("Revise the guide")
    trunk.tag("v2.0")
    trunk.branch.tags.delete_tag("v1.0")
    assert run_worker(store, url) == WorkerExitCode.SUCCESS
    out = capsys.readouterr().out
    assert "r9/9 (100%)" in out
    refs = published(store)
    assert "refs/tags/v1.0" not in refs and "refs/tags/v2.0" in refs
    assert refs["refs/tags/v1.1"] == first["refs/tags/v1.1"]
    assert refs == reference(url, tmp_path)
    parents = git(store, "log", "-1", "--format=%P", "master^").split()
    assert len(parents) == 2 and parents[0] == first["refs/heads/master"]

    # Only a tag changed: a run with no new revisions still moves it.
    trunk.tag("v1.1", trunk.tip())
    assert run_worker(store, url) == WorkerExitCode.SUCCESS
    assert published(store)["refs/tags/v1.1"] == refs["refs/heads/master"]


def test_chunks_end_where_a_one_shot_import_does(sample, store, tmp_path,
                                                 capsys):
    # One revision a run: the fourth run converts only the feature
    # revision, which the next mainline revision (the merge) brings in.
    results, masters = [], []
    while len(results) < 10:
        results.append(run_worker(store, sample, "--revision-limit", "1"))
        masters.append(published(store)["refs/heads/master"])
        # What is published is always a complete history.
        git(store, "fsck", "--connectivity-only", "--no-dangling")
        if len(results) == 4:
            # Master stays where it was; the feature commit it does not
            # reach yet has a ref of its own (never published).
            assert masters[3] == masters[2]
            assert git(store, "for-each-ref", "refs/codeimport/bzr/")
        if results[-1] != WorkerExitCode.SUCCESS_PARTIAL:
            break
    assert results == [WorkerExitCode.SUCCESS_PARTIAL] * 5 + [
        WorkerExitCode.SUCCESS]
    out = capsys.readouterr().out
    assert "Stopped after 1 revisions (the limit of 1 per run)" in out
    assert published(store) == reference(sample, tmp_path)
    assert git(store, "for-each-ref", "refs/codeimport/bzr/") == ""


def test_another_machine_continues_with_only_the_target(
        served, store, tmp_path):
    root, server = served
    trunk = SampleBranch.example(str(root), "moving")
    url = server.url("moving")
    assert run_worker(store, url, "--revision-limit", "3") == (
        WorkerExitCode.SUCCESS_PARTIAL)
    # The other machine has the target store, not the local copy of the
    # source history (which is only a cache).
    other = tmp_path / "other-store"
    shutil.copytree(store, other)
    shutil.rmtree(os.path.join(target_path(str(other), TARGET),
                               "codeimport", "bzr-cache"))
    trunk.write("late.txt", "late\n")
    trunk.commit("Late change")
    assert run_worker(str(other), url) == WorkerExitCode.SUCCESS
    assert published(str(other)) == reference(url, tmp_path)


def test_missing_branch_is_invalid(served, store, capsys):
    root, server = served
    assert run_worker(store, server.url("no-such-branch")) == (
        WorkerExitCode.FAILURE_INVALID)
    out = capsys.readouterr()
    assert "no Bazaar branch at" in out.out
    assert "Traceback" not in out.out + out.err


def test_unreachable_server_is_invalid(store, free_port, capsys):
    assert run_worker(store, f"bzr://127.0.0.1:{free_port}/x") == (
        WorkerExitCode.FAILURE_INVALID)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err


def test_broken_branch_is_remote_broken(served, store, capsys):
    root, server = served
    SampleBranch.example(str(root), "broken")
    packs = root / "broken" / ".bzr" / "repository" / "packs"
    for pack in packs.iterdir():
        pack.write_bytes(b"not a pack")
    assert run_worker(store, server.url("broken")) == (
        WorkerExitCode.FAILURE_REMOTE_BROKEN)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert published(store) == {}


def test_local_branch_needs_the_anything_policy(sample, store, served,
                                                capsys):
    root, _ = served
    url = f"file://{root}/sample"
    assert run_worker(store, url, policy="default") == (
        WorkerExitCode.FAILURE_FORBIDDEN)
    assert run_worker(store, url) == WorkerExitCode.SUCCESS


def test_a_reference_to_a_local_branch_is_forbidden(served, sample, store,
                                                    capsys):
    """A branch reference may point anywhere; where it leads is checked."""
    from breezy.bzr.branch import BranchReferenceFormat
    from breezy.controldir import ControlDir

    root, server = served
    from breezy.controldir import format_registry

    control = ControlDir.create(str(root / "pointer"),
                                format=format_registry.make_controldir("2a"))
    BranchReferenceFormat().initialize(
        control, target_branch=ControlDir.open(
            str(root / "sample")).open_branch())
    assert run_worker(store, server.url("pointer"), policy="default") == (
        WorkerExitCode.FAILURE_FORBIDDEN)
    assert "local paths are not allowed" in capsys.readouterr().out


def test_a_worker_killed_mid_import_is_finished_by_the_next_run(
        served, store, tmp_path):
    import signal

    from codeimport.testing.vcs.bzr import build_history

    root, server = served
    build_history(str(root / "long"), 300, files=20, merge_every=100)
    url = server.url("long")
    worker = subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "importworker",
         "--access-policy", "anything", "--target-store", store, "--",
         TARGET, "bzr", "git", url],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    for line in worker.stdout:
        if line.startswith("r"):  # converting: a progress line
            break
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    worker.stdout.close()

    assert run_worker(store, url) == WorkerExitCode.SUCCESS
    one_shot = str(tmp_path / "one-shot")
    os.mkdir(one_shot)
    assert run_worker(one_shot, url) == WorkerExitCode.SUCCESS
    assert published(store) == published(one_shot)
