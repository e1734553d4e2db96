"""Run an import end to end, as production does, from a test.

`ImportHarness` registers an import of any source kind and runs it
through the real XML-RPC service and a real ``codeimport dispatch``
process (with its monitor and ``codeimport importworker``) writing into
a target store the caller chooses; `ImportHarness.run` returns the run's
result status and full log.  A second `run` of the same import requests
it again at once, so incremental runs, chunks (SUCCESS_PARTIAL) and
"nothing new" are one call each::

    from codeimport.testing.endtoend import ImportHarness
    from codeimport.testing.vcs.git import GitDaemon, make_history

    def test_git_import(codeimport, codeimport_xmlrpc_server, tmp_path):
        daemon = GitDaemon(tmp_path / "served").start()
        make_history(daemon.path("project"), commits=20)
        harness = ImportHarness(codeimport, tmp_path / "e2e",
                                server=codeimport_xmlrpc_server)
        try:
            code_import = harness.register("git", daemon.url("project"))
            run = harness.run(code_import)
            assert run.status == "SUCCESS", run.log
            assert harness.run(code_import).status == "SUCCESS_NOCHANGE"
            target = harness.targetPath(code_import)   # a bare repository
        finally:
            harness.close()
            daemon.close()

Kinds are the worker contract's names: ``git``, ``svn`` (registered as
``BZR_SVN``), ``hg``, ``bzr`` and ``cvs`` (``register("cvs",
cvs_root=..., cvs_module=...)``).  All target Git.

Choices, all keyword arguments of `ImportHarness`:

``server``
    an `XMLRPCTestServer` to use (normally the session's
    ``codeimport_xmlrpc_server``).  Without one, or with ``settings``,
    the harness starts its own on the test database.
``settings``
    a dict of `Settings` values (``{"revision_limit_subversion": 500}``)
    for the service, which builds the worker arguments; they are also
    used to register the imports.  ``file`` is always among the allowed
    URL schemes, so local test repositories can be registered, and
    ``allowed_source_networks`` is `TEST_SOURCE_NETWORKS` (loopback)
    unless given, so that sources served on 127.0.0.1 can be registered
    and read (give ``""`` to test the refusals).
``target_store``
    the target store directory (default ``<directory>/store``); give
    two harnesses the same one to play two machines sharing a store.
``access_policy``
    the workers' policy (default ``anything``, which allows ``file:``
    URLs and local paths; ``default`` to test refusals).  The machines
    get the settings' ``allowed_source_networks`` (loopback by default)
    in their ``--settings-file``.

`Dispatcher` is the ``codeimport dispatch`` process on its own, for
tests that need to kill a machine, run two at once, or watch a job while
it runs (`tests/worker/test_endtoend.py`).

Nothing here waits for a fixed time: `wait_for` polls the database, in a
fresh transaction each time, until the expected state or its deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from codeimport import database
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.registration import build_utilities
from codeimport.settings import Settings
from codeimport.testing.fixture import TEST_SOURCE_NETWORKS
from codeimport.testing.server import XMLRPCTestServer

__all__ = [
    "Dispatcher",
    "ImportHarness",
    "ImportRun",
    "KINDS",
    "kill",
    "processes_mentioning",
    "wait_for",
]

#: The worker contract's source kinds and the types they are registered as.
KINDS = {
    "git": RevisionControlSystems.GIT,
    "svn": RevisionControlSystems.BZR_SVN,
    "bzr-svn": RevisionControlSystems.BZR_SVN,
    "hg": RevisionControlSystems.HG,
    "bzr": RevisionControlSystems.BZR,
    "cvs": RevisionControlSystems.CVS,
}
TIMEOUT = 120.0


def wait_for(condition, timeout: float = TIMEOUT, interval: float = 0.02):
    """Poll `condition` until it returns something true, and return that;
    fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(interval)


def processes_mentioning(text: str) -> list[int]:
    """The pids of live processes with `text` in their command line."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as stream:
                command = stream.read().decode("utf-8", "replace")
        except OSError:
            continue
        if text in command:
            pids.append(int(entry))
    return pids


def kill(pids) -> None:
    """SIGKILL each of `pids` (gone already is fine)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Dispatcher:
    """A ``codeimport dispatch`` process for one machine, with short
    intervals.

    Its monitors and workers carry its `directory` in their command lines
    (the log directory), which is how `monitorsAndWorkers` finds them.

    :param url: the scheduler URL, with credentials.
    :param directory: this machine's directory (logs; the target store
        too unless `target_store` is given).  `directory`, `log_dir` and
        `target_store` are `pathlib.Path` objects.
    :param allowed_source_networks: the machine's
        ``allowed_source_networks``, given in a ``--settings-file``
        (default `TEST_SOURCE_NETWORKS`, loopback, where test servers
        listen).
    """

    def __init__(self, url, directory, hostname, max_jobs=2,
                 target_store=None, access_policy="anything",
                 heartbeat_interval=0.2, max_runs=None,
                 allowed_source_networks=TEST_SOURCE_NETWORKS):
        self.hostname = hostname
        self.directory = directory = Path(directory)
        self.log_dir = directory / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.target_store = Path(target_store or directory / "store")
        self.target_store.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, CODEIMPORT_SCHEDULER_URL=url)
        extra = [] if max_runs is None else ["--max-runs", str(max_runs)]
        if not isinstance(allowed_source_networks, str):
            allowed_source_networks = ",".join(allowed_source_networks)
        # Through a settings file, as an operator would.
        settings = directory / "machine.ini"
        settings.write_text("[codeimport]\nallowed_source_networks = "
                            f"{allowed_source_networks}\n")
        extra += ["--settings-file", str(settings)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "dispatch", *extra,
             "--hostname", hostname, "--max-jobs", str(max_jobs),
             "--poll-interval", "0.05", "--max-backoff", "0.2",
             "--heartbeat-interval", str(heartbeat_interval),
             "--grace-period", "0.1",
             "--access-policy", access_policy,
             "--target-store", str(self.target_store),
             "--log-dir", str(self.log_dir)],
            env=env, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        path = self.log_dir / "dispatcher.log"
        if not path.exists():
            return ""
        return path.read_text(encoding="utf-8", errors="replace")

    def signal(self, signum) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> int:
        """SIGTERM, and the exit status."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait()

    def monitorsAndWorkers(self) -> list[int]:
        mine = processes_mentioning(str(self.log_dir))
        return [pid for pid in mine if pid != self.proc.pid]

    def killMachine(self) -> None:
        """SIGKILL the dispatcher and all its monitors and workers, as a
        machine that crashes."""
        kill([self.proc.pid] + self.monitorsAndWorkers())
        self.proc.wait(TIMEOUT)

    def close(self) -> None:
        """Kill whatever of this machine still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        kill(self.monitorsAndWorkers())


@dataclass(frozen=True)
class ImportRun:
    """One finished run: the result's `status` name (``SUCCESS``,
    ``SUCCESS_PARTIAL``, ``FAILURE_INVALID`` ...) and the full `log`."""

    status: str
    log: str
    result_id: int

    def __str__(self):
        return f"{self.status}\n{self.log}"


class ImportHarness:
    """Registers imports and runs them end to end (see module doc)."""

    def __init__(self, codeimport, directory, *, server=None,
                 settings: dict | None = None, target_store=None,
                 access_policy: str = "anything",
                 hostname: str = "importer-e2e"):
        self.codeimport = codeimport
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.target_store = os.fspath(
            target_store or os.path.join(self.directory, "store"))
        self.access_policy = access_policy
        self.hostname = hostname
        values = dict(settings or {})
        schemes = values.get("allowed_url_schemes",
                             Settings().allowed_url_schemes)
        if isinstance(schemes, str):
            schemes = tuple(s.strip() for s in schemes.split(","))
        values["allowed_url_schemes"] = tuple(schemes) + (
            () if "file" in schemes else ("file",))
        values.setdefault("allowed_source_networks", TEST_SOURCE_NETWORKS)
        self.settings = Settings(**values)
        # Registration has settings of its own (``file`` URLs allowed),
        # so it gets a database store of its own.
        store = self._store = database.make_store(codeimport.dsn)
        self.utilities = build_utilities(lambda: store, self.settings)
        self._own_server = None
        if server is None or settings:
            path = os.path.join(self.directory, "service.ini")
            with open(path, "w") as stream:
                stream.write("[codeimport]\n")
                for name, value in values.items():
                    if isinstance(value, (tuple, list)):
                        value = ",".join(value)
                    stream.write(f"{name} = "
                                 f"{'none' if value is None else value}\n")
            server = XMLRPCTestServer(
                codeimport.dsn, extra_args=["--settings-file", path]).start()
            self._own_server = server
        self.server = server
        self.requester = self.utilities.persons.new(
            f"e2e-{os.getpid()}-{id(self) % 100000}")
        store.commit()
        self._dispatchers: list[Dispatcher] = []

    def register(self, kind: str, url: str | None = None, *,
                 cvs_root: str | None = None, cvs_module: str | None = None,
                 name: str | None = None):
        """Register a REVIEWED import of `kind` into Git (due at once);
        return the `CodeImport`."""
        factory = self.codeimport.factory
        self._store.rollback()
        code_import = self.utilities.code_imports.new(
            self.requester, name or factory.getUniqueString("project"),
            factory.getUniqueString("import"), KINDS[kind],
            TargetRevisionControlSystems.GIT, url=url, cvs_root=cvs_root,
            cvs_module=cvs_module)
        import_id = code_import.id
        self._store.commit()
        self.codeimport.abort()
        return self.codeimport.utilities.code_imports.get(import_id)

    def targetPath(self, code_import) -> str:
        """The bare target repository of `code_import` in the store."""
        from codeimport.worker.target import target_path

        return target_path(self.target_store,
                           code_import.branch.unique_name)

    def _results(self, code_import) -> list:
        self.codeimport.abort()
        return sorted(code_import.results, key=lambda result: result.id)

    def request(self, code_import) -> None:
        """Make the import's job due now (after an earlier run)."""
        self._store.rollback()
        job = self.utilities.code_imports.get(code_import.id).import_job
        if job is not None and job.requesting_user is None and (
                job.date_due is None or not job.isOverdue()):
            self.utilities.workflow.requestJob(job, self.requester)
        self._store.commit()

    def dispatcher(self, hostname: str | None = None, **kwargs) -> Dispatcher:
        """Start a `Dispatcher` writing into this harness's store."""
        hostname = hostname or self.hostname
        kwargs.setdefault("target_store", self.target_store)
        kwargs.setdefault("access_policy", self.access_policy)
        kwargs.setdefault("allowed_source_networks",
                          self.settings.allowed_source_networks)
        dispatcher = Dispatcher(
            self.server.scheduler_url,
            os.path.join(self.directory, hostname,
                         str(len(self._dispatchers))),
            hostname, **kwargs)
        self._dispatchers.append(dispatcher)
        return dispatcher

    def run(self, code_import, timeout: float = TIMEOUT) -> ImportRun:
        """Run the import once on a fresh ``codeimport dispatch`` and
        return its result."""
        before = len(self._results(code_import))
        self.request(code_import)
        # One job only: a SUCCESS_PARTIAL makes the next chunk due at
        # once, and a dispatcher still polling would claim it before we
        # could stop it.
        dispatcher = self.dispatcher(max_jobs=1, max_runs=1)
        try:
            wait_for(lambda: len(self._results(code_import)) > before,
                     timeout=timeout)
        except AssertionError:
            # Say what the machine and the job were doing.
            job = code_import.import_job
            state = "no job" if job is None else (
                f"job {job.state.name}, log tail {job.logtail!r}")
            raise AssertionError(
                f"no result within {timeout:g} s ({state}); "
                f"dispatcher log:\n{dispatcher.log()[-3000:]}") from None
        finally:
            dispatcher.stop()
        return self.lastRun(code_import)

    def lastRun(self, code_import) -> ImportRun:
        """The newest result of `code_import` as an `ImportRun`."""
        result = self._results(code_import)[-1]
        if result.log_file is not None:
            log = result.log_file.read().decode("utf-8", "replace")
        else:
            log = result.log_excerpt or ""
        return ImportRun(result.status.name, log, result.id)

    def close(self) -> None:
        for dispatcher in self._dispatchers:
            dispatcher.close()
        if self._own_server is not None:
            self._own_server.close()
        self._store.rollback()
        self._store.close()
        self.codeimport.abort()
