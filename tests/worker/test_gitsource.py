"""Git sources fetched with the git program (`worker.sources.git`) and the
safety rules every untrusted fetch follows (`codeimport.safegit`)."""

from __future__ import annotations

import os

import pytest

from codeimport import safegit
from codeimport.access import ForbiddenURL
from codeimport.access import make_policy
from codeimport.enums import WorkerExitCode
from codeimport.scripts.importworker import main
from codeimport.targetstore import read_manifest
from codeimport.targetstore import target_path
from codeimport.testing.fixture import TEST_SOURCE_NETWORKS
from codeimport.testing.vcs.git import GitDaemon
from codeimport.testing.vcs.git import add_commits
from codeimport.testing.vcs.git import git
from codeimport.testing.vcs.git import git_refs
from codeimport.testing.vcs.git import make_history
from codeimport.worker.fidelity import FidelityMismatch
from codeimport.worker.sources.git import GitConverter

TARGET = "~owner/project/import"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    daemon = GitDaemon(tmp_path_factory.mktemp("served")).start()
    yield daemon
    daemon.close()


def run_worker(store, url, *extra, policy="anything"):
    return main(["--access-policy", policy, "--target-store", str(store),
                 "--allowed-source-networks", ",".join(TEST_SOURCE_NETWORKS),
                 "--", TARGET, "git", "git", url, *extra])


def published(store):
    return git_refs(target_path(str(store), TARGET))


def test_git_daemon_source_full_then_nothing_new_then_incremental(
        daemon, tmp_path, capsys):
    source = make_history(daemon.path("full.git"), commits=12)
    store = tmp_path / "store"
    url = daemon.url("full.git")

    assert run_worker(store, url, policy="default") == WorkerExitCode.SUCCESS
    assert published(store) == git_refs(source)
    out = capsys.readouterr().out
    commits = git("--git-dir", source, "rev-list", "--count", "--all")
    assert f"{commits.strip()} new commit(s)." in out
    # The log ends with every published tip, as the manifest has them.
    manifest = read_manifest(target_path(str(store), TARGET))
    assert manifest["refs"] == git_refs(source)
    assert out.rstrip().splitlines()[-len(manifest["refs"]):] == [
        f"  {sha} {name}" for name, sha in sorted(manifest["refs"].items())]

    assert run_worker(store, url, policy="default") == (
        WorkerExitCode.SUCCESS_NOCHANGE)
    assert "No changes." in capsys.readouterr().out

    add_commits(source, 3)
    add_commits(source, 2, branch="feature")
    git("--git-dir", source, "tag", "-d", "light")
    git("--git-dir", source, "branch", "-D", "stable")
    assert run_worker(store, url, policy="default") == WorkerExitCode.SUCCESS
    assert published(store) == git_refs(source)
    out = capsys.readouterr().out
    assert "  added    refs/heads/feature" in out
    assert "  deleted  refs/heads/stable" in out
    assert "  deleted  refs/tags/light" in out


def test_head_follows_the_sources_symbolic_head(daemon, tmp_path):
    source = make_history(daemon.path("head.git"), commits=5)
    git("--git-dir", source, "symbolic-ref", "HEAD", "refs/heads/stable")
    store = tmp_path / "store"

    assert run_worker(store, daemon.url("head.git")) == 0

    assert git("--git-dir", target_path(str(store), TARGET),
               "symbolic-ref", "HEAD").strip() == "refs/heads/stable"


def test_only_branches_and_tags_are_imported(daemon, tmp_path):
    source = make_history(daemon.path("other.git"), commits=5)
    tip = git("--git-dir", source, "rev-parse", "master").strip()
    git("--git-dir", source, "update-ref", "refs/pull/1/head", tip)
    store = tmp_path / "store"

    assert run_worker(store, daemon.url("other.git")) == 0

    target = target_path(str(store), TARGET)
    assert "refs/pull" not in git("--git-dir", target, "for-each-ref")


def test_a_corrupt_object_is_remote_broken(tmp_path, capsys):
    source = make_history(tmp_path / "corrupt.git", commits=3)
    tree = git("--git-dir", source, "rev-parse", "master^{tree}").strip()
    # A commit whose author line git's fsck rejects.
    bad = git("--git-dir", source, "hash-object", "-t", "commit",
              "--literally", "-w", "--stdin",
              input=f"tree {tree}\nauthor nobody\ncommitter nobody\n\n"
                    "bad\n".encode()).strip()
    git("--git-dir", source, "update-ref", "refs/heads/bad", bad)
    store = tmp_path / "store"

    code = run_worker(store, source)

    assert code == WorkerExitCode.FAILURE_REMOTE_BROKEN
    out = capsys.readouterr().out
    assert "is broken" in out and "Traceback" not in out
    # Nothing was published.
    assert read_manifest(target_path(str(store), TARGET)) is None


@pytest.mark.parametrize("url", [
    "ext::sh -c touch% /tmp/codeimport-ext-pwned",
    "ext::sh",
    "fd::0",
])
def test_remote_helpers_are_forbidden_even_under_anything(tmp_path, url):
    assert run_worker(tmp_path / "store", url) == (
        WorkerExitCode.FAILURE_FORBIDDEN)
    assert not os.path.exists("/tmp/codeimport-ext-pwned")


def test_an_option_as_url_is_never_an_option(tmp_path, capsys):
    marker = tmp_path / "pwned"
    url = f"--upload-pack=touch{chr(0x20)}{marker}"
    code = run_worker(tmp_path / "store", url)
    assert code in (WorkerExitCode.FAILURE_INVALID,
                    WorkerExitCode.FAILURE_FORBIDDEN)
    assert not marker.exists()


def test_git_is_bound_to_the_policys_transports():
    default = make_policy("default")
    anything = make_policy("anything")
    assert safegit.allowed_transports(default) == ("http", "https", "git")
    assert safegit.allowed_transports(anything) == (
        "http", "https", "git", "ssh", "file")
    command = safegit.source_command("/t", default, "fetch")
    assert command[:4] == ["git", "--git-dir=/t", "-c", "protocol.allow=never"]
    for setting in ("protocol.git.allow=always", "core.hooksPath=/dev/null",
                    "fetch.fsckObjects=true", "transfer.fsckObjects=true",
                    "http.followRedirects=false"):
        assert setting in command
    assert "protocol.file.allow=always" not in command
    env = safegit.source_environment(default, {"PATH": "/bin"})
    assert env["GIT_ALLOW_PROTOCOL"] == "http:https:git"
    with pytest.raises(ForbiddenURL):
        safegit.check_location("file:///srv/x", default)


def test_git_cannot_read_other_kinds_of_url(tmp_path):
    assert run_worker(tmp_path / "store", "svn://example.com/x",
                      policy="default") == (
        WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE)


def test_a_fetch_that_does_not_match_the_source_is_a_fidelity_failure():
    with pytest.raises(FidelityMismatch) as info:
        GitConverter._checkAdvertised(
            "git://h/x", {"refs/heads/master": "a" * 40},
            {"refs/heads/master": "b" * 40, "refs/tags/v1": "c" * 40})
    assert str(info.value) == (
        "Fidelity check failed: refs/heads/master is aaaaaaaaaaaa here but "
        "bbbbbbbbbbbb at git://h/x; nothing was published.")


def test_a_stalled_source_times_out_as_invalid(daemon, tmp_path,
                                               monkeypatch):
    make_history(daemon.path("stalled.git"), commits=2)
    monkeypatch.setattr(safegit, "LIST_TIMEOUT", 0.5)
    daemon.gate.clear()
    try:
        code = run_worker(tmp_path / "store", daemon.url("stalled.git"))
    finally:
        daemon.gate.set()
    assert code == WorkerExitCode.FAILURE_INVALID


def test_the_source_repository_config_and_hooks_are_not_used(tmp_path):
    source = make_history(tmp_path / "hooked.git", commits=2)
    marker = tmp_path / "hook-ran"
    for hook in ("pre-upload-pack", "post-checkout", "reference-transaction"):
        path = os.path.join(source, "hooks", hook)
        with open(path, "w") as stream:
            stream.write(f"#!/bin/sh\ntouch {marker}\n")
        os.chmod(path, 0o755)
    git("--git-dir", source, "config", "core.hooksPath",
        os.path.join(source, "hooks"))
    store = tmp_path / "store"
    assert run_worker(store, source) == 0
    # Even a hook placed in the target is not run by our fetches.
    target = target_path(str(store), TARGET)
    path = os.path.join(target, "hooks", "reference-transaction")
    with open(path, "w") as stream:
        stream.write(f"#!/bin/sh\ntouch {marker}\n")
    os.chmod(path, 0o755)
    add_commits(source, 1)
    assert run_worker(store, source) == 0
    assert not marker.exists()
