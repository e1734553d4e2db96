"""A machine killed in the middle of an import; another machine finishes
it into the same shared target store.

Real everything: the service, two ``codeimport dispatch`` machines
sharing one target store, ``codeimport watchdog``, and a source served by
``git daemon``.  The daemon holds the first machine's fetch (it lets the
listing through, then stalls the fetch's connection), so the machine is
killed while its worker is fetching, with no timing guesswork.
"""

from __future__ import annotations

import subprocess
import sys

from codeimport.targetstore import read_manifest
from codeimport.testing.endtoend import ImportHarness
from codeimport.testing.endtoend import wait_for
from codeimport.testing.vcs.git import GitDaemon
from codeimport.testing.vcs.git import add_commits
from codeimport.testing.vcs.git import git_refs
from codeimport.testing.vcs.git import make_history

STALE_AFTER = 3


def start_watchdog(codeimport, tmp_path):
    settings = tmp_path / "watchdog.ini"
    settings.write_text(
        "[codeimport]\n"
        f"maximum_heartbeat_interval = {STALE_AFTER}\n"
        f"machine_heartbeat_limit = {STALE_AFTER}\n")
    return subprocess.Popen(
        [sys.executable, "-m", "codeimport.cli", "watchdog",
         "--dsn", codeimport.dsn, "--interval", "0.2",
         "--settings-file", str(settings)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def test_a_machine_killed_mid_fetch_is_finished_by_another(
        codeimport, codeimport_xmlrpc_server, tmp_path):
    daemon = GitDaemon(tmp_path / "served").start()
    harness = ImportHarness(codeimport, tmp_path / "fleet",
                            server=codeimport_xmlrpc_server)
    watchdog = None
    try:
        source = make_history(daemon.path("project.git"), commits=30)
        code_import = harness.register("git", daemon.url("project.git"))
        # importer-1 imports once, then the source moves on.
        assert harness.run(code_import).status == "SUCCESS"
        first_tips = git_refs(harness.targetPath(code_import))
        add_commits(source, 5)
        add_commits(source, 3, branch="feature")

        harness.request(code_import)
        daemon.stall(after=1)
        first = harness.dispatcher("importer-1")

        def fetching():
            codeimport.abort()
            job = code_import.import_job
            return (job is not None and job.state.name == "RUNNING"
                    and job.machine.hostname == "importer-1"
                    and "Fetching" in (job.logtail or "")
                    and daemon.waiting == 1)

        wait_for(fetching)
        first.killMachine()
        # Nothing new was published by the killed run.
        assert git_refs(harness.targetPath(code_import)) == first_tips
        watchdog = start_watchdog(codeimport, tmp_path)

        def statuses():
            codeimport.abort()
            return sorted(result.status.name
                          for result in code_import.results)

        wait_for(lambda: statuses() == ["RECLAIMED", "SUCCESS"])
        daemon.gate.set()
        second = harness.dispatcher("importer-2")
        wait_for(lambda: statuses() == ["RECLAIMED", "SUCCESS", "SUCCESS"])
        assert second.stop() == 0

        run = harness.lastRun(code_import)
        target = harness.targetPath(code_import)
        assert git_refs(target) == git_refs(source)
        assert read_manifest(target)["refs"] == git_refs(source)
        assert "added    refs/heads/feature" in run.log
        assert run.log.rstrip().endswith(
            f"{git_refs(source)['refs/tags/v1.0']} refs/tags/v1.0")
        codeimport.abort()
        newest = max(code_import.results, key=lambda result: result.id)
        assert newest.machine.hostname == "importer-2"
    finally:
        if watchdog is not None:
            watchdog.terminate()
            watchdog.wait(30)
        harness.close()
        daemon.close()
