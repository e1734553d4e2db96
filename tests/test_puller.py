"""The branch puller against the real authserver, with real Git mirrors.

The server (``codeimport_xmlrpc_server``) commits in its own
connections: each test commits its setup and `reload`s before reading.
Source repositories are made on the fly with dulwich.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from datetime import timedelta

import pytest
from dulwich import porcelain
from dulwich.repo import Repo
from scripthelpers import call
from scripthelpers import cli
from scripthelpers import reload

import codeimport
from codeimport.enums import BranchType
from codeimport.errors import NoSuchBranch
from codeimport.puller.mirror import NO_REVISION
from codeimport.puller.mirror import Mirrorer
from codeimport.puller.mirror import MirrorOutcome
from codeimport.puller.mirror import tip_revision
from codeimport.puller.puller import INTERRUPTED
from codeimport.puller.puller import Puller
from codeimport.scripts import puller as puller_script
from codeimport.scripts.daemon import StopSignals
from codeimport.scripts.importworker import main as importworker
from codeimport.targetstore import target_path
from codeimport.worker.target import STAGING_PREFIX

IDENTITY = b"Test <test@example.com>"


def make_repo(path, commits=1, branches=()):
    """A Git repository at `path` with `commits` commits; its HEAD sha."""
    os.makedirs(path, exist_ok=True)
    porcelain.init(str(path))
    sha = None
    for _ in range(commits):
        sha = add_commit(path)
    for branch in branches:
        porcelain.branch_create(str(path), branch)
    return sha


def add_commit(path):
    """Commit a change to the repository at `path`; return the sha."""
    name = os.path.join(path, "file.txt")
    with open(name, "a") as stream:
        stream.write("change\n")
    porcelain.add(str(path), [name])
    return porcelain.commit(str(path), message=b"change", author=IDENTITY,
                            committer=IDENTITY).decode()


def refs_of(path):
    with Repo(str(path)) as repo:
        return {k: v for k, v in repo.get_refs().items()
                if k.startswith((b"refs/heads/", b"refs/tags/"))}


def run_import(store, unique_name, source):
    """Import `source` into the target store as a worker does."""
    code = importworker(["--access-policy", "anything", "--target-store",
                         str(store), "--", unique_name, "git", "git",
                         str(source)])
    assert code in (0, 2)


def git(path, *args):
    return subprocess.run(["git", f"--git-dir={path}", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def stores(tmp_path):
    paths = {name: tmp_path / name for name in ("mirrors", "imports")}
    for path in paths.values():
        path.mkdir()
    return paths


@pytest.fixture
def pull(codeimport, codeimport_xmlrpc_server, stores, capsys):
    """Run ``codeimport puller`` in this process after committing."""

    def pull(*args):
        codeimport.commit()
        ran = call(
            puller_script.main,
            "--authserver-url", codeimport_xmlrpc_server.authserver_url,
            "--mirror-store", str(stores["mirrors"]),
            "--import-store", str(stores["imports"]),
            "--hostname", "pullhost", *args, capsys=capsys)
        reload(codeimport)
        return ran

    return pull


def due_branch(codeimport, branch_type=BranchType.MIRRORED, url=None,
               name=None):
    branch = codeimport.factory.makeBranch(
        branch_type=branch_type, url=url, name=name)
    branch.requestMirror()
    return branch


def last_activity(codeimport):
    return codeimport.utilities.script_activities.getLastActivity(
        "branch-puller")


def test_puller_mirrors_a_git_repository_and_records_its_run(
        codeimport, codeimport_xmlrpc_server, stores, tmp_path):
    source = tmp_path / "source"
    sha = make_repo(source, commits=2, branches=["feature"])
    branch = due_branch(codeimport, url=f"file://{source}")
    codeimport.commit()

    ran = cli("puller", "--authserver-url",
              codeimport_xmlrpc_server.authserver_url,
              "--mirror-store", str(stores["mirrors"]),
              "--branch-type", "MIRRORED", "--allow-file-urls",
              "--hostname", "pullhost")

    assert ran.returncode == 0, ran.stderr
    assert "mirrored 1 branch(es), 0 failed" in ran.stderr
    reload(codeimport)
    assert branch.last_mirrored == branch.last_mirror_attempt is not None
    assert branch.last_mirrored_id == sha
    assert branch.mirror_failures == 0
    assert branch.mirror_status_message is None
    mirror = target_path(str(stores["mirrors"]), branch.unique_name)
    assert refs_of(mirror) == refs_of(source)
    assert set(refs_of(mirror)) == {b"refs/heads/master",
                                    b"refs/heads/feature"}
    activity = last_activity(codeimport)
    assert activity.hostname == "pullhost"
    assert activity.date_started <= activity.date_completed


def test_puller_failure_counts_and_keeps_the_reason(
        codeimport, pull, tmp_path):
    missing = due_branch(codeimport, url=f"file://{tmp_path}/nothing")
    svn = due_branch(codeimport, url="svn://svn.example.org/trunk")
    ssh = due_branch(codeimport, url="ssh://git.example.org/x.git")

    ran = pull("--allow-file-urls")

    assert ran.returncode == 0, ran.stderr
    assert "mirrored 0 branch(es), 3 failed" in ran.stderr
    assert missing.mirror_failures == 1
    assert missing.mirror_status_message.startswith(
        f"Cannot read file://{tmp_path}/nothing: ")
    assert svn.mirror_status_message == "We do not mirror svn:// URLs."
    assert ssh.mirror_status_message.startswith(
        "We cannot mirror branches from SFTP and SSH URLs.")
    for branch in (missing, svn, ssh):
        assert branch.last_mirrored is None
        # MIRRORED branches back off after a failure.
        assert branch.next_mirror_time > branch.last_mirror_attempt
    assert last_activity(codeimport) is not None


def test_puller_refuses_file_urls_unless_allowed(codeimport, pull, tmp_path):
    source = tmp_path / "source"
    make_repo(source)
    branch = due_branch(codeimport, url=f"file://{source}")

    pull()

    assert branch.mirror_status_message == "We do not mirror file:// URLs."
    assert branch.mirror_failures == 1


def test_puller_refuses_excluded_hosts(codeimport, pull):
    branch = due_branch(codeimport, url="https://git.code.example.test/x")

    pull("--exclude-host", "code.example.test")

    assert branch.mirror_status_message == (
        "We do not mirror branches from git.code.example.test.")


def test_puller_mirrors_imported_branches_from_the_import_store(
        codeimport, pull, stores, tmp_path):
    code_import = codeimport.factory.makeCodeImport()
    branch = code_import.branch
    branch.requestMirror()
    source = tmp_path / "source"
    sha = make_repo(source, branches=["stable"])
    run_import(stores["imports"], branch.unique_name, source)

    ran = pull()

    assert ran.returncode == 0, ran.stderr
    assert branch.last_mirrored_id == sha
    assert branch.mirror_failures == 0
    # IMPORTED branches wait for the next import to request a mirror.
    assert branch.next_mirror_time is None
    mirror = target_path(str(stores["mirrors"]), branch.unique_name)
    assert refs_of(mirror) == refs_of(source)


def test_puller_mirrors_exactly_what_the_import_published(
        codeimport, pull, stores, tmp_path):
    branch = codeimport.factory.makeCodeImport().branch
    branch.requestMirror()
    source = tmp_path / "source"
    published = make_repo(source, branches=["doomed"])
    target = target_path(str(stores["imports"]), branch.unique_name)
    run_import(stores["imports"], branch.unique_name, source)
    # An import now running has staged a newer commit and half-way moved
    # a published branch; neither is in the manifest yet.
    newer = add_commit(source)
    git(target, "fetch", "-q", str(source),
        f"refs/heads/master:{STAGING_PREFIX}heads/master")
    git(target, "update-ref", "refs/heads/master", newer)
    git(target, "update-ref", "-d", "refs/heads/doomed")

    pull()

    mirror = target_path(str(stores["mirrors"]), branch.unique_name)
    assert {k.decode(): v.decode() for k, v in refs_of(mirror).items()} == {
        "refs/heads/master": published, "refs/heads/doomed": published}
    assert git(mirror, "for-each-ref", "refs/codeimport") == ""
    assert git(mirror, "symbolic-ref", "HEAD") == "refs/heads/master"
    assert branch.last_mirrored_id == published

    # The next import publishes; the next pull follows it exactly.
    git(source / ".git", "update-ref", "-d", "refs/heads/doomed")
    run_import(stores["imports"], branch.unique_name, source)
    branch.requestMirror()
    pull()

    assert {k.decode(): v.decode() for k, v in refs_of(mirror).items()} == {
        "refs/heads/master": newer}
    assert branch.last_mirrored_id == newer


def test_puller_imported_branch_not_yet_imported_fails(codeimport, pull):
    branch = codeimport.factory.makeCodeImport().branch
    branch.requestMirror()

    pull()

    assert branch.mirror_failures == 1
    assert branch.mirror_status_message == (
        f"Not a branch: nothing has been imported into "
        f"{branch.unique_name} yet.")
    assert branch.next_mirror_time is None


def test_puller_second_run_follows_new_commits(codeimport, pull, tmp_path):
    source = tmp_path / "source"
    make_repo(source)
    branch = due_branch(codeimport, url=f"file://{source}")
    pull("--allow-file-urls")
    first = branch.last_mirrored_id
    newer = add_commit(source)
    branch.requestMirror()

    pull("--allow-file-urls")

    assert branch.last_mirrored_id == newer != first


def test_puller_branch_type_and_max_branches_limit_the_run(
        codeimport, pull, tmp_path):
    source = tmp_path / "source"
    make_repo(source)
    mirrored = [due_branch(codeimport, url=f"file://{source}")
                for _ in range(2)]
    imported = codeimport.factory.makeCodeImport().branch
    imported.requestMirror()

    ran = pull("--allow-file-urls", "--branch-type", "MIRRORED",
               "--max-branches", "1")

    assert "mirrored 1 branch(es), 0 failed" in ran.stderr
    assert [b.last_mirrored is not None for b in mirrored] == [True, False]
    assert imported.last_mirror_attempt is None


def test_puller_with_the_server_down_exits_1_and_records_nothing(
        codeimport, stores, capsys):
    ran = call(puller_script.main,
               "--authserver-url", "http://u:p@127.0.0.1:9/authserver",
               "--mirror-store", str(stores["mirrors"]),
               "--branch-type", "MIRRORED", capsys=capsys)

    assert ran.returncode == 1
    assert "run failed, not recorded:" in ran.stderr
    assert ran.stderr.count("\n") == 1
    assert last_activity(codeimport) is None


@pytest.mark.parametrize("args, message", [
    ([], "No authserver: use --authserver-url or set "
         "CODEIMPORT_AUTHSERVER_URL."),
    (["--authserver-url", "ftp://x/authserver", "--branch-type",
      "MIRRORED"],
     "--authserver-url: Not an http(s) URL"),
    (["--authserver-url", "http://x/a", "--import-store", "MIRRORS"],
     "--import-store and --mirror-store must be different directories."),
    (["--authserver-url", "http://x/a"],
     "--import-store is required to pull IMPORTED branches."),
    (["--authserver-url", "http://x/a", "--import-store", "/no/such/dir"],
     "The import store /no/such/dir does not exist."),
    (["--authserver-url", "http://x/a", "--import-store", "/etc/passwd"],
     "The import store /etc/passwd is not a directory."),
    (["--authserver-url", "http://x/a", "--branch-type", "HOSTED"],
     "argument --branch-type: invalid choice: 'HOSTED'"),
    (["--authserver-url", "http://x/a", "--max-branches", "0"],
     "argument --max-branches: must be more than 0"),
])
def test_puller_bad_options_exit_2_with_one_line(
        stores, capsys, monkeypatch, args, message):
    monkeypatch.delenv("CODEIMPORT_AUTHSERVER_URL", raising=False)
    args = [str(stores["mirrors"]) if a == "MIRRORS" else a for a in args]

    ran = call(puller_script.main, "--mirror-store", str(stores["mirrors"]),
               *args, capsys=capsys)

    assert ran.returncode == 2
    assert ran.stderr.count("\n") == 1
    assert message in ran.stderr


def test_puller_loop_stops_cleanly_on_SIGTERM(
        codeimport, codeimport_xmlrpc_server, stores):
    codeimport.commit()
    env = dict(os.environ, CODEIMPORT_AUTHSERVER_URL=(
        codeimport_xmlrpc_server.authserver_url))
    process = subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "puller", "--loop",
         "--interval", "3600", "--mirror-store", str(stores["mirrors"]),
         "--branch-type", "MIRRORED"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "mirrored 0 branch(es)" in line:
                break
        process.send_signal(signal.SIGTERM)
        lines.extend(process.stderr)
        returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)
    assert returncode == 0, output
    assert "Traceback" not in output
    assert "stopped (SIGTERM)" in output
    reload(codeimport)
    assert last_activity(codeimport) is not None


def test_puller_stopped_mid_mirror_reports_and_requests_the_branch(
        codeimport, codeimport_xmlrpc_server, stores):
    # A git:// "server" that accepts the connection and never answers
    # holds the puller inside its fetch until the signal arrives.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        port = listener.getsockname()[1]
        branch = due_branch(codeimport, url=f"git://127.0.0.1:{port}/x")
        codeimport.commit()
        env = dict(os.environ, CODEIMPORT_AUTHSERVER_URL=(
            codeimport_xmlrpc_server.authserver_url))
        process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "puller",
             "--mirror-store", str(stores["mirrors"]),
             "--branch-type", "MIRRORED"],
            stderr=subprocess.PIPE, text=True, env=env)
        try:
            connection, _ = listener.accept()
            with connection:
                process.send_signal(signal.SIGTERM)
                output = process.stderr.read()
                returncode = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert returncode == 0, output
    assert "Traceback" not in output
    assert f"{branch.unique_name}: interrupted" in output
    reload(codeimport)
    assert branch.mirror_failures == 1
    assert branch.mirror_status_message == INTERRUPTED
    # Requested again: due now rather than backed off by hours.
    assert branch.next_mirror_time <= branch.last_mirror_attempt + (
        timedelta(minutes=1))
    assert last_activity(codeimport) is None


def child_processes():
    """The command lines of this process's children still alive."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                with open(f"/proc/{entry}/cmdline", "rb") as stream:
                    children.append(stream.read().replace(b"\0", b" "))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return children


def signal_at_line(number, root):
    """A trace function that sends this process SIGTERM at the
    `number`-th line executed in codeimport or subprocess.py."""
    seen = [0]

    def trace(frame, event, arg):
        name = frame.f_code.co_filename
        if not (name.startswith(root) or name.endswith("subprocess.py")):
            return None
        if event == "line":
            seen[0] += 1
            if seen[0] == number:
                os.kill(os.getpid(), signal.SIGTERM)
        return trace

    return trace, seen


def test_puller_stops_cleanly_wherever_the_signal_lands(
        stores, tmp_path, monkeypatch, capsys):
    # The signal is sent at sampled lines all along a real mirror of an
    # imported branch (the puller, the mirrorer, safegit, run_tool and
    # subprocess.Popen itself): the same lines every run.
    source = tmp_path / "source"
    make_repo(source, commits=2, branches=["topic"])
    run_import(stores["imports"], "~o/p/b", source)
    published = refs_of(target_path(str(stores["imports"]), "~o/p/b"))
    homes = tmp_path / "homes"
    homes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(homes))
    capsys.readouterr()
    root = os.path.dirname(codeimport.__file__)
    branch = (1, "~o/p/b", "~o/p/b", "", "IMPORTED")

    def pull(trace):
        shutil.rmtree(stores["mirrors"])
        stores["mirrors"].mkdir()
        client = RecordingClient(branch)
        mirrorer = Mirrorer(str(stores["mirrors"]), str(stores["imports"]))
        # Put back the tracer we found: under `make test` it is
        # coverage's, and clearing it would stop measuring the rest of
        # the run.
        previous = sys.gettrace()
        with StopSignals() as stop:
            sys.settrace(trace)
            try:
                Puller(client, mirrorer, hostname="h", stop=stop).run()
            finally:
                sys.settrace(previous)
        return client.calls

    trace, seen = signal_at_line(0, root)
    assert pull(trace)[0][:2] == ("mirrorComplete", 1)
    lines = seen[0]
    assert lines > 500
    outcomes = set()
    # Servers of other tests' fixtures may still be our children.
    others = child_processes()
    for number in range(1, lines, lines // 60):
        calls = pull(signal_at_line(number, root)[0])
        where = f"signal at line {number} of {lines}: {calls}"
        if calls == []:
            # Before the branch was asked for: it stays due.
            outcomes.add("before")
        elif calls[0] == ("mirrorFailed", 1, INTERRUPTED):
            assert calls == [("mirrorFailed", 1, INTERRUPTED),
                             ("requestMirror", 1)], where
            outcomes.add("interrupted")
        else:
            # The mirror was done when the stop came: it counts, the
            # run is recorded only if it had ended too.
            assert calls[0][:2] == ("mirrorComplete", 1), where
            assert [c[0] for c in calls[1:]] in ([], ["recordSuccess"]), (
                where)
            assert refs_of(target_path(str(stores["mirrors"]),
                                       "~o/p/b")) == published, where
            outcomes.add("complete")
        assert child_processes() == others, where
        assert os.listdir(homes) == [], where
        err = capsys.readouterr().err
        assert "Traceback" not in err and "Exception ignored" not in err, (
            where + "\n" + err)
    assert outcomes == {"before", "interrupted", "complete"}


# The puller's loop and the mirrorer on their own, without a server.

class RecordingClient:
    """A stand-in `BranchStatusClient` that serves `branches` in turn."""

    def __init__(self, *branches, refuse=()):
        self.branches = list(branches)
        self.refuse = set(refuse)
        self.calls = []

    def acquireBranchToPull(self, names):
        return self.branches.pop(0) if self.branches else ()

    def __getattr__(self, method):
        def record(*args):
            self.calls.append((method, *args))
            if method in self.refuse:
                raise NoSuchBranch(args[0])
            return True
        return record


class ScriptedMirrorer:
    def __init__(self, *effects):
        self.effects = list(effects)

    def mirror(self, pull_url, unique_name, branch_type_name):
        effect = self.effects.pop(0)
        if isinstance(effect, BaseException):
            raise effect
        return effect


def branch_tuple(branch_id):
    return (branch_id, "http://example.com/x", f"~o/p/b{branch_id}", "",
            "MIRRORED")


class Stop:
    """A `StopSignals` stand-in: `requested` is set by the test."""

    requested = False

    def cancelling(self):
        return contextlib.nullcontext()


class StoppingMirrorer:
    """A mirror during which the stop signal arrives: it ends with
    `outcome` (a killed git's failure, or a finished mirror) or raises
    it."""

    def __init__(self, stop, outcome):
        self.stop = stop
        self.outcome = outcome

    def mirror(self, *args):
        self.stop.requested = True
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.mark.parametrize("outcome", [
    MirrorOutcome(reason="Cannot read x: cancelled"),
    RuntimeError("a bug met while stopping"),
])
def test_Puller_interrupted_mirror_is_failed_and_requested_again(outcome):
    stop = Stop()
    client = RecordingClient(branch_tuple(1), branch_tuple(2))
    puller = Puller(client, StoppingMirrorer(stop, outcome),
                    hostname="h", stop=stop)

    report = puller.run()

    assert client.calls == [("mirrorFailed", 1, INTERRUPTED),
                            ("requestMirror", 1)]
    assert report.failed == [("~o/p/b1", INTERRUPTED)]
    assert not report.recorded and client.branches


def test_Puller_crashing_mirror_is_reported_and_the_run_goes_on():
    client = RecordingClient(branch_tuple(1), branch_tuple(2))
    puller = Puller(client, ScriptedMirrorer(
        RuntimeError("bug"), MirrorOutcome(revision="abc")), hostname="h")

    report = puller.run()

    assert [c[:3] for c in client.calls[:2]] == [
        ("mirrorFailed", 1,
         "Internal error in the branch puller: RuntimeError."),
        ("mirrorComplete", 2, "abc")]
    assert client.calls[2][:3] == ("recordSuccess", "branch-puller", "h")
    assert report.recorded


def test_Puller_branch_deleted_meanwhile_does_not_stop_the_run():
    client = RecordingClient(branch_tuple(1), refuse={"mirrorComplete"})
    puller = Puller(client, ScriptedMirrorer(MirrorOutcome(revision="a")),
                    hostname="h")

    report = puller.run()

    assert report.mirrored == ["~o/p/b1"] and report.recorded


@pytest.mark.parametrize("unique_name", ["~../../etc", "~a//b", ""])
def test_Mirrorer_refuses_names_outside_the_store(stores, unique_name):
    outcome = Mirrorer(str(stores["mirrors"])).mirror(
        "http://example.com/x", unique_name, "MIRRORED")

    assert not outcome.succeeded
    assert "does not name a directory inside the target store" in (
        outcome.reason)


def test_tip_revision_of_an_empty_repository(tmp_path):
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "empty")],
                   check=True)

    assert tip_revision(str(tmp_path / "empty")) == NO_REVISION


def test_Mirrorer_failure_reason_names_the_branch_not_our_disk(
        stores, tmp_path):
    source = tmp_path / "source"
    make_repo(source)
    run_import(stores["imports"], "~o/p/b", source)
    target = target_path(str(stores["imports"]), "~o/p/b")
    # The published commit's objects are lost from the store.
    for pack in (tmp_path / "store").glob("**/objects/pack/*"):
        pack.unlink()
    shutil.rmtree(os.path.join(target, "objects"))
    os.makedirs(os.path.join(target, "objects", "pack"))

    outcome = Mirrorer(str(stores["mirrors"]), str(stores["imports"])).mirror(
        "~o/p/b", "~o/p/b", "IMPORTED")

    assert not outcome.succeeded
    assert "~o/p/b" in outcome.reason
    assert str(stores["imports"]) not in outcome.reason


def test_Mirrorer_failure_reason_is_cut_to_500_characters():
    outcome = Mirrorer._failed("Cannot read ~o/p/b: " + "x" * 600)

    assert outcome.reason.startswith("Cannot read ~o/p/b: xxx")
    assert outcome.reason.endswith("x...")
    assert len(outcome.reason) == 500


@pytest.mark.parametrize("pull_url, type_name, import_store, reason", [
    ("~o/p/b", "IMPORTED", None,
     "This puller does not pull imported branches."),
    ("http://a b/", "MIRRORED", None, "Invalid branch URL 'http://a b/': "),
    ("http://x/", "REMOTE", None, "Branches of type REMOTE are not "
     "mirrored."),
])
def test_Mirrorer_refusals(stores, pull_url, type_name, import_store, reason):
    outcome = Mirrorer(str(stores["mirrors"]), import_store).mirror(
        pull_url, "~o/p/b", type_name)

    assert outcome.reason.startswith(reason)


def test_Puller_stop_before_any_branch_ends_the_run_unrecorded():
    client = RecordingClient(branch_tuple(1))
    stop = Stop()
    stop.requested = True

    report = Puller(client, ScriptedMirrorer(), hostname="h",
                    stop=stop).run()

    assert not report.recorded
    assert client.calls == [] and client.branches


def test_Puller_stop_after_a_branch_ends_the_run_unrecorded():
    stop = Stop()
    client = RecordingClient(branch_tuple(1), branch_tuple(2))

    report = Puller(client, StoppingMirrorer(
        stop, MirrorOutcome(revision="abc")), hostname="h", stop=stop).run()

    assert report.mirrored == ["~o/p/b1"] and not report.recorded
    assert client.calls == [("mirrorComplete", 1, "abc")]
