"""The CVS importer against a real pserver: mapping, incremental runs,
chunks, fidelity and failures."""

from __future__ import annotations

import datetime
import io
import os
import shutil
import subprocess

import pytest

from codeimport.access import make_policy
from codeimport.enums import WorkerExitCode
from codeimport.testing.fixture import TEST_SOURCE_NETWORKS
from codeimport.testing.vcs.cvs import CVSHistory
from codeimport.testing.vcs.cvs import CVSServer
from codeimport.testing.vcs.cvs import add_user
from codeimport.testing.vcs.cvs import make_root
from codeimport.testing.vcs.cvs import remove_root
from codeimport.testing.vcs.cvs import sample_history
from codeimport.worker.importworker import ImportContext
from codeimport.worker.importworker import ImportRequest
from codeimport.worker.sources import cvs as cvs_source
from codeimport.worker.sources.cvs import CVSImporter

HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def cvs_server():
    root = make_root()
    server = CVSServer(root)
    yield server
    server.stop()
    remove_root(root)


class Target:
    """A target store and the worker runs into it."""

    def __init__(self, path, cvsroot, module, policy="anything",
                 authors=None):
        self.store = str(path)
        self.cvsroot = cvsroot
        self.module = module
        self.policy = policy
        self.authors = authors
        self.log = ""
        self.git_dir = os.path.join(self.store, "p", module, "cvs")

    def run(self, limit=None):
        out = io.StringIO()
        request = ImportRequest("~p/" + self.module + "/cvs", "cvs", "git",
                                self.cvsroot, cvs_module=self.module,
                                revision_limit=limit)
        context = ImportContext(
            make_policy(self.policy, allowed_networks=TEST_SOURCE_NETWORKS),
            self.store, out.write, authors_file=self.authors)
        code = CVSImporter(request, context).run()
        self.log = out.getvalue()
        return code

    def git(self, *args):
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], check=True,
            stdout=subprocess.PIPE).stdout.decode()

    def refs(self):
        lines = self.git("for-each-ref", "--format=%(refname) %(objectname)",
                         "refs/heads", "refs/tags").splitlines()
        return dict(line.split() for line in lines)

    def tree(self, ref):
        """{path: (mode, content)} of `ref`."""
        result = {}
        for line in self.git("ls-tree", "-r", "-z", ref).split("\0"):
            if not line:
                continue
            meta, path = line.split("\t", 1)
            mode, _, sha = meta.split()
            content = subprocess.run(
                ["git", f"--git-dir={self.git_dir}", "cat-file", "blob",
                 sha], check=True, stdout=subprocess.PIPE).stdout
            result[path] = content
        return result


def serve(server, history):
    history.write(server.root)
    return server.cvsroot()


def test_full_import_maps_branches_tags_authors_and_contents(
        cvs_server, tmp_path):
    history = sample_history("full")
    target = Target(tmp_path, serve(cvs_server, history), "full")

    assert target.run() == WorkerExitCode.SUCCESS, target.log

    refs = target.refs()
    assert sorted(refs) == [
        "refs/heads/master", "refs/heads/stable", "refs/heads/vendor",
        "refs/tags/start", "refs/tags/v1_0", "refs/tags/v1_1"]
    # Trees are the files as CVS has them, bytes and keywords untouched.
    assert target.tree("master") == history.snapshot("HEAD")
    assert target.tree("stable") == history.snapshot("stable")
    assert target.tree("v1_0") == target.tree("stable~1")
    assert refs["refs/tags/v1_1"] == refs["refs/heads/master"]
    assert refs["refs/tags/start"] == refs["refs/heads/vendor"]
    log = target.git("log", "--format=%an <%ae>|%s|%ad", "--date=unix",
                     "master")
    assert log.splitlines() == [
        "carol <carol@127.0.0.1>|Add b and c|1577851240",
        "alice <alice@127.0.0.1>|Remove README|1577847600",
        "j\u00fcrgen <j\u00fcrgen@127.0.0.1>|\u00dcnicode message: "
        "caf\u00e9|1577840400",
        "bob <bob@127.0.0.1>|Initial import|1577836800",
    ]
    # The branch starts at the commit it was made from.
    assert target.git("merge-base", "master", "stable").strip() == (
        target.git("rev-parse", "v1_0").strip())
    assert "Checked against the source: refs/heads/master" in target.log
    assert target.git("symbolic-ref", "HEAD").strip() == "refs/heads/master"


def test_incremental_new_commits_branch_and_tag_then_nothing(
        cvs_server, tmp_path):
    history = sample_history("incr")
    target = Target(tmp_path, serve(cvs_server, history), "incr")
    assert target.run() == WorkerExitCode.SUCCESS, target.log
    first = target.refs()
    assert target.run() == WorkerExitCode.SUCCESS_NOCHANGE, target.log
    assert "No changes." in target.log

    later = datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc)
    history.commit({"src/a.py": b"print(4)\n"}, "dave", "More", later)
    history.branch("feature")
    history.commit({"src/new.txt": b"feature\n"}, "dave", "Feature work",
                   later + HOUR, line="feature")
    history.tag("v2_0")
    history.write(cvs_server.root)

    assert target.run() == WorkerExitCode.SUCCESS, target.log
    refs = target.refs()
    assert set(refs) - set(first) == {"refs/heads/feature",
                                      "refs/tags/v2_0"}
    # Old history is untouched; master grew by one commit.
    for name in ("refs/heads/stable", "refs/tags/v1_0", "refs/tags/v1_1"):
        assert refs[name] == first[name]
    assert target.git("rev-parse", "master~1").strip() == (
        first["refs/heads/master"])
    assert refs["refs/tags/v2_0"] == refs["refs/heads/master"]
    assert target.tree("feature") == history.snapshot("feature")
    assert target.run() == WorkerExitCode.SUCCESS_NOCHANGE

    # The same history imported in one go gives the same commits.
    fresh = Target(tmp_path / "fresh", target.cvsroot, "incr")
    assert fresh.run() == WorkerExitCode.SUCCESS
    assert fresh.refs() == refs

    # A tag removed; another moved, but left on README, which is dead
    # on HEAD (``cvs tag -F`` without ``-a``): no commit has that mix,
    # so the tag gets a commit of its own on top of master.
    for f in history.files.values():
        f.symbols.pop("v1_1", None)
    history.tag("v1_0")
    history.write(cvs_server.root)
    assert target.run() == WorkerExitCode.SUCCESS, target.log
    after = target.refs()
    assert "refs/tags/v1_1" not in after
    assert target.git("rev-parse", "v1_0^").strip() == (
        refs["refs/heads/master"])
    assert target.tree("v1_0") == {**history.snapshot("HEAD"),
                                   "README": b"hello\n"}
    # Moved cleanly, it points at master itself.
    history.files["README"].symbols.pop("v1_0")
    history.write(cvs_server.root)
    assert target.run() == WorkerExitCode.SUCCESS, target.log
    assert target.refs()["refs/tags/v1_0"] == refs["refs/heads/master"]


def test_chunks_end_with_the_one_shot_result(cvs_server, tmp_path):
    history = CVSHistory("chunks")
    start = datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc)
    for number in range(23):
        history.commit({f"f{number % 4}.txt": b"%d\n" % number},
                       f"u{number % 2}", f"change {number}",
                       start + number * HOUR,
                       line="side" if number > 12 and number % 3 == 0
                       else "HEAD")
        if number == 10:
            history.branch("side")
            history.tag("t10")
    cvsroot = serve(cvs_server, history)
    whole = Target(tmp_path / "whole", cvsroot, "chunks")
    assert whole.run() == WorkerExitCode.SUCCESS

    chunked = Target(tmp_path / "chunked", cvsroot, "chunks")
    codes = [chunked.run(limit=10) for _ in range(3)]
    assert codes == [WorkerExitCode.SUCCESS_PARTIAL,
                     WorkerExitCode.SUCCESS_PARTIAL, WorkerExitCode.SUCCESS]
    assert "Stopped after 10 revisions" in chunked.log or codes[-1] == 0
    assert chunked.refs() == whole.refs()
    assert chunked.run(limit=10) == WorkerExitCode.SUCCESS_NOCHANGE


def test_recent_changesets_wait_until_settled(cvs_server, tmp_path):
    history = sample_history("recent")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    history.commit({"late.txt": b"late\n"}, "erin", "Just now", now)
    target = Target(tmp_path, serve(cvs_server, history), "recent")
    assert target.run() == WorkerExitCode.SUCCESS
    assert "1 recent changesets wait until they are 10 minutes old" in (
        target.log)
    assert "late.txt" not in target.tree("master")
    assert target.run() == WorkerExitCode.SUCCESS_NOCHANGE


def test_authors_file_and_password_protected_server(cvs_server, tmp_path):
    add_user(cvs_server.root, "reader", "s3cret-pass")
    authors = tmp_path / "authors"
    authors.write_text("j\u00fcrgen = J\u00fcrgen M\u00fcller "
                       "<jm@example.org>\n", encoding="utf-8")
    history = sample_history("secret")
    serve(cvs_server, history)
    target = Target(tmp_path, cvs_server.cvsroot("reader", "s3cret-pass"),
                    "secret", authors=str(authors))
    assert target.run() == WorkerExitCode.SUCCESS, target.log
    assert "s3cret" not in target.log
    assert "J\u00fcrgen M\u00fcller <jm@example.org>" in target.git(
        "log", "--format=%an <%ae>", "master")

    wrong = Target(tmp_path / "wrong",
                   cvs_server.cvsroot("reader", "not-it"), "secret")
    assert wrong.run() == WorkerExitCode.FAILURE_INVALID
    assert "did not let us in" in wrong.log
    assert "not-it" not in wrong.log


def test_missing_module_and_unreachable_server_are_invalid(
        cvs_server, tmp_path):
    target = Target(tmp_path, cvs_server.cvsroot(), "no-such-module")
    assert target.run() == WorkerExitCode.FAILURE_INVALID
    assert "does not exist" in target.log
    assert "Traceback" not in target.log

    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gone = Target(tmp_path / "gone",
                  f":pserver:anonymous@127.0.0.1:{port}/cvs", "m")
    assert gone.run() == WorkerExitCode.FAILURE_INVALID
    assert "Cannot read CVS repository" in gone.log
    assert not os.path.exists(os.path.join(gone.git_dir, "codeimport",
                                           "cvs.json"))


def test_a_corrupt_repository_is_broken(cvs_server, tmp_path):
    history = sample_history("corrupt")
    cvsroot = serve(cvs_server, history)
    path = os.path.join(cvs_server.root, "corrupt", "src", "a.py,v")
    os.chmod(path, 0o644)
    with open(path, "r+b") as stream:
        data = stream.read()
        stream.seek(0)
        stream.truncate()
        # Cut off in the middle of the revisions' texts.
        stream.write(data[:data.index(b"\ndesc\n") + 20])
    target = Target(tmp_path, cvsroot, "corrupt")
    assert target.run() == WorkerExitCode.FAILURE_REMOTE_BROKEN, target.log
    assert "Traceback" not in target.log


def test_local_roots_only_under_the_anything_policy(cvs_server, tmp_path):
    history = sample_history("local")
    serve(cvs_server, history)
    refused = Target(tmp_path / "refused", cvs_server.root, "local",
                     policy="default")
    assert refused.run() == WorkerExitCode.FAILURE_FORBIDDEN
    assert "local roots are not allowed" in refused.log
    allowed = Target(tmp_path / "allowed", ":local:" + cvs_server.root,
                     "local")
    assert allowed.run() == WorkerExitCode.SUCCESS, allowed.log
    assert allowed.tree("master") == history.snapshot("HEAD")
    ext = Target(tmp_path / "ext", ":ext:cvs.example.org:/cvs", "m")
    assert ext.run() == WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE


def test_a_fidelity_mismatch_publishes_nothing(cvs_server, tmp_path,
                                               monkeypatch):
    history = sample_history("fidelity")
    target = Target(tmp_path, serve(cvs_server, history), "fidelity")
    real = cvs_source.CVSConverter.exportTree

    def altered(self, ref, destination):
        real(self, ref, destination)
        with open(os.path.join(destination, "b.txt"), "ab") as stream:
            stream.write(b"!")

    monkeypatch.setattr(cvs_source.CVSConverter, "exportTree", altered)
    assert target.run() == WorkerExitCode.FAILURE
    assert "first at 'b.txt'" in target.log
    assert target.refs() == {}


def test_real_cvs_client_commits(tmp_path, monkeypatch):
    """Commits made by the cvs program itself (commit ids, Attic, the
    client's own RCS files) import like generated ones."""
    root = make_root()
    try:
        work = tmp_path / "work"
        work.mkdir()
        env = dict(os.environ, HOME=str(tmp_path), CVS_RSH="false")

        def cvs(*args, cwd=work):
            subprocess.run(["cvs", "-f", "-Q", "-d", root, *args], cwd=cwd,
                           env=env, check=True, stdout=subprocess.DEVNULL)

        (work / "hello.txt").write_text("hello\n")
        cvs("import", "-m", "Imported by the client", "real", "vendor",
            "start")
        cvs("checkout", "real", cwd=tmp_path)
        (tmp_path / "real" / "hello.txt").write_text("hello again\n")
        cvs("commit", "-m", "Second", cwd=tmp_path / "real")
        cvs("tag", "T2", cwd=tmp_path / "real")
        # Made by root, read by the server's user.
        subprocess.run(["chmod", "-R", "a+rX", root], check=True)
        monkeypatch.setattr(cvs_source.CVSConverter, "settle", 0)
        with CVSServer(root) as server:
            target = Target(tmp_path / "store", server.cvsroot(), "real")
            assert target.run() == WorkerExitCode.SUCCESS, target.log
        assert target.tree("master") == {"hello.txt": b"hello again\n"}
        assert target.git("log", "--format=%s", "master").splitlines() == [
            "Second", "Imported by the client"]
        assert target.refs()["refs/tags/T2"] == target.refs()[
            "refs/heads/master"]
    finally:
        shutil.rmtree(os.path.dirname(root), ignore_errors=True)


def test_a_tag_no_commit_had_gets_its_own_exact_commit(cvs_server,
                                                       tmp_path):
    history = CVSHistory("mixed")
    start = datetime.datetime(2021, 5, 1, tzinfo=datetime.timezone.utc)
    history.commit({"a.txt": b"a1\n", "b.txt": b"b1\n"}, "u", "one", start)
    history.commit({"a.txt": b"a2\n"}, "u", "two", start + HOUR)
    history.commit({"b.txt": b"b2\n", "c.txt": b"c\n"}, "u", "three",
                   start + 2 * HOUR)
    history.commit({"a.txt": b"a3\n"}, "u", "four", start + 3 * HOUR)
    # ``cvs tag -r 1.1 a.txt; cvs tag -r 1.2 b.txt``: a mix of times,
    # without c.txt.
    history.files["a.txt"].symbols["mixed"] = "1.1"
    history.files["b.txt"].symbols["mixed"] = "1.2"
    target = Target(tmp_path, serve(cvs_server, history), "mixed")
    assert target.run() == WorkerExitCode.SUCCESS, target.log
    assert target.tree("mixed") == {"a.txt": b"a1\n", "b.txt": b"b2\n"}
    # Made on top of the commit that brought its newest file revision.
    assert target.git("rev-parse", "mixed^").strip() == target.git(
        "rev-parse", "master~1").strip()
    assert target.git("log", "-1", "--format=%s", "mixed").startswith(
        "Tag mixed: ")


def test_a_server_that_allows_one_connection_is_read_over_one(tmp_path):
    root = make_root()
    try:
        history = sample_history("single")
        history.write(root)
        with CVSServer(root, max_connections=1) as server:
            target = Target(tmp_path, server.cvsroot(), "single")
            assert target.run() == WorkerExitCode.SUCCESS, target.log
            assert server.refused > 0
        assert target.tree("master") == history.snapshot("HEAD")
    finally:
        remove_root(root)


def test_a_run_rereads_only_the_logs_of_changed_files(cvs_server, tmp_path,
                                                      monkeypatch):
    history = CVSHistory("reread")
    start = datetime.datetime(2021, 7, 1, tzinfo=datetime.timezone.utc)
    history.commit({f"f{i}.txt": b"%d\n" % i for i in range(6)}, "u",
                   "first", start)
    history.tag("T1")
    target = Target(tmp_path, serve(cvs_server, history), "reread")
    assert target.run() == WorkerExitCode.SUCCESS
    asked = []
    real = cvs_source.CVSConnection.rlog

    def rlog(self, paths, headers_only=False):
        asked.append((paths, headers_only))
        return real(self, paths, headers_only)

    monkeypatch.setattr(cvs_source.CVSConnection, "rlog", rlog)
    history.commit({"f2.txt": b"changed\n"}, "u", "second", start + HOUR)
    history.write(cvs_server.root)
    assert target.run() == WorkerExitCode.SUCCESS, target.log
    assert asked == [("reread", True), (["reread/f2.txt"], False)]
    fresh = Target(tmp_path / "fresh", target.cvsroot, "reread")
    assert fresh.run() == WorkerExitCode.SUCCESS
    assert fresh.refs() == target.refs()
