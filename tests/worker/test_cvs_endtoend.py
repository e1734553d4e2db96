"""CVS imports end to end: the ``codeimport importworker`` command (as
the monitor runs it) against a CVS pserver on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_endtoend import TIMEOUT

from codeimport.enums import WorkerExitCode
from codeimport.testing.vcs.cvs import CVSServer
from codeimport.testing.vcs.cvs import make_root
from codeimport.testing.vcs.cvs import remove_root
from codeimport.testing.vcs.cvs import sample_history


@pytest.fixture
def cvs_server():
    root = make_root()
    server = CVSServer(root)
    yield server
    server.stop()
    remove_root(root)


def importworker(store, cvsroot, module, *contract):
    """``codeimport importworker`` as the monitor runs it; `contract`
    adds to the worker's argument list."""
    return subprocess.run(
        [sys.executable, "-m", "codeimport.cli", "importworker",
         "--access-policy", "default", "--target-store", str(store),
         "--", "~p/" + module + "/cvs", "cvs", "git", cvsroot,
         "--cvs-module", module, *contract],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=TIMEOUT)


def test_the_worker_command_imports_in_chunks_and_fails_cleanly(
        cvs_server, tmp_path):
    history = sample_history("cli")
    history.write(cvs_server.root)
    store = tmp_path / "store"
    runs = [importworker(store, cvs_server.cvsroot(), "cli",
                         "--revision-limit", "2") for _ in range(3)]
    assert [run.returncode for run in runs] == [
        WorkerExitCode.SUCCESS_PARTIAL, WorkerExitCode.SUCCESS_PARTIAL,
        WorkerExitCode.SUCCESS], [r.stdout for r in runs]
    assert b"changeset 2/5 (40%)" in runs[0].stdout
    assert b"changeset 5/5 (100%)" in runs[2].stdout
    assert importworker(store, cvs_server.cvsroot(), "cli").returncode == (
        WorkerExitCode.SUCCESS_NOCHANGE)

    missing = importworker(store, cvs_server.cvsroot(), "absent")
    assert missing.returncode == WorkerExitCode.FAILURE_INVALID
    assert b"does not exist" in missing.stdout
    local = importworker(store, cvs_server.root, "cli")
    assert local.returncode == WorkerExitCode.FAILURE_FORBIDDEN
    for run in [*runs, missing, local]:
        assert b"Traceback" not in run.stdout
