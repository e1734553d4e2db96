"""End to end: real scheduler, dispatchers, monitors, workers, watchdog.

Everything here runs as the production commands do: ``codeimport
serve`` (the session's shared service, or one of the test's own when it
must start late or restart), ``codeimport dispatch`` with its monitors
and import workers, and ``codeimport watchdog``, on the test database.
The sources are Git repositories served over HTTP by a server whose
*gate* the test can close, so that an import stays RUNNING until the
test opens it again.

Nothing waits for a fixed time: each test polls for the state it expects
(`wait_for`, with a deadline) in the database, which it reads in a fresh
transaction (`Scene.refresh`).  Limits are short through options and a
settings file: monitors beat every 0.2 s, dispatchers poll at least every
0.2 s, and the watchdog gives up on a job or a machine after 3 s.
"""

from __future__ import annotations

import signal
import socket
import socketserver
import subprocess
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

import pytest
from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich.web import make_wsgi_chain
from worker_fakes import SourceRepo
from worker_fakes import wait_for

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import TargetRevisionControlSystems
from codeimport.testing.endtoend import Dispatcher as HarnessDispatcher
from codeimport.testing.endtoend import kill
from codeimport.testing.endtoend import processes_mentioning
from codeimport.testing.server import XMLRPCTestServer
from codeimport.testing.vcs.git import git_refs
from codeimport.worker.target import target_path

TIMEOUT = 30
# The watchdog's limits (seconds) in these tests.
STALE_AFTER = 3
_Reason = CodeImportMachineOfflineReason
MACHINE_EVENTS = ("ONLINE", "OFFLINE", "QUIESCE")


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class GitServer:
    """Serves Git repositories over smart HTTP on 127.0.0.1.

    While the gate is closed, every request waits for it to open.
    """

    def __init__(self):
        self.repos = {}
        self.gate = threading.Event()
        self.gate.set()
        app = make_wsgi_chain(DictBackend(self.repos))

        def gated(environ, start_response):
            self.gate.wait(TIMEOUT * 2)
            return app(environ, start_response)

        self._server = make_server(
            "127.0.0.1", 0, gated, server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler)
        threading.Thread(target=self._server.serve_forever,
                         args=(0.05,), daemon=True).start()

    def serve(self, name, source):
        """Serve `source` (a `SourceRepo`) and return its URL."""
        self.repos[f"/{name}"] = Repo(source.path)
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def close(self):
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()


class Dispatcher(HarnessDispatcher):
    """A machine with its own target store, as the tests below want."""

    def targetRefs(self, code_import):
        return {ref.encode(): sha.encode() for ref, sha in git_refs(
            target_path(self.target_store,
                        code_import.branch.unique_name)).items()}


class Scene:
    """The test's world: database, sources, machines, and processes."""

    def __init__(self, codeimport, server, tmp_path):
        self.codeimport = codeimport
        self.server = server
        self.tmp_path = tmp_path
        self.git = GitServer()
        self.dispatchers = []
        self.watchdogs = []
        self.servers = []
        self.operator = codeimport.factory.makePerson(name="operator")
        codeimport.commit()

    # -- set-up ---------------------------------------------------------

    def makeImport(self, name):
        """A source with a commit, a branch and a tag; its Git import."""
        path = self.tmp_path / "sources" / name
        path.mkdir(parents=True)
        source = SourceRepo(path)
        source.commit("first")
        source.branch("stable")
        source.tag("v1.0", annotated=True)
        code_import = self.codeimport.factory.makeCodeImport(
            url=self.git.serve(name, source), project=name,
            target_rcs_type=TargetRevisionControlSystems.GIT)
        self.codeimport.commit()
        code_import.source = source
        return code_import

    def startDispatcher(self, hostname="importer-1", max_jobs=2, url=None):
        dispatcher = Dispatcher(url or self.server.scheduler_url,
                                self.tmp_path / hostname, hostname, max_jobs)
        self.dispatchers.append(dispatcher)
        return dispatcher

    def startWatchdog(self):
        """``codeimport watchdog`` giving up after `STALE_AFTER` s."""
        settings = self.tmp_path / "watchdog.ini"
        settings.write_text(
            "[codeimport]\n"
            f"maximum_heartbeat_interval = {STALE_AFTER}\n"
            f"machine_heartbeat_limit = {STALE_AFTER}\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "watchdog",
             "--dsn", self.codeimport.dsn, "--interval", "0.2",
             "--settings-file", str(settings)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.watchdogs.append(proc)
        return proc

    def startServer(self, port=None):
        """A scheduler service of the test's own."""
        server = XMLRPCTestServer(self.codeimport.dsn, port=port)
        self.servers.append(server)
        return server

    def close(self):
        for dispatcher in self.dispatchers:
            if dispatcher.proc.poll() is None:
                dispatcher.signal(signal.SIGKILL)
                dispatcher.proc.wait()
        kill(processes_mentioning(str(self.tmp_path)))
        for proc in self.watchdogs:
            proc.terminate()
            proc.wait(TIMEOUT)
        for server in self.servers:
            server.close()
        self.git.close()
        self.codeimport.abort()

    # -- reading the database -------------------------------------------

    def refresh(self):
        """Start a new transaction, to see what the processes wrote."""
        self.codeimport.abort()

    def machine(self, hostname="importer-1"):
        self.refresh()
        return self.codeimport.utilities.machines.getByHostname(hostname)

    def state(self, hostname="importer-1"):
        machine = self.machine(hostname)
        return None if machine is None else machine.state.name

    def machineEvents(self, hostname="importer-1"):
        """(type, person, reason) of the machine's state changes, oldest
        first."""
        events = []
        for event in reversed(self.machine(hostname).events):
            if event.event_type.name not in MACHINE_EVENTS:
                continue
            data = dict(event.items())
            reason = data.get(CodeImportEventDataType.OFFLINE_REASON)
            person = None if event.person is None else event.person.name
            events.append((event.event_type.name, person, reason))
        return events

    def results(self, code_import):
        self.refresh()
        return [result.status.name for result in code_import.results]

    def importEvents(self, code_import, event_type):
        self.refresh()
        events = self.codeimport.utilities.events
        return [event for event in events.getEventsForCodeImport(code_import)
                if event.event_type.name == event_type]

    def job(self, code_import):
        self.refresh()
        return code_import.import_job

    def runningJob(self, code_import, hostname="importer-1"):
        """The import's job once it runs on `hostname` and has sent a
        heartbeat with output; None before."""
        job = self.job(code_import)
        if (job is not None and job.state == CodeImportJobState.RUNNING
                and job.machine.hostname == hostname and job.logtail):
            return job
        return None


@pytest.fixture
def scene(codeimport, codeimport_xmlrpc_server, tmp_path):
    scene = Scene(codeimport, codeimport_xmlrpc_server, tmp_path)
    yield scene
    scene.close()


@pytest.fixture
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_dispatcher_imports_a_git_repository(scene):
    code_import = scene.makeImport("alpha")
    dispatcher = scene.startDispatcher()

    wait_for(lambda: scene.results(code_import) == ["SUCCESS"],
             timeout=TIMEOUT)

    assert dispatcher.targetRefs(code_import) == code_import.source.refs()
    job = scene.job(code_import)
    assert job.state == CodeImportJobState.PENDING
    scene.refresh()
    assert code_import.date_last_successful is not None
    assert dispatcher.stop() == 0
    assert scene.machineEvents() == [
        ("ONLINE", None, None), ("OFFLINE", None, "STOPPED")]


def test_a_killed_worker_leaves_a_job_the_watchdog_reclaims(scene):
    code_import = scene.makeImport("beta")
    scene.git.gate.clear()
    dispatcher = scene.startDispatcher()
    job = wait_for(lambda: scene.runningJob(code_import), timeout=TIMEOUT)
    job_id = job.id

    # The monitor and its import worker die at once; the dispatcher
    # lives on.
    kill(dispatcher.monitorsAndWorkers())
    scene.startWatchdog()

    wait_for(lambda: "RECLAIMED" in scene.results(code_import),
             timeout=TIMEOUT)
    [reclaim] = scene.importEvents(code_import, "RECLAIM")
    data = dict(reclaim.items())
    assert data[CodeImportEventDataType.RECLAIMED_JOB_ID] == str(job_id)
    # The new job, due at once, runs again on the live machine.
    scene.git.gate.set()
    wait_for(lambda: scene.results(code_import)[0] == "SUCCESS",
             timeout=TIMEOUT)
    assert scene.results(code_import) == ["SUCCESS", "RECLAIMED"]
    assert scene.state() == "ONLINE"
    assert dispatcher.stop() == 0


def test_a_crashed_machine_goes_offline_and_its_jobs_are_reclaimed(scene):
    code_import = scene.makeImport("gamma")
    scene.git.gate.clear()
    dispatcher = scene.startDispatcher()
    job_id = wait_for(lambda: scene.runningJob(code_import),
                      timeout=TIMEOUT).id

    dispatcher.killMachine()
    scene.startWatchdog()

    wait_for(lambda: scene.state() == "OFFLINE", timeout=TIMEOUT)
    assert scene.machineEvents()[-1] == ("OFFLINE", None, "WATCHDOG")
    wait_for(lambda: scene.results(code_import) == ["RECLAIMED"],
             timeout=TIMEOUT)
    job = scene.job(code_import)
    assert job.id != job_id
    assert job.state == CodeImportJobState.PENDING


def test_a_scheduler_restart_mid_run_loses_no_job(scene):
    server = scene.startServer().start()
    code_import = scene.makeImport("delta")
    scene.git.gate.clear()
    dispatcher = scene.startDispatcher(url=server.scheduler_url)
    job_id = wait_for(lambda: scene.runningJob(code_import),
                      timeout=TIMEOUT).id

    server.stop()
    wait_for(lambda: "Cannot get a job" in dispatcher.log(),
             timeout=TIMEOUT)
    server.start()
    scene.git.gate.set()

    wait_for(lambda: scene.results(code_import) == ["SUCCESS"],
             timeout=TIMEOUT)
    assert dispatcher.targetRefs(code_import) == code_import.source.refs()
    assert scene.importEvents(code_import, "RECLAIM") == []
    assert scene.job(code_import).id != job_id
    assert scene.state() == "ONLINE"
    assert dispatcher.stop() == 0


def test_a_dispatcher_started_before_the_scheduler_brings_its_machine_online(
        scene, free_port):
    machine = scene.codeimport.factory.makeCodeImportMachine(
        "importer-1", set_online=True)
    machine.setOffline(_Reason.STOPPED)
    code_import = scene.makeImport("epsilon")
    server = scene.startServer(port=free_port)
    dispatcher = scene.startDispatcher(url=server.scheduler_url)
    wait_for(lambda: dispatcher.log().count("Cannot mark importer-1 ONLINE")
             >= 2, timeout=TIMEOUT)

    server.start()

    wait_for(lambda: scene.results(code_import) == ["SUCCESS"],
             timeout=TIMEOUT)
    assert scene.machineEvents() == [
        ("ONLINE", None, None), ("OFFLINE", None, "STOPPED"),
        ("ONLINE", None, None)]
    assert dispatcher.stop() == 0


def test_a_full_machine_keeps_polling_and_undoes_a_watchdog_offline(scene):
    first = scene.makeImport("zeta")
    scene.git.gate.clear()
    dispatcher = scene.startDispatcher(max_jobs=1)
    wait_for(lambda: scene.runningJob(first), timeout=TIMEOUT)

    # Full, it still polls: the machine's heartbeat moves on.
    beat = scene.machine().heartbeat
    wait_for(lambda: scene.machine().heartbeat > beat, timeout=TIMEOUT)

    # The watchdog took it offline (as if the dispatcher had been
    # suspended for a while): the dispatcher brings it back.
    scene.machine().setOffline(_Reason.WATCHDOG)
    scene.codeimport.commit()
    wait_for(lambda: scene.state() == "ONLINE", timeout=TIMEOUT)
    assert scene.machineEvents()[-2:] == [
        ("OFFLINE", None, "WATCHDOG"), ("ONLINE", None, None)]
    assert "marking it ONLINE again" in dispatcher.log()

    # An operator's offline is obeyed (the running job finishes, no new
    # one starts) until the operator sets the machine online again.
    scene.machine().setOffline(_Reason.STOPPED, scene.operator)
    scene.codeimport.commit()
    wait_for(lambda: "is OFFLINE (STOPPED)" in dispatcher.log(),
             timeout=TIMEOUT)
    second = scene.makeImport("eta")
    scene.git.gate.set()
    wait_for(lambda: scene.results(first) == ["SUCCESS"], timeout=TIMEOUT)
    assert scene.state() == "OFFLINE"
    assert scene.job(second).state == CodeImportJobState.PENDING
    scene.machine().setOnline(scene.operator)
    scene.codeimport.commit()
    wait_for(lambda: scene.results(second) == ["SUCCESS"], timeout=TIMEOUT)
    assert scene.machineEvents()[-2:] == [
        ("OFFLINE", "operator", "STOPPED"), ("ONLINE", "operator", None)]
    assert dispatcher.stop() == 0


def test_sigusr1_quiesces_through_the_scheduler(scene):
    dispatcher = scene.startDispatcher()
    wait_for(lambda: scene.state() == "ONLINE", timeout=TIMEOUT)

    dispatcher.signal(signal.SIGUSR1)

    assert dispatcher.wait() == 0
    assert scene.machineEvents() == [
        ("ONLINE", None, None), ("QUIESCE", None, None),
        ("OFFLINE", None, "QUIESCED")]


def test_an_operators_quiesce_lets_the_running_job_finish_then_exits(scene):
    first = scene.makeImport("theta")
    scene.git.gate.clear()
    dispatcher = scene.startDispatcher()
    wait_for(lambda: scene.runningJob(first), timeout=TIMEOUT)

    scene.machine().setQuiescing(scene.operator, "maintenance")
    scene.codeimport.commit()
    wait_for(lambda: "set QUIESCING by an operator" in dispatcher.log(),
             timeout=TIMEOUT)
    second = scene.makeImport("iota")
    scene.git.gate.set()

    assert dispatcher.wait() == 0
    assert scene.results(first) == ["SUCCESS"]
    assert scene.job(second).state == CodeImportJobState.PENDING
    assert scene.machineEvents()[-2:] == [
        ("QUIESCE", "operator", None), ("OFFLINE", None, "QUIESCED")]


def test_sigterm_hands_the_running_job_back(scene):
    code_import = scene.makeImport("kappa")
    scene.git.gate.clear()
    dispatcher = scene.startDispatcher()
    job_id = wait_for(lambda: scene.runningJob(code_import),
                      timeout=TIMEOUT).id

    assert dispatcher.stop() == 0

    assert scene.results(code_import) == ["RECLAIMED"]
    job = scene.job(code_import)
    assert job.id != job_id
    assert job.state == CodeImportJobState.PENDING
    assert code_import.review_status == CodeImportReviewStatus.REVIEWED
    assert scene.machineEvents()[-1] == ("OFFLINE", None, "STOPPED")
    assert dispatcher.monitorsAndWorkers() == []
