"""`make demo` as a newcomer runs it: ``python -m codeimport.demo`` in a
subprocess, on an embedded PostgreSQL of its own."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid

import psutil
import pytest

MARKER = "CODEIMPORT_DEMO_TEST"


@pytest.fixture
def pgroot():
    """A directory for the demo's embedded server (a short path: the
    server's socket lives in it)."""
    path = tempfile.mkdtemp(prefix="codeimport-demo-pg-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def demo_env(**extra) -> dict:
    env = {**os.environ, **extra}
    env.pop("CODEIMPORT_DSN", None)
    return env


def leftovers(marker: str, path: str) -> list:
    """Live processes that carry `marker` in their environment or name
    `path` on their command line."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.pid == os.getpid():
            continue
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(process.info["cmdline"] or ())
            if (path in cmdline
                    or process.environ().get(MARKER) == marker):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def section(output: str, start: str, end: str) -> str:
    return output[output.index(start):output.index(end)]


def test_demo_passes_its_checks_and_leaves_no_process(pgroot):
    marker = uuid.uuid4().hex
    env = demo_env(CODEIMPORT_PGDATA=os.path.join(pgroot, "pgdata"),
                   **{MARKER: marker})
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "codeimport.demo"], env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=240)
    finally:
        left = leftovers(marker, pgroot)
        for process in left:
            process.kill()
    out = demo.stdout
    assert demo.returncode == 0, out + demo.stderr
    assert left == []
    assert out.startswith("codeimport demo: PostgreSQL (embedded)")

    first = section(out, "Round 1: every import ran once", "Round 2:")
    for project, status in [("alpha", "SUCCESS"), ("beta", "SUCCESS"),
                            ("gamma", "SUCCESS")]:
        assert re.search(rf"~vcs-imports/{project}/import +{status} .*"
                         r"refs match source", first), first
    assert re.search(r"~vcs-imports/delta/import +FAILURE_INVALID ", first)

    second = section(out, "Round 2 results", "The branch puller")
    assert re.search(r"~vcs-imports/alpha/import +SUCCESS .*refs match",
                     second), second
    assert re.search(r"~vcs-imports/beta/import +SUCCESS_NOCHANGE .*"
                     r"refs match", second), second
    assert "delta" not in second

    mirrors = section(out, "The branch puller mirrors every successful "
                      "import:", "Stopping the machines")
    for project in ("alpha", "beta", "gamma"):
        assert re.search(rf"~vcs-imports/{project}/import +mirrored "
                         r"+[0-9a-f]{12} +refs match import", mirrors)
    assert re.search(r"~vcs-imports/delta/import +not mirrored", mirrors)

    # It ends by naming the web interface, which listed every import,
    # and does not wait for Enter: its stdin is no terminal.
    assert re.search(r"The web interface is at http://127\.0\.0\.1:\d+/ "
                     r"\(sign in as nora, password \S+\)", out), out
    assert "Press Enter" not in out
    # The service's metrics agreed with the database (the demo checks).
    assert re.search(r"Metrics \(http://127\.0\.0\.1:\d+/metrics, .*\): "
                     r"results .*FAILURE_INVALID 1, .*SUCCESS_NOCHANGE 1; "
                     r"\d+ getJobForMachine calls timed", out), out
    for hostname in ("importer-1", "importer-2"):
        assert re.search(rf"OFFLINE +{hostname} OFFLINE_REASON=STOPPED",
                         out)
    assert out.rstrip().endswith(
        "all checks passed, no process left behind.")


def test_demo_with_an_unreachable_server_fails_with_one_line(pgroot):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = demo_env(CODEIMPORT_PGDATA=os.path.join(pgroot, "pgdata"))
    env["CODEIMPORT_DSN"] = (f"host=127.0.0.1 port={port} user=postgres"
                             " password=hunter2")
    demo = subprocess.run(
        [sys.executable, "-m", "codeimport.demo"], env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60)
    assert demo.returncode == 1
    assert demo.stdout == ""
    (line,) = demo.stderr.splitlines()
    assert line.startswith("demo: Cannot connect to the configured database")
    assert "hunter2" not in line
    # No embedded server was started instead.
    assert not os.path.exists(os.path.join(pgroot, "pgdata"))


def test_demo_refuses_an_unknown_argument():
    demo = subprocess.run(
        [sys.executable, "-m", "codeimport.demo", "--forever"],
        env=demo_env(), stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=60)
    assert demo.returncode == 2
    assert demo.stdout == ""
    assert demo.stderr.splitlines() == [
        "demo: unknown argument '--forever' (the one option is "
        "--keep-running)"]
