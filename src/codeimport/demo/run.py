"""`make demo`: the whole system on one machine, as real processes.

A PostgreSQL database (embedded unless $CODEIMPORT_DSN names a server),
four source Git repositories made on the fly (one broken), one source of
every other kind this checkout imports, each behind its real server
(`codeimport.demo.kinds`: git daemon, svnserve ...), the XML-RPC
service, two import machines (dispatchers) sharing one target store, the
watchdog and the web interface.  Round one imports everything and checks
each target against its source; round two adds a commit to one source
and requests two imports (SUCCESS versus SUCCESS_NOCHANGE); then the
branch puller mirrors what the imports published.  It ends by printing
the web interface's address, and keeps everything running until Enter is
pressed when stdin is a terminal (or until interrupted, with
--keep-running).  Exits non-zero if anything went wrong, and leaves no
process behind.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings

from codeimport import database
from codeimport.demo.kinds import foreign_sources
from codeimport.demo.processes import Daemon
from codeimport.demo.processes import free_port
from codeimport.demo.processes import wait_for_http
from codeimport.demo.report import EventFeed
from codeimport.demo.report import results_table
from codeimport.demo.sources import add_commit
from codeimport.demo.sources import make_broken_source
from codeimport.demo.sources import make_source
from codeimport.demo.sources import refs_of
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus as Status
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportError
from codeimport.model.result import CodeImportResult
from codeimport.registration import build_utilities
from codeimport.settings import Settings
from codeimport.targetstore import target_path
from codeimport.testing import postgres

__all__ = ["main"]

ROUND_TIMEOUT = 120.0
SOURCES = {
    # project: (commits, branches, tags); None = broken
    "alpha": (3, ("stable",), ("v1.0",)),
    "beta": (2, (), ("v0.1",)),
    "gamma": (5, ("feature",), ()),
    "delta": None,
}


class DemoFailure(Exception):
    """Something the demo checks did not hold."""


def _say(text: str = "") -> None:
    print(text, flush=True)


#: The networks the demo's sources are on (its servers' addresses).
DEMO_SOURCE_NETWORKS = "127.0.0.0/8"


class Demo:
    def __init__(self, work: str, dsn: str):
        self.work = work
        self.dsn = dsn
        self.daemons = []
        self.store = database.make_store(dsn)
        # The demo's servers listen on loopback, an internal network
        # that only an explicit allowed_source_networks opens.
        self.settings = Settings(allowed_url_schemes=(
            "file", "git", "http", "https", "svn", "bzr"),
            allowed_source_networks=DEMO_SOURCE_NETWORKS)
        self.u = build_utilities(lambda: self.store, self.settings)
        self.feed = EventFeed(self.store, sys.stdout)
        self.sources = {}
        self.imports = {}
        self.foreign = {}
        self.target_store = os.path.join(work, "imports")
        os.makedirs(self.target_store)
        self.logs = os.path.join(work, "logs")
        os.makedirs(self.logs)

    # -- set-up ---------------------------------------------------------
    def register(self) -> None:
        team = self.u.persons.newTeam("vcs-imports")
        self.requester = self.u.persons.new("nora", "Nora Operator")
        self.u.persons.addMember(team, self.requester)
        # nora signs in to the web interface as an administrator too.
        self.u.persons.addMember(self.u.persons.newTeam("admins"),
                                 self.requester)
        for project, spec in SOURCES.items():
            path = os.path.join(self.work, "sources", project)
            if spec is None:
                url = make_broken_source(path)
            else:
                url = make_source(path, *spec)
            self.sources[project] = path
            code_import = self.u.code_imports.new(
                self.requester, project, "import",
                RevisionControlSystems.GIT, TargetRevisionControlSystems.GIT,
                url=url, owner=team)
            self.imports[project] = code_import.id
        for source in foreign_sources(self.work):
            self.foreign[source.project] = source
            code_import = self.u.code_imports.new(
                self.requester, source.project, "import", source.rcs_type,
                TargetRevisionControlSystems.GIT, url=source.url,
                cvs_root=source.cvs_root, cvs_module=source.cvs_module,
                owner=team)
            self.imports[source.project] = code_import.id
        self.store.commit()

    def start(self) -> str:
        port = free_port()
        secret = secrets.token_hex(8)
        env = {"CODEIMPORT_XMLRPC_CREDENTIALS": f"demo:{secret}",
               "CODEIMPORT_DSN": self.dsn}
        self.daemons.append(Daemon(
            "service", ["serve", "--dsn", self.dsn, "--bind",
                        f"127.0.0.1:{port}", "--workers", "1",
                        "--threads", "8"], self.logs, env))
        if not wait_for_http(f"http://127.0.0.1:{port}/healthz", 30):
            raise DemoFailure("the XML-RPC service did not start:\n"
                              + self.daemons[0].tail())
        base = f"http://demo:{secret}@127.0.0.1:{port}"
        self.metrics_url = (f"http://127.0.0.1:{port}/metrics",
                            ("demo", secret))
        self.authserver_url = f"{base}/authserver"
        url = f"{base}/codeimportscheduler"
        for hostname in ("importer-1", "importer-2"):
            self.daemons.append(Daemon(hostname, [
                "dispatch", "--scheduler-url", url, "--hostname", hostname,
                "--max-jobs", "2", "--poll-interval", "0.5",
                "--max-backoff", "1", "--heartbeat-interval", "2",
                # Let each dispatcher hand back its jobs before Daemon.stop
                # gives up on it.
                "--grace-period", "2", "--stop-timeout", "15",
                "--access-policy", "anything",
                "--target-store", self.target_store,
                "--log-dir", self.logs], self.logs))
        self.daemons.append(Daemon("watchdog", [
            "watchdog", "--dsn", self.dsn, "--interval", "2"],
            self.logs))
        self.start_web()
        return url

    def start_web(self) -> None:
        """The web interface, with nora's sign-in."""
        port = free_port()
        self.web_password = secrets.token_urlsafe(9)
        self.web_url = f"http://127.0.0.1:{port}/"
        self.daemons.append(Daemon("web", [
            "web", "--dsn", self.dsn, "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--threads", "4", "--access-log", "-"],
            self.logs, {"CODEIMPORT_WEB_CREDENTIALS":
                        f"nora:{self.web_password}"}))
        if not wait_for_http(self.web_url + "login", 30):
            raise DemoFailure("the web interface did not start:\n"
                              + self.daemons[-1].tail())

    def check_web(self) -> None:
        """The web interface lists every import."""
        with urllib.request.urlopen(self.web_url, timeout=10) as page:
            html = page.read().decode()
        missing = [p for p in self.imports
                   if f"~vcs-imports/{p}/import" not in html]
        if missing:
            raise DemoFailure(f"the web interface does not list {missing}")
        self.check_metrics()
        _say(f"\nThe web interface is at {self.web_url} (sign in as nora, "
             f"password {self.web_password}): every import, its history, "
             "chart and logs; the machines; the operators' buttons.")

    def check_metrics(self) -> None:
        """The service's metrics count the results the database holds."""
        from prometheus_client.parser import text_string_to_metric_families

        url, (user, secret) = self.metrics_url
        request = urllib.request.Request(url)
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as reply:
            text = reply.read().decode()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples}
        results = {labels[0][1]: int(v) for (name, labels), v in
                   samples.items() if name == "codeimport_results_total"
                   and v}
        claims = int(samples.get(("codeimport_xmlrpc_call_seconds_count", (
            ("method", "getJobForMachine"),)), 0))
        self.store.rollback()
        expected = {Status.items[status].name: count for status, count in
                    self.store.execute(
                        "SELECT status, count(*) FROM codeimportresult"
                        " GROUP BY status")}
        if results != expected:
            raise DemoFailure(f"the metrics count {results}, not {expected}")
        _say(f"\nMetrics ({url}, with the service's credentials): results "
             + ", ".join(f"{k} {v}" for k, v in sorted(results.items()))
             + f"; {claims} getJobForMachine calls timed.")

    def keep_running(self, forced: bool) -> None:
        """Leave everything up until the user presses Enter (on a
        terminal) or, with --keep-running, until interrupted."""
        if sys.stdin.isatty():
            _say("Press Enter to stop the demo.")
            try:
                sys.stdin.readline()
            except KeyboardInterrupt:
                pass
        elif forced:
            _say("Running until interrupted (Ctrl-C or SIGTERM).")
            stop = {signal.SIGINT, signal.SIGTERM}
            # Blocked, the signals wait for sigwait instead of ending the
            # process before the daemons are stopped.
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)
            try:
                signal.sigwait(stop)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop)

    # -- rounds ---------------------------------------------------------
    def results_after(self, last_ids):
        rows = {}
        for project, import_id in self.imports.items():
            result = self.store.find(
                CodeImportResult, CodeImportResult.code_import_id == import_id,
                CodeImportResult.id > last_ids.get(project, 0),
            ).order_by(CodeImportResult.id).last()
            if result is not None:
                rows[project] = result
        return rows

    def wait_for(self, projects, last_ids) -> dict:
        deadline = time.monotonic() + ROUND_TIMEOUT
        while time.monotonic() < deadline:
            self.store.rollback()
            self.feed.poll()
            for daemon in self.daemons:
                if not daemon.alive():
                    raise DemoFailure(
                        f"{daemon.label} exited early:\n{daemon.tail()}")
            done = self.results_after(last_ids)
            if set(projects) <= set(done):
                return done
            time.sleep(0.3)
        raise DemoFailure(f"no result for {sorted(set(projects) - set(done))}"
                          f" after {ROUND_TIMEOUT:.0f} s")

    def check_round(self, title, results, expected) -> None:
        rows, problems = [], []
        for project, result in sorted(results.items()):
            target = target_path(self.target_store,
                                 f"~vcs-imports/{project}/import")
            match = "-"
            if result.status not in (Status.SUCCESS,
                                     Status.SUCCESS_NOCHANGE):
                pass
            elif project in self.foreign:
                match = self.foreign[project].check(target)
                if match != "matches source":
                    problems.append(f"{project}: {match}")
            else:
                same = refs_of(target) == refs_of(self.sources[project])
                match = "refs match source" if same else "REFS DIFFER"
                if not same:
                    problems.append(f"{project}: target differs from source")
            seconds = result.job_duration.total_seconds()
            rows.append((f"~vcs-imports/{project}/import",
                         result.status.name, f"{seconds:.1f}s", match))
            if result.status != expected[project]:
                problems.append(f"{project}: {result.status.name}, expected "
                                f"{expected[project].name}")
        _say(f"\n{title}\n" + results_table(rows))
        if problems:
            raise DemoFailure("; ".join(problems))

    def last_result_ids(self) -> dict:
        return {p: r.id for p, r in self.results_after({}).items()}

    def request(self, project) -> None:
        code_import = self.u.code_imports.get(self.imports[project])
        code_import.requestImport(self.requester)
        self.store.commit()

    def pull_mirrors(self) -> None:
        """Run the branch puller once; check what it mirrored."""
        mirrors = os.path.join(self.work, "mirrors")
        os.makedirs(mirrors)
        puller = subprocess.run(
            [sys.executable, "-m", "codeimport.cli", "puller",
             "--mirror-store", mirrors, "--import-store", self.target_store],
            env={**os.environ, "CODEIMPORT_AUTHSERVER_URL":
                 self.authserver_url},
            capture_output=True, text=True, timeout=ROUND_TIMEOUT)
        if puller.returncode != 0:
            raise DemoFailure(f"the puller failed: {puller.stderr.strip()}")
        self.store.rollback()
        rows, problems = [], []
        for project in sorted(self.imports):
            branch = self.u.branches.getByUniqueName(
                f"~vcs-imports/{project}/import")
            if branch.last_mirrored is None:
                rows.append((branch.unique_name, "not mirrored", "",
                             (branch.mirror_status_message or "-")[:40]))
                if project != "delta":
                    problems.append(f"{project} was not mirrored")
                continue
            name = branch.unique_name
            same = (refs_of(target_path(mirrors, name))
                    == refs_of(target_path(self.target_store, name)))
            rows.append((name, "mirrored", branch.last_mirrored_id[:12],
                         "refs match import" if same else "REFS DIFFER"))
            if not same:
                problems.append(f"{project}: mirror differs from import")
        _say("\nThe branch puller mirrors every successful import:\n"
             + results_table(rows, ("branch", "mirror", "tip", "check")))
        if problems:
            raise DemoFailure("; ".join(problems) + "\n" + puller.stdout
                              + puller.stderr)

    def stop(self) -> None:
        _say("\nStopping the machines, the watchdog and the service ...")
        for daemon in reversed(self.daemons):
            daemon.stop()
        for source in self.foreign.values():
            source.close()
        self.store.rollback()
        self.feed.poll()
        states = {m.hostname: m.state for m in self.u.machines.getAll()}
        offline = all(s == CodeImportMachineState.OFFLINE
                      for s in states.values())
        if not offline:
            raise DemoFailure(f"machines still online: {states}")


def _run(work: str, dsn: str, keep_running: bool = False) -> None:
    demo = Demo(work, dsn)
    try:
        demo.register()
        kinds = "".join(f", {source.label} ({source.project})"
                        for source in demo.foreign.values())
        _say(f"Registered {len(demo.imports)} imports: Git from local "
             f"repositories (delta's source is broken){kinds}."
             "\nStarting the service, two import machines and the "
             "watchdog; the audit trail as it happens:\n")
        demo.start()
        first = demo.wait_for(demo.imports, {})
        demo.check_round("Round 1: every import ran once", first, {
            "alpha": Status.SUCCESS, "beta": Status.SUCCESS,
            "gamma": Status.SUCCESS, "delta": Status.FAILURE_INVALID,
            **{project: Status.SUCCESS for project in demo.foreign}})
        _say("\nRound 2: a new commit in alpha; alpha and beta are "
             "requested by nora.\n")
        before = demo.last_result_ids()
        add_commit(demo.sources["alpha"], "Change for round two")
        demo.request("alpha")
        demo.request("beta")
        second = demo.wait_for(("alpha", "beta"), before)
        demo.check_round("Round 2 results", second, {
            "alpha": Status.SUCCESS, "beta": Status.SUCCESS_NOCHANGE})
        demo.pull_mirrors()
        demo.check_web()
        demo.keep_running(keep_running)
    finally:
        demo.stop()
        demo.store.close()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    keep_running = "--keep-running" in argv
    unknown = [a for a in argv if a != "--keep-running"]
    if unknown:
        print(f"demo: unknown argument {unknown[0]!r} (the one option is "
              "--keep-running)", file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    try:
        server = postgres.find_server(os.environ.get("CODEIMPORT_DSN"),
                                      allow_local=False)
    except CodeImportError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    name = f"codeimport_demo_{os.getpid()}"
    work = tempfile.mkdtemp(prefix="codeimport-demo-")
    _say(f"codeimport demo: PostgreSQL ({server.origin}), database {name},"
         f" files in {work}")
    started = time.monotonic()
    try:
        dsn = postgres.create_database(server, name)
        database.install(dsn)
        _run(work, dsn, keep_running)
    except DemoFailure as error:
        print(f"\ndemo FAILED: {error}\n(logs kept in {work}/logs)",
              file=sys.stderr)
        return 1
    finally:
        postgres.drop_database(server, name)
        server.close()
    shutil.rmtree(work, ignore_errors=True)
    _say(f"\nDemo finished in {time.monotonic() - started:.0f} s: "
         "all checks passed, no process left behind.")
    return 0
