"""The import worker: argument contract, exit codes, git-to-git mirroring."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading

import pytest
from dulwich.repo import Repo

from codeimport.enums import WorkerExitCode
from codeimport.scripts.importworker import main
from codeimport.targetstore import UnsafeTargetName
from codeimport.targetstore import target_path
from codeimport.testing.fixture import TEST_SOURCE_NETWORKS
from codeimport.worker.importworker import ArgumentError
from codeimport.worker.importworker import parse_import_arguments

TARGET = "~vcs-imports/gnome-terminal/import"


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    return str(path)


def run_worker(store, *arguments, policy="anything"):
    return main(
        ["--access-policy", policy, "--target-store", store,
         "--allowed-source-networks", ",".join(TEST_SOURCE_NETWORKS), "--"]
        + list(arguments)
    )


def target_refs(store, name=TARGET):
    with Repo(target_path(store, name)) as repo:
        # What was published; staged refs are the worker's own business.
        return {k: v for k, v in repo.get_refs().items()
                if k.startswith((b"refs/heads/", b"refs/tags/"))}


def test_parse_import_arguments_git_to_git():
    request = parse_import_arguments(
        [TARGET, "git", "git", "http://example.com/x.git",
         "--exclude-host", "launchpad.test", "--exclude-host", "localhost"]
    )
    assert request.target_id == TARGET
    assert (request.rcs, request.target_rcs) == ("git", "git")
    assert request.url == "http://example.com/x.git"
    assert request.exclude_hosts == ("launchpad.test", "localhost")


def test_parse_import_arguments_cvs_and_stacked_on():
    request = parse_import_arguments(
        ["12", "cvs", "bzr", ":pserver:foo@example.com/bar",
         "--cvs-module", "bar", "--stacked-on", "http://x/+branch-id/3"]
    )
    assert request.cvs_module == "bar"
    assert request.stacked_on == "http://x/+branch-id/3"


@pytest.mark.parametrize(
    "arguments",
    [
        ["12", "cvs", "bzr", ":pserver:foo@example.com/bar"],
        ["~a/b/c", "git", "bzr", "http://example.com/"],
        ["1", "darcs", "bzr", "http://example.com/"],
        ["1", "git", "svn", "http://example.com/"],
        ["1", "git"],
    ],
)
def test_parse_import_arguments_breaking_contract_raises(arguments):
    with pytest.raises(ArgumentError):
        parse_import_arguments(arguments)


@pytest.mark.parametrize("limit, message", [
    ("0", "must be more than 0: '0'"),
    ("-3", "must be more than 0: '-3'"),
    ("ten", "not a number: 'ten'"),
])
def test_a_revision_limit_is_a_positive_number(limit, message):
    base = ["~a/b/c", "bzr-svn", "git", "svn://example.com/r"]
    assert parse_import_arguments(
        [*base, "--revision-limit", "500"]).revision_limit == 500
    with pytest.raises(ArgumentError) as caught:
        parse_import_arguments([*base, "--revision-limit", limit])
    assert str(caught.value) == f"argument --revision-limit: {message}"


def test_target_path_strips_tilde(tmp_path):
    path = target_path(str(tmp_path), TARGET)
    assert path == os.path.join(
        os.path.realpath(tmp_path), "vcs-imports", "gnome-terminal", "import"
    )


@pytest.mark.parametrize(
    "name", ["", "~", "~a/../../etc", "/etc/passwd", "~a//b", "~a/./b",
             "~a\\b", "..", "~a/b/"],
)
def test_target_path_escaping_name_raises(tmp_path, name):
    with pytest.raises(UnsafeTargetName):
        target_path(str(tmp_path), name)


def test_target_path_through_symlink_out_of_store_raises(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    os.symlink(tmp_path, store / "evil")
    with pytest.raises(UnsafeTargetName):
        target_path(str(store), "~evil/x/y")


def test_import_new_source_succeeds_then_nochange(store, source_repo, capsys):
    assert run_worker(store, TARGET, "git", "git", source_repo.path) == 0
    assert target_refs(store) == source_repo.refs()
    assert "added    refs/heads/master" in capsys.readouterr().out
    with Repo(target_path(store, TARGET)) as repo:
        assert repo.bare
        assert repo.refs.read_ref(b"HEAD") == b"ref: refs/heads/master"
    assert run_worker(store, TARGET, "git", "git", source_repo.path) == (
        WorkerExitCode.SUCCESS_NOCHANGE
    )
    assert "No changes." in capsys.readouterr().out


def test_import_after_new_commit_succeeds(store, source_repo, capsys):
    run_worker(store, TARGET, "git", "git", source_repo.path)
    new_tip = source_repo.commit("second")
    assert run_worker(store, TARGET, "git", "git", source_repo.path) == 0
    assert target_refs(store)[b"refs/heads/master"] == new_tip
    assert "updated  refs/heads/master" in capsys.readouterr().out


def test_import_mirrors_new_branches_tags_and_deletions(store, source_repo):
    run_worker(store, TARGET, "git", "git", source_repo.path)
    source_repo.branch("feature")
    source_repo.tag("v1.0", annotated=True)
    source_repo.tag("light")
    assert run_worker(store, TARGET, "git", "git", source_repo.path) == 0
    refs = target_refs(store)
    assert refs == source_repo.refs()
    assert {b"refs/heads/feature", b"refs/tags/v1.0", b"refs/tags/light"} <= (
        refs.keys()
    )
    # The annotated tag object itself came across, not just its commit.
    with Repo(target_path(store, TARGET)) as repo:
        assert repo[refs[b"refs/tags/v1.0"]].type_name == b"tag"
    with Repo(source_repo.path) as repo:
        del repo.refs[b"refs/heads/feature"]
    assert run_worker(store, TARGET, "git", "git", source_repo.path) == 0
    assert b"refs/heads/feature" not in target_refs(store)


def test_import_accepts_file_url(store, source_repo):
    url = "file://" + source_repo.path
    assert run_worker(store, TARGET, "git", "git", url) == 0


def test_import_missing_source_is_invalid(store, tmp_path, capsys):
    missing = str(tmp_path / "missing")
    assert run_worker(store, TARGET, "git", "git", missing) == (
        WorkerExitCode.FAILURE_INVALID
    )
    assert f"Cannot read {missing}" in capsys.readouterr().out


def test_import_plain_directory_is_invalid(store, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "README").write_text("not a repository")
    assert run_worker(store, TARGET, "git", "git", str(plain)) == (
        WorkerExitCode.FAILURE_INVALID
    )


def test_import_broken_source_is_remote_broken(store, source_repo):
    with Repo(source_repo.path) as repo:
        tree = repo[repo.head()].tree
    objects = os.path.join(source_repo.path, ".git", "objects")
    os.remove(os.path.join(objects, tree[:2].decode(), tree[2:].decode()))
    assert run_worker(store, TARGET, "git", "git", source_repo.path) == (
        WorkerExitCode.FAILURE_REMOTE_BROKEN
    )


def test_import_unreachable_server_is_invalid(store, free_port):
    url = f"http://127.0.0.1:{free_port}/repo.git"
    assert run_worker(store, TARGET, "git", "git", url, policy="default") == (
        WorkerExitCode.FAILURE_INVALID
    )


@pytest.mark.parametrize(
    "url,extra",
    [
        ("http://launchpad.test/x.git", ["--exclude-host", "launchpad.test"]),
        ("https://git.launchpad.test/x", ["--exclude-host", "launchpad.test"]),
        ("ssh://example.com/x.git", []),
        ("git@example.com:x.git", []),
        ("/srv/secret/repo", []),
        ("file:///srv/secret/repo", []),
        ("http:///no-host", []),
    ],
)
def test_import_default_policy_refuses_url(store, url, extra, capsys):
    code = run_worker(store, TARGET, "git", "git", url, *extra,
                      policy="default")
    assert code == WorkerExitCode.FAILURE_FORBIDDEN
    assert "Forbidden URL" in capsys.readouterr().out


def test_import_anything_policy_still_refuses_excluded_host(store):
    code = run_worker(store, TARGET, "git", "git", "http://localhost/x",
                      "--exclude-host", "localhost")
    assert code == WorkerExitCode.FAILURE_FORBIDDEN


def test_import_redirect_to_an_excluded_host_is_refused(store, capsys):
    """Redirects are followed through the egress proxy, which checks the
    target like the first host: one leading to an excluded host is
    FAILURE_FORBIDDEN, and the excluded host is never contacted."""
    visited = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            visited.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    elsewhere = http.server.HTTPServer(("127.0.0.1", 0), Elsewhere)
    port = elsewhere.server_address[1]

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location",
                             f"http://localhost:{port}{self.path}")
            self.end_headers()

        def log_message(self, *args):
            pass

    # On 127.0.0.2: excluding localhost excludes its address, 127.0.0.1.
    server = http.server.HTTPServer(("127.0.0.2", 0), Redirect)
    for each in (server, elsewhere):
        threading.Thread(target=each.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.2:{server.server_address[1]}/x.git"
        code = run_worker(store, TARGET, "git", "git", url,
                          "--exclude-host", "localhost", policy="default")
    finally:
        for each in (server, elsewhere):
            each.shutdown()
            each.server_close()
    assert code == WorkerExitCode.FAILURE_FORBIDDEN
    assert visited == []
    assert "(or a place it leads to)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments",
    [
        ["12", "git", "bzr", "http://example.com/x"],
        ["12", "bzr", "bzr", "http://example.com/x"],
        ["12", "bzr-svn", "bzr", "svn://example.com/x"],
        ["12", "cvs", "bzr", ":pserver:a@example.com/r", "--cvs-module", "m"],
        [TARGET, "git", "git", "svn://example.com/x"],
    ],
)
def test_import_unsupported_pair_or_scheme(store, arguments, capsys):
    assert run_worker(store, *arguments, policy="default") == (
        WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE
    )


def test_import_escaping_target_fails_without_traceback(
    store, source_repo, capsys
):
    code = run_worker(store, "~a/../../b", "git", "git", source_repo.path)
    assert code == WorkerExitCode.FAILURE
    err = capsys.readouterr().err
    assert "UnsafeTargetName" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_a_target_store_that_is_no_directory_fails_in_one_line(
        tmp_path, source_repo, capsys, verbose):
    store = tmp_path / "not-a-dir"
    store.write_text("")
    arguments = ["--target-store", str(store), "--access-policy", "anything",
                 "--", TARGET, "git", "git", source_repo.path]
    assert main(verbose + arguments) == WorkerExitCode.FAILURE
    out = capsys.readouterr()
    assert out.out == "Cannot import: Not a directory on the import machine.\n"
    assert "Traceback" not in out.err


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_a_name_too_long_for_the_store_fails_without_paths(
        store, source_repo, capsys, verbose):
    # An import registered before names had a length limit.
    target = "~vcs-imports/project/" + "n" * 5000
    code = main(verbose + ["--access-policy", "anything", "--target-store",
                           store, "--", target, "git", "git",
                           source_repo.path])
    assert code == WorkerExitCode.FAILURE
    out = capsys.readouterr()
    assert out.out == (
        "Cannot import: File name too long on the import machine.\n")
    assert "Traceback" not in out.err and store not in out.out + out.err


def test_a_broken_target_fails_in_one_line_without_paths(
        store, source_repo, capsys):
    path = target_path(store, TARGET)
    os.makedirs(path)
    with open(os.path.join(path, "config"), "w") as config:
        config.write("[core\n")
    code = run_worker(store, TARGET, "git", "git", source_repo.path)
    assert code == WorkerExitCode.FAILURE
    out = capsys.readouterr()
    assert out.out == ("Cannot import: git failed on the import's target "
                       "(exit status 128).\n")
    assert store not in out.out + out.err


def test_an_unexpected_error_is_one_line_unless_verbose(
        monkeypatch, store, capsys):
    def broken(request, context):
        raise OSError(13, "Permission denied", "/srv/secret/path")

    monkeypatch.setattr("codeimport.scripts.importworker.run_import", broken)
    arguments = ["--target-store", store, "--", TARGET, "git", "git",
                 "http://example.com/x.git"]
    assert main(arguments) == WorkerExitCode.FAILURE
    err = capsys.readouterr().err
    assert err == ("codeimport importworker: error: PermissionError: "
                   "Permission denied\n")
    assert main(["-v"] + arguments) == WorkerExitCode.FAILURE
    assert "Traceback" in capsys.readouterr().err


def test_missing_target_store_fails_clearly(monkeypatch, capsys):
    monkeypatch.delenv("CODEIMPORT_TARGET_STORE", raising=False)
    assert main(["--", TARGET, "git", "git", "http://x/y"]) == 1
    assert "--target-store" in capsys.readouterr().err


def test_target_store_from_environment(monkeypatch, store, source_repo):
    monkeypatch.setenv("CODEIMPORT_TARGET_STORE", store)
    code = main(["--access-policy", "anything", "--", TARGET, "git", "git",
                 source_repo.path])
    assert code == 0
    assert target_refs(store) == source_repo.refs()


def test_bad_arguments_exit_1_not_nochange(capsys):
    # 2 would tell the monitor "success, nothing changed".
    assert main(["--", TARGET, "git"]) == WorkerExitCode.FAILURE
    assert "error:" in capsys.readouterr().err
    assert main(["--access-policy", "bogus", "--", TARGET, "git", "git",
                 "http://x/"]) == WorkerExitCode.FAILURE


def test_command_line_runs_worker(store, source_repo):
    result = subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "importworker",
         "--access-policy", "anything", "--target-store", store, "--",
         TARGET, "git", "git", source_repo.path],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Fetching" in result.stdout
    shutil.rmtree(store)


def test_local_source_with_a_dangling_ref_is_remote_broken(tmp_path):
    """A ref whose object is missing must not be mirrored as a success."""
    from codeimport.enums import WorkerExitCode
    from codeimport.targetstore import target_path

    source = tmp_path / "source"
    subprocess.run(["git", "init", "-q", "-b", "main", str(source)],
                   check=True)
    (source / "file").write_text("one\n")
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com",
           "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "-C", str(source), "add", "file"], check=True)
    subprocess.run(["git", "-C", str(source), "commit", "-q", "-m", "one"],
                   check=True, env=env)
    (source / ".git" / "refs" / "heads" / "ghost").write_text("ab" * 20 + "\n")
    store = tmp_path / "store"
    store.mkdir()
    completed = subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "importworker",
         "--access-policy", "anything", "--target-store", str(store), "--",
         "~owner/project/name", "git", "git", f"file://{source}"],
        capture_output=True, text=True)
    assert completed.returncode == WorkerExitCode.FAILURE_REMOTE_BROKEN, (
        completed.stdout + completed.stderr)
    assert "refs/heads/ghost" in completed.stdout
    path = target_path(str(store), "~owner/project/name")
    assert not os.path.exists(os.path.join(path, "refs", "heads", "ghost"))


@pytest.mark.parametrize("rcs, url, allowed", [
    ("hg", "svn://example.com/x", False),
    ("hg", "https://example.com/x", True),
    ("bzr-svn", "git://example.com/x", False),
    ("bzr-svn", "svn://example.com/x", True),
    ("bzr", "bzr://example.com/x", True),
    ("bzr", "svn://example.com/x", False),
])
def test_the_worker_applies_the_registration_rule_of_each_kind(
        store, rcs, url, allowed, capsys):
    from codeimport.access import make_policy
    from codeimport.worker.importworker import ImportContext
    from codeimport.worker.importworker import Importer
    from codeimport.worker.importworker import run_import

    ran = []

    class Recording(Importer):
        def run(self):
            ran.append(self.request.url)
            return WorkerExitCode.SUCCESS

    request = parse_import_arguments([TARGET, rcs, "git", url])
    context = ImportContext(policy=make_policy("default"),
                            target_store=store, write=print)
    code = run_import(request, context, {(rcs, "git"): Recording})

    if allowed:
        assert (code, ran) == (WorkerExitCode.SUCCESS, [url])
    else:
        assert (code, ran) == (WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE, [])
        assert "imports cannot read" in capsys.readouterr().out
