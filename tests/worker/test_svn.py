"""The Subversion importer: its mapping, increments, chunks and failures.

Sources are real repositories (loaded from generated dumps) served by a
real ``svnserve`` on 127.0.0.1; imports run through the worker's own
command (``codeimport importworker``) into a real target store.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

from codeimport.enums import WorkerExitCode
from codeimport.scripts import importworker
from codeimport.scripts.importworker import main
from codeimport.testing.fixture import TEST_SOURCE_NETWORKS
from codeimport.testing.vcs.svn import BINARY
from codeimport.testing.vcs.svn import History
from codeimport.testing.vcs.svn import SvnServer
from codeimport.testing.vcs.svn import create_repository
from codeimport.testing.vcs.svn import fast_directory
from codeimport.testing.vcs.svn import load
from codeimport.testing.vcs.svn import standard_history
from codeimport.worker.importworker import ImportContext
from codeimport.worker.importworker import parse_import_arguments
from codeimport.worker.importworker import run_import
from codeimport.worker.sources.svn_layout import Layout
from codeimport.worker.sources.svn_layout import parse_mergeinfo
from codeimport.worker.sources.svn_layout import ref_component
from codeimport.worker.sources.svn_source import file_mode
from codeimport.worker.target import target_path

TARGET = "~svn-team/proj/trunk"
UUID = standard_history().uuid


# -- the mapping's pieces ----------------------------------------------

def test_parse_mergeinfo():
    assert parse_mergeinfo(b"/branches/a:4-10,12*,15-16\n/trunk:3") == {
        "/branches/a": [(4, 10), (12, 12), (15, 16)], "/trunk": [(3, 3)]}
    assert parse_mergeinfo("branches/b c:1-2\nnonsense\n/x:1-y") == {
        "/branches/b c": [(1, 2)]}
    assert parse_mergeinfo(None) == {}


@pytest.mark.parametrize("name, ref", [
    ("feature-x", "feature-x"),
    ("release 1.0", "release_1.0"),
    ("a..b", "a__b"),
    (".hidden", "_hidden"),
    ("x.lock", "x_lock"),
    ("what?*[]:~^\\", "what___]____"),
    ("ends.", "ends"),
    ("@", "_"),
    ("a@{b", "a@_b"),
    ("ünï", "ünï"),
])
def test_ref_component(name, ref):
    assert ref_component(name) == ref
    assert subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{ref}"]).returncode == 0


def test_standard_layout_roots():
    layout = Layout("/proj", standard=True)
    assert layout.split("/proj/trunk/a/b") == ("/proj/trunk", "a/b")
    assert layout.split("/proj/trunk") == ("/proj/trunk", "")
    assert layout.split("/proj/branches/x/y") == ("/proj/branches/x", "y")
    assert layout.split("/proj/tags/1.0") == ("/proj/tags/1.0", "")
    assert layout.split("/proj/branches") is None
    assert layout.split("/proj/README") is None
    assert layout.split("/other/trunk") is None
    assert layout.ref("/proj/trunk") == "refs/heads/master"
    assert layout.ref("/proj/branches/a b") == "refs/heads/a_b"
    assert layout.ref("/proj/tags/1.0") == "refs/tags/1.0"
    assert layout.isTag("/proj/tags/1.0")
    single = Layout("", standard=False)
    assert single.split("/a/b") == ("", "a/b")
    assert single.ref("") == "refs/heads/master"


def test_file_modes():
    assert file_mode(b"x", {}) == ("100644", b"x")
    assert file_mode(b"x", {"svn:executable": b"*"}) == ("100755", b"x")
    assert file_mode(b"link a/b", {"svn:special": b"*"}) == (
        "120000", b"a/b")
    # Not a link after all: a plain file.
    assert file_mode(b"nonsense", {"svn:special": b"*"}) == (
        "100644", b"nonsense")


# -- fixtures ------------------------------------------------------------

@pytest.fixture(scope="module")
def svn_root():
    root = fast_directory()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(svn_root):
    with SvnServer(svn_root) as server:
        yield server


@pytest.fixture
def repo(svn_root, server, request):
    """A fresh repository with `standard_history`: (path, URL, history)."""
    name = request.node.name.replace("[", "_").replace("]", "")
    history = standard_history()
    path = os.path.join(svn_root, name)
    create_repository(path, history)
    yield path, server.url(name), history
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def fast_scratch(monkeypatch, svn_root, tmp_path_factory):
    """Work directories (exports for the fidelity check) on tmpfs too."""
    # pytest's own temporary directories stay where they are: fix their
    # base before changing the default.
    tmp_path_factory.getbasetemp()
    monkeypatch.setattr(tempfile, "tempdir", svn_root)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    return str(path)


def run(store, url, *options, limit=None, policy="anything",
        target=TARGET, capsys=None):
    arguments = [target, "bzr-svn", "git", url]
    if limit:
        arguments += ["--revision-limit", str(limit)]
    return main(["--access-policy", policy, "--target-store", store,
                 "--allowed-source-networks", ",".join(TEST_SOURCE_NETWORKS),
                 *options, "--", *arguments])


def git(store, *args, target=TARGET):
    return subprocess.run(
        ["git", f"--git-dir={target_path(store, target)}", *args],
        check=True, stdout=subprocess.PIPE).stdout.decode()


def refs(store, target=TARGET):
    lines = git(store, "for-each-ref", "--format=%(refname) %(objectname)",
                "refs/heads", "refs/tags", target=target).splitlines()
    return dict(line.split() for line in lines)


def log(store, ref):
    """(subject, author, parents count) of `ref`'s first-parent history,
    oldest first."""
    out = git(store, "log", "--first-parent", "--reverse",
              "--format=%s%x00%an <%ae>%x00%at%x00%P", ref)
    return [tuple(line.split("\0")) for line in out.splitlines()]


# -- the standard layout -------------------------------------------------

def test_standard_layout(repo, store, capsys):
    _, url, _ = repo
    assert run(store, url) == WorkerExitCode.SUCCESS
    output = capsys.readouterr().out
    assert "Checked against the source: refs/heads/master" in output
    assert set(refs(store)) == {
        "refs/heads/master", "refs/heads/feature-x", "refs/tags/1.0",
        "refs/tags/1.1", "refs/tags/backups/doomed@9"}
    assert git(store, "symbolic-ref", "HEAD").strip() == "refs/heads/master"

    # Every trunk revision is a commit, the empty one (r12) included.
    history = log(store, "master")
    assert [subject for subject, *_ in history] == [
        "Layout", "Initial import", "Ünïcödé commit message: café ☕",
        "Rename main.c", "Merge feature-x", "Only an externals property",
        "Mode and binary changes"]
    assert history[2][1] == f"jürgen <jürgen@{UUID}>"
    assert history[2][2] == str(1_700_000_000 + 3 * 60)
    # The complete merge of feature-x is a merge commit.
    merge = history[4][3].split()
    assert len(merge) == 2
    assert merge[1] == git(store, "rev-parse", "feature-x").strip()
    # The branch starts with a commit whose parent is trunk at r3.
    assert log(store, "feature-x")[3][0] == "Create feature-x"
    assert git(store, "rev-parse", "feature-x~2").strip() == git(
        store, "rev-parse", "master~4").strip()

    # Files: modes, link, binary, spaces and non-ASCII, rename.
    tree = git(store, "ls-tree", "-r", "-z", "master~1").split("\0")
    entries = {line.split("\t")[1]: line.split()[0] for line in tree
               if line}
    assert entries == {
        "README": "100644", "dir with space/ünïcode file.txt": "100644",
        "feature.txt": "100644", "link": "120000", "logo.bin": "100644",
        "run.sh": "100755", "src/app.c": "100644"}
    assert git(store, "cat-file", "blob", "master:link") == "src/app.c"
    assert git(store, "ls-tree", "master", "run.sh").split()[0] == "100644"
    raw = subprocess.run(
        ["git", f"--git-dir={target_path(store, TARGET)}", "cat-file",
         "blob", "master~1:logo.bin"], stdout=subprocess.PIPE).stdout
    assert raw == BINARY

    # Annotated tags: 1.0 on trunk's r3 commit, 1.1 moved by a commit on
    # the tag, whose parent is trunk at r12.
    assert git(store, "cat-file", "-t", "refs/tags/1.0").strip() == "tag"
    tag = git(store, "cat-file", "tag", "refs/tags/1.0")
    assert f"tagger carol <carol@{UUID}> {1_700_000_000 + 6 * 60} +0000" \
        in tag
    assert tag.endswith("\n\nTag 1.0\n")
    assert git(store, "rev-parse", "1.0^{commit}") == git(
        store, "rev-parse", "master~4")
    assert git(store, "log", "-1", "--format=%s", "1.1^{commit}") == (
        "Fix on the tag\n")
    assert git(store, "rev-parse", "1.1^{commit}^") == git(
        store, "rev-parse", "master~1")
    # The deleted branch keeps its history.
    assert log(store, "backups/doomed@9")[-1][0] == "Doomed work"


def test_nothing_new_is_no_change(repo, store, capsys):
    _, url, _ = repo
    assert run(store, url) == WorkerExitCode.SUCCESS
    before = refs(store)
    assert run(store, url) == WorkerExitCode.SUCCESS_NOCHANGE
    assert "Up to date at r15." in capsys.readouterr().out
    assert refs(store) == before


def test_authors_file(repo, store, tmp_path):
    _, url, _ = repo
    authors = tmp_path / "authors"
    authors.write_text("jürgen = Jürgen Müller <jm@example.org>\n"
                       "carol = Carol C <carol@example.org>\n")
    assert run(store, url, "--authors-file", str(authors)) == (
        WorkerExitCode.SUCCESS)
    assert log(store, "master")[2][1] == "Jürgen Müller <jm@example.org>"
    assert log(store, "master")[1][1] == f"alice <alice@{UUID}>"
    assert "tagger Carol C <carol@example.org>" in git(
        store, "cat-file", "tag", "1.0")


def test_a_bad_authors_file_fails_clearly(repo, store, tmp_path, capsys):
    _, url, _ = repo
    authors = tmp_path / "authors"
    authors.write_text("no equals sign\n")
    assert run(store, url, "--authors-file", str(authors)) == (
        WorkerExitCode.FAILURE)
    assert "line 1: expected" in capsys.readouterr().out


def test_a_url_without_the_layout_is_one_branch(repo, store):
    _, url, _ = repo
    assert run(store, url + "/branches/feature-x") == WorkerExitCode.SUCCESS
    assert set(refs(store)) == {"refs/heads/master"}
    # History starts at the copy that made the branch: the tree is read
    # from Subversion.
    assert [s for s, *_ in log(store, "master")] == [
        "Create feature-x", "Work on feature-x"]
    assert git(store, "show", "master:feature.txt") == "feature\n"
    assert git(store, "show", "master:README") == "hello\nwelt\n"


def test_a_file_url_is_refused_by_the_default_policy(repo, store, capsys):
    path, _, _ = repo
    assert run(store, "file://" + path, policy="default") == (
        WorkerExitCode.FAILURE_FORBIDDEN)
    assert run(store, "file://" + path) == WorkerExitCode.SUCCESS


# -- incremental ---------------------------------------------------------

def more_history(history):
    """New commits, a new branch, a new tag and a deleted branch."""
    history.revision("alice", "More on trunk").add(
        "trunk/new.txt", "new\n")                                       # r16
    history.revision("bob", "Branch two").mkdir(
        "branches/two", copy=("trunk", 16))                             # r17
    history.revision("bob", "Work on two").change(
        "branches/two/new.txt", "two\n")                                # r18
    history.revision("carol", "Tag 2.0").mkdir(
        "tags/2.0", copy=("trunk", 16))                                 # r19
    history.revision("bob", "feature-x is done").delete(
        "branches/feature-x")                                           # r20
    history.revision("alice", "Last").change("trunk/new.txt", "newer\n")


def test_incremental(repo, store, capsys):
    path, url, history = repo
    assert run(store, url) == WorkerExitCode.SUCCESS
    before = refs(store)
    more_history(history)
    load(path, history, start=16)
    capsys.readouterr()

    assert run(store, url) == WorkerExitCode.SUCCESS
    output = capsys.readouterr().out
    assert "Importing r16..r21" in output
    after = refs(store)
    assert set(after) - set(before) == {
        "refs/heads/two", "refs/tags/2.0", "refs/tags/backups/feature-x@20"}
    assert "refs/heads/feature-x" not in after
    assert after["refs/tags/backups/feature-x@20"] == before[
        "refs/heads/feature-x"]
    assert [s for s, *_ in log(store, "master")][-2:] == [
        "More on trunk", "Last"]
    assert log(store, "two")[-1][0] == "Work on two"
    for ref in ("refs/tags/1.0", "refs/tags/1.1",
                "refs/tags/backups/doomed@9"):
        assert after[ref] == before[ref]

    # The same as importing everything at once.
    other = os.path.join(os.path.dirname(store), "other")
    os.mkdir(other)
    assert run(other, url) == WorkerExitCode.SUCCESS
    assert refs(other) == after


# -- chunks ----------------------------------------------------------------

def long_history(revisions=1200):
    history = History(uuid="6f1d9a70-0000-4000-8000-000000001200")
    first = history.revision("alice", "layout").mkdir("trunk").mkdir(
        "branches").mkdir("tags").add("trunk/f0", "0\n")
    for number in range(10):
        first.mkdir(f"trunk/d{number}")
    made = set()
    for number in range(2, revisions + 1):
        if number % 300 == 0:
            history.revision("bob", f"branch b{number}").mkdir(
                f"branches/b{number}", copy=("trunk", number - 1))
        elif number % 301 == 0:
            history.revision("carol", f"tag t{number}").mkdir(
                f"tags/t{number}", copy=("trunk", number - 1))
        elif number % 7 == 0 and number > 300:
            branch = f"branches/b{number // 300 * 300}"
            history.revision("bob", f"on branch {number}").change(
                f"{branch}/f0", f"b{number}\n")
        else:
            # A small tree, so that the fidelity checks stay cheap.
            path = f"trunk/d{number % 10}/f{number % 40}"
            change = history.revision(f"user{number % 5}",
                                      f"change {number}")
            if path in made:
                change.change(path, f"{number}\n")
            else:
                change.add(path, f"{number}\n")
                made.add(path)
    return history


@pytest.fixture(scope="module")
def long_repo(svn_root, server):
    create_repository(os.path.join(svn_root, "long"), long_history())
    return server.url("long")


@pytest.fixture(scope="module")
def long_refs(long_repo, tmp_path_factory):
    """The refs of `long_repo` imported in one run."""
    whole = str(tmp_path_factory.mktemp("whole"))
    assert run(whole, long_repo) == WorkerExitCode.SUCCESS
    assert len(refs(whole)) == 1 + 4 + 3
    # r1 and every trunk revision: not the 4 branches, 3 tags and 126
    # commits on branches.
    assert git(whole, "rev-list", "--count", "master") == "1067\n"
    return refs(whole)


def test_chunks_give_the_same_result_as_one_run(long_repo, long_refs,
                                                tmp_path, capsys):
    chunked = str(tmp_path / "chunked")
    os.mkdir(chunked)
    statuses = [run(chunked, long_repo, limit=500) for _ in range(4)]
    assert statuses == [
        WorkerExitCode.SUCCESS_PARTIAL, WorkerExitCode.SUCCESS_PARTIAL,
        WorkerExitCode.SUCCESS, WorkerExitCode.SUCCESS_NOCHANGE]
    output = capsys.readouterr().out
    assert "Stopped after 500 revisions" in output
    assert "r1200/1200 (100%)" in output
    assert refs(chunked) == long_refs


# -- failures ----------------------------------------------------------------

def test_a_missing_repository_is_invalid(server, store, capsys):
    assert run(store, server.url("nowhere")) == WorkerExitCode.FAILURE_INVALID
    output = capsys.readouterr()
    assert "Cannot read the Subversion repository" in output.out
    assert "Traceback" not in output.out + output.err


def test_a_missing_path_is_invalid(repo, store, capsys):
    _, url, _ = repo
    assert run(store, url + "/no/such/dir") == WorkerExitCode.FAILURE_INVALID
    assert run(store, url + "/trunk/README") == (
        WorkerExitCode.FAILURE_INVALID)
    output = capsys.readouterr()
    assert "is not a Subversion directory" in output.out
    assert "Traceback" not in output.out + output.err


def test_nothing_listening_is_invalid(store, capsys, free_port):
    url = f"svn://127.0.0.1:{free_port}/repo"
    assert run(store, url) == WorkerExitCode.FAILURE_INVALID
    assert "Traceback" not in "".join(capsys.readouterr())


def test_a_broken_repository_is_remote_broken(repo, store, capsys):
    path, url, _ = repo
    revision = os.path.join(path, "db", "revs", "0", "5")
    with open(revision, "r+b") as stream:
        stream.write(b"garbage" * 20)
    assert run(store, url) == WorkerExitCode.FAILURE_REMOTE_BROKEN
    output = capsys.readouterr()
    assert "Reading the Subversion repository" in output.out
    assert "Traceback" not in output.out + output.err
    assert refs(store) == {}


def test_a_replaced_repository_is_remote_broken(repo, store, svn_root,
                                                capsys):
    path, url, _ = repo
    assert run(store, url) == WorkerExitCode.SUCCESS
    before = refs(store)
    shutil.rmtree(path)
    create_repository(path, History(uuid="00000000-1111-4222-8333-44444444"
                                    "4444"))
    assert run(store, url) == WorkerExitCode.FAILURE_REMOTE_BROKEN
    assert "is not the one imported before" in capsys.readouterr().out
    assert refs(store) == before


# -- less common histories ---------------------------------------------------

def odd_history():
    h = History(uuid="0dd0dd00-0000-4000-8000-000000000000")
    (h.revision("alice", "Layout and a vendor drop")
     .mkdir("trunk").mkdir("branches").mkdir("tags").mkdir("vendor")
     .mkdir("vendor/lib").add("vendor/lib/a.c", "vendor a\n")
     .add("trunk/x", "x\n"))                                           # r1
    h.revision("alice", "Bring in the vendor code").mkdir(
        "trunk/lib", copy=("vendor/lib", 1))                            # r2
    h.revision("bob", "Release branch").mkdir(
        "branches/release 1.0", copy=("trunk", 2))                      # r3
    h.revision("bob", "One revision, two branches").change(
        "trunk/x", "x on trunk\n").change(
        "branches/release 1.0/x", "x on release\n")                     # r4
    h.revision("carol", "Branch c").mkdir("branches/c",
                                          copy=("trunk", 4))            # r5
    h.revision("carol", "c one").change("branches/c/x", "c1\n")         # r6
    h.revision("carol", "c two").add("branches/c/y", "c2\n")            # r7
    h.revision("alice", "Cherry-pick c two").add(
        "trunk/y", "c2\n").setprops(
        "trunk", {"svn:mergeinfo": "/branches/c:7"})                    # r8
    h.revision("dave", "Tag t1").mkdir("tags/t1", copy=("trunk", 8))   # r9
    h.revision("dave", "Drop t1").delete("tags/t1")                     # r10
    h.revision("carol", "Restart c").replace(
        "branches/c", copy=("trunk", 10))                               # r11
    h.revision("alice", "Nothing at all")                               # r12
    h.revision("alice", "No more branches").delete("branches")          # r13
    # Still the standard layout at the end (the layout is seen there).
    h.revision("alice", "A place for branches").mkdir("branches")       # r14
    return h


def test_less_common_histories(svn_root, server, store):
    create_repository(os.path.join(svn_root, "odd"), odd_history())
    assert run(store, server.url("odd")) == WorkerExitCode.SUCCESS
    found = refs(store)
    assert set(found) == {
        "refs/heads/master", "refs/tags/backups/t1@10",
        "refs/tags/backups/c@11", "refs/tags/backups/c@13",
        "refs/tags/backups/release_1.0@13"}
    # Copied from outside the layout: read from Subversion.
    assert git(store, "show", "master:lib/a.c") == "vendor a\n"
    # One revision on two branches: two commits, same message.
    assert log(store, "backups/release_1.0@13")[-1][0] == (
        "One revision, two branches")
    assert git(store, "show", "backups/release_1.0@13:x") == (
        "x on release\n")
    # A cherry-pick is no merge.
    cherry = log(store, "master")[-1]
    assert cherry[0] == "Cherry-pick c two"
    assert len(cherry[3].split()) == 1
    # A deleted tag keeps its tag object; a replaced branch its history.
    assert git(store, "cat-file", "-t", "backups/t1@10").strip() == "tag"
    assert "\ntag t1\n" in git(store, "cat-file", "tag", "backups/t1@10")
    assert log(store, "backups/c@11")[-1][0] == "c two"
    assert log(store, "backups/c@13")[-1][0] == "Restart c"
    # The standard layout has no branch for a revision touching nothing.
    assert "Nothing at all" not in git(store, "log", "--all", "--format=%s")


def test_an_empty_revision_stays_an_empty_commit(svn_root, server, store):
    h = History(uuid="e0e0e0e0-0000-4000-8000-000000000000")
    h.revision("alice", "first").add("a", "a\n")
    h.revision("alice", "empty")
    h.revision("alice", "last").change("a", "b\n")
    create_repository(os.path.join(svn_root, "flat"), h)
    assert run(store, server.url("flat")) == WorkerExitCode.SUCCESS
    assert [s for s, *_ in log(store, "master")] == ["first", "empty",
                                                     "last"]
    assert git(store, "rev-parse", "master~1^{tree}") == git(
        store, "rev-parse", "master~2^{tree}")


def test_http_goes_through_the_policys_proxy(store):
    """libsvn reads no proxy variables: the importer hands them on."""
    requests = []
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(4)
        port = proxy.getsockname()[1]

        def answer():
            connection, _ = proxy.accept()
            with connection:
                requests.append(connection.recv(4096))

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        lines = []
        # The policy the worker's command builds (wherever it lives).
        context = ImportContext(
            importworker.make_policy("default"), store, lines.append,
            network_env={"http_proxy": f"http://127.0.0.1:{port}"})
        request = parse_import_arguments(
            [TARGET, "bzr-svn", "git", "http://svn.example.invalid/repo"])
        status = run_import(request, context)
        thread.join(10)
    assert status == WorkerExitCode.FAILURE_INVALID
    assert requests and requests[0].startswith(
        b"OPTIONS http://svn.example.invalid/repo HTTP/1.1\r\n")
    assert "Traceback" not in "".join(lines)


def test_a_damaged_state_fails_clearly(repo, store, capsys):
    _, url, _ = repo
    assert run(store, url) == WorkerExitCode.SUCCESS
    before = refs(store)
    state = os.path.join(target_path(store, TARGET), "codeimport",
                         "svn-state.json")
    with open(state, "w") as stream:
        stream.write("{not json")
    assert run(store, url) == WorkerExitCode.FAILURE
    output = capsys.readouterr()
    assert "Cannot read the Subversion import state" in output.out
    assert "Traceback" not in output.out + output.err
    assert refs(store) == before


def test_a_killed_import_is_finished_by_the_next_run(long_repo, long_refs,
                                                     tmp_path):
    """A worker killed mid-import (a machine lost) leaves the state of
    its last finished run; the next run, anywhere, goes on from there."""
    killed = str(tmp_path / "killed")
    os.mkdir(killed)
    worker = subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "importworker",
         "--access-policy", "anything", "--target-store", killed, "--",
         TARGET, "bzr-svn", "git", long_repo],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for line in worker.stdout:
        if line.startswith(b"r1/1200"):
            worker.kill()
            break
    worker.wait()
    worker.stdout.close()
    assert run(killed, long_repo) == WorkerExitCode.SUCCESS
    assert refs(killed) == long_refs
