"""Private sources imported end to end, and the password seen nowhere.

Each test registers an import whose URL carries a user name and
password, for a real server on 127.0.0.1 that refuses clients without
them, and runs it through the real service, dispatcher, monitor and
import worker (`ImportHarness`).  While the server answers the worker,
it samples every process's command line (``ps``) and our processes'
environments (`ProcessSampler`); afterwards the stored URL, the stored
job log and every file the machine wrote (dispatcher and monitor logs,
the target store) are searched for the password too.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich.web import make_wsgi_chain

from codeimport.model.sourcecredential import credentials_for
from codeimport.sourcecredentials import SourceCredentials
from codeimport.testing.endtoend import ImportHarness
from codeimport.testing.private import BasicAuthWSGI
from codeimport.testing.private import ProcessSampler
from codeimport.testing.private import SamplingProxy
from codeimport.testing.private import static_files
from codeimport.testing.vcs.bzr import SampleBranch
from codeimport.testing.vcs.cvs import CVSServer
from codeimport.testing.vcs.cvs import add_user
from codeimport.testing.vcs.cvs import make_root
from codeimport.testing.vcs.cvs import remove_root
from codeimport.testing.vcs.cvs import sample_history
from codeimport.testing.vcs.git import git_refs
from codeimport.testing.vcs.git import make_history
from codeimport.testing.vcs.hg import build_fixture
from codeimport.testing.vcs.svn import SvnServer
from codeimport.testing.vcs.svn import create_repository
from codeimport.testing.vcs.svn import standard_history

# Characters that need quoting in a URL, and a shell, and a config file.
PASSWORD = "Pa55 w:rd/@%#'\"$x"
USER = "alice"


def with_credentials(url: str, password: str = PASSWORD) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{quote(password, safe='')}@{rest}"


def files_holding(directory, secret: str) -> list[str]:
    """Every file under `directory` whose bytes contain `secret`, as it
    is or percent-encoded."""
    secrets = (secret.encode(), quote(secret, safe="").encode())
    found = []
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            try:
                with open(path, "rb") as stream:
                    data = stream.read()
                    if any(secret in data for secret in secrets):
                        found.append(path)
            except OSError:
                continue
    return found


@pytest.fixture
def harness(codeimport, codeimport_xmlrpc_server, tmp_path):
    harness = ImportHarness(codeimport, tmp_path / "machine",
                            server=codeimport_xmlrpc_server)
    yield harness
    harness.close()


def assert_never_shown(codeimport, harness, code_import, sampler, run,
                       tmp_path, tool: str) -> None:
    """The password reached no process listing, log or stored text."""
    assert sampler.samples > 0
    # The samples were taken while the worker and its tool ran.
    assert sampler.saw("importworker"), sorted(sampler.commands)
    assert sampler.saw(tool), sorted(sampler.commands)
    assert sampler.leaks == []
    assert PASSWORD not in run.log and quote(PASSWORD) not in run.log
    assert files_holding(tmp_path / "machine", PASSWORD) == []
    # Those files include the machine's logs, with the worker's command.
    logs = files_holding(tmp_path / "machine", "importworker")
    assert any(path.endswith(".log") for path in logs), logs
    codeimport.abort()
    assert "@" not in (code_import.url or code_import.cvs_root.split(
        "@")[-1])
    assert PASSWORD not in (code_import.url or code_import.cvs_root)
    assert credentials_for(codeimport.store, code_import.id) == (
        SourceCredentials(USER, PASSWORD))


def test_a_private_git_source_over_http(codeimport, harness, tmp_path):
    source = make_history(str(tmp_path / "private.git"), commits=5)
    sampler = ProcessSampler(PASSWORD)
    app = make_wsgi_chain(DictBackend({"/private.git": Repo(source),
                                       "/again.git": Repo(source)}))
    with BasicAuthWSGI(app, USER, PASSWORD, sampler) as server:
        code_import = harness.register(
            "git", with_credentials(server.url("private.git")))
        run = harness.run(code_import)

        assert run.status == "SUCCESS", run.log
        assert git_refs(harness.targetPath(code_import)) == {
            name: sha for name, sha in git_refs(source).items()
            if name.startswith(("refs/heads/", "refs/tags/"))}
        assert_never_shown(codeimport, harness, code_import, sampler, run,
                           tmp_path, "git")

        # A wrong password is refused by the server, and not shown
        # either.
        refused = server.refused
        wrong = harness.register(
            "git", with_credentials(server.url("again.git"),
                                    "not-" + PASSWORD), name="wrong")
        run = harness.run(wrong)
        assert run.status == "FAILURE_INVALID", run.log
        assert server.refused > refused
        assert "not-Pa55" not in run.log and "Pa55" not in run.log


def test_a_private_subversion_source_over_svnserve(codeimport, harness,
                                                   tmp_path):
    root = tmp_path / "svnroot"
    root.mkdir()
    repository = root / "private"
    create_repository(str(repository), standard_history())
    (repository / "conf" / "svnserve.conf").write_text(
        "[general]\nanon-access = none\nauth-access = read\n"
        "password-db = passwd\nrealm = private\n")
    (repository / "conf" / "passwd").write_text(
        f"[users]\n{USER} = {PASSWORD}\n")
    sampler = ProcessSampler(PASSWORD)
    with SvnServer(root) as server, SamplingProxy(server.port,
                                                  sampler) as proxy:
        url = f"svn://127.0.0.1:{proxy.port}/private"
        code_import = harness.register("svn", with_credentials(url))
        run = harness.run(code_import)

        assert run.status == "SUCCESS", run.log
        assert "refs/heads/master" in git_refs(harness.targetPath(
            code_import))
        assert_never_shown(codeimport, harness, code_import, sampler, run,
                           tmp_path, "importworker")

        wrong = harness.register(
            "svn", with_credentials(url + "/trunk", "not-" + PASSWORD),
            name="wrong")
        run = harness.run(wrong)
        assert run.status == "FAILURE_INVALID", run.log
        assert "Pa55" not in run.log


# CVSROOT passwords cannot hold "@" or "/".
CVS_PASSWORD = "Pa55 w:rd%#'\"$x"


def test_a_private_cvs_source_over_pserver(codeimport, harness, tmp_path):
    root = make_root()
    try:
        add_user(root, USER, CVS_PASSWORD)
        sample_history("private").write(root)
        sampler = ProcessSampler(CVS_PASSWORD)
        with CVSServer(root) as server, SamplingProxy(
                server.port, sampler) as proxy:
            cvs_root = (f":pserver:{USER}:{CVS_PASSWORD}@127.0.0.1:"
                        f"{proxy.port}{root}")
            code_import = harness.register(
                "cvs", cvs_root=cvs_root, cvs_module="private")
            run = harness.run(code_import)

            assert run.status == "SUCCESS", run.log
            # The fidelity check's ``cvs export`` connected too.
            assert sampler.saw("cvs -f"), sorted(sampler.commands)
            assert sampler.leaks == []
            assert CVS_PASSWORD not in run.log
            assert files_holding(tmp_path / "machine", CVS_PASSWORD) == []
            codeimport.abort()
            assert code_import.cvs_root == (
                f":pserver:{USER}@127.0.0.1:{proxy.port}{root}")
            assert credentials_for(codeimport.store, code_import.id) == (
                SourceCredentials(USER, CVS_PASSWORD))
    finally:
        remove_root(root)


def test_a_private_mercurial_source_over_http(codeimport, harness,
                                              tmp_path):
    from mercurial.hgweb import hgwebdir

    source = tmp_path / "private-hg"
    build_fixture(str(source))
    sampler = ProcessSampler(PASSWORD)
    app = hgwebdir({b"private": str(source).encode(),
                    b"again": str(source).encode()})
    with BasicAuthWSGI(app, USER, PASSWORD, sampler) as server:
        code_import = harness.register(
            "hg", with_credentials(server.url("private")))
        run = harness.run(code_import)

        assert run.status == "SUCCESS", run.log
        assert "refs/heads/master" in git_refs(harness.targetPath(
            code_import))
        assert_never_shown(codeimport, harness, code_import, sampler, run,
                           tmp_path, "hgexport")

        wrong = harness.register(
            "hg", with_credentials(server.url("again"), "not-" + PASSWORD),
            name="wrong")
        run = harness.run(wrong)
        assert run.status == "FAILURE_INVALID", run.log
        assert "Pa55" not in run.log


def test_a_private_bazaar_source_over_http(codeimport, harness, tmp_path):
    SampleBranch.example(str(tmp_path / "bzr"), "private")
    sampler = ProcessSampler(PASSWORD)
    app = static_files(str(tmp_path / "bzr"))
    with BasicAuthWSGI(app, USER, PASSWORD, sampler) as server:
        code_import = harness.register(
            "bzr", with_credentials(server.url("private")))
        run = harness.run(code_import)

        assert run.status == "SUCCESS", run.log
        assert "refs/heads/master" in git_refs(harness.targetPath(
            code_import))
        assert_never_shown(codeimport, harness, code_import, sampler, run,
                           tmp_path, "bzrstream")
