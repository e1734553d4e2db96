"""The worker's egress: every connection of every kind of import goes
through the address policy (`codeimport.worker.egress`,
`codeimport.addresses`), including the ones the programs choose
themselves (names, redirects), and a refusal is FAILURE_FORBIDDEN with
no internal detail.

The servers listen on loopback (127.0.0.1, sometimes 127.0.0.2 as the
"allowed" host); production refuses loopback unless
``allowed_source_networks`` allows it, so each test allows exactly what
it needs.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

import pytest
from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich.web import make_wsgi_chain

from codeimport import safegit
from codeimport.access import make_policy
from codeimport.addresses import AddressPolicy
from codeimport.addresses import ForbiddenAddress
from codeimport.exitcodes import WorkerExitCode
from codeimport.scripts.importworker import main
from codeimport.testing.vcs.git import GitDaemon
from codeimport.testing.vcs.git import git_refs
from codeimport.testing.vcs.git import make_history
from codeimport.worker.egress import EgressProxy
from codeimport.worker.egress import guard_sockets
from codeimport.worker.importworker import ImportContext
from codeimport.worker.importworker import ImportRequest
from codeimport.worker.importworker import run_import
from codeimport.worker.sources.cvsclient import CVSConnection
from codeimport.worker.sources.cvsclient import parse_cvsroot
from codeimport.worker.target import target_path

TARGET = "~owner/project/import"
LOOPBACK = "127.0.0.0/8"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(WSGIServer):
    daemon_threads = True

    def process_request(self, request, client_address):
        threading.Thread(target=self._one, args=(request, client_address),
                         daemon=True).start()

    def _one(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


class _IPv6Server(_ThreadingServer):
    address_family = socket.AF_INET6


class SmartHTTP:
    """Git repositories over smart HTTP (dulwich) on `host`."""

    def __init__(self, host="127.0.0.1"):
        self.repos = {}
        self.requests = 0
        app = make_wsgi_chain(DictBackend(self.repos))

        def counted(environ, start_response):
            self.requests += 1
            return app(environ, start_response)

        self._server = make_server(
            host, 0, counted,
            server_class=_IPv6Server if ":" in host else _ThreadingServer,
            handler_class=_Quiet)
        self.authority = (f"[{host}]" if ":" in host else host) + (
            f":{self._server.server_address[1]}")
        threading.Thread(target=self._server.serve_forever, args=(0.05,),
                         daemon=True).start()

    def serve(self, name, path) -> str:
        self.repos[f"/{name}"] = Repo(path)
        return f"http://{self.authority}/{name}"

    def close(self):
        self._server.shutdown()
        self._server.server_close()


class Redirector:
    """Answers every GET with a 302 to `base` + the same path."""

    def __init__(self, host, base):
        self.visits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.visits += 1
                self.send_response(302)
                self.send_header("Location", base + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,),
                         daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("source") / "project")
    make_history(path, commits=3, features=False)
    return path


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, repository):
    daemon = GitDaemon(os.path.dirname(repository)).start()
    yield daemon
    daemon.close()


@pytest.fixture
def smart_http(repository):
    server = SmartHTTP()
    server.serve("project", repository)
    yield server
    server.close()


def run_worker(store, url, *extra, networks=None, policy="default"):
    arguments = ["--access-policy", policy, "--target-store", str(store)]
    if networks is not None:
        arguments += ["--allowed-source-networks", networks]
    return main(arguments + ["--", TARGET, "git", "git", url, *extra])


# -- what the URL spells ------------------------------------------------


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1", "2130706433", "0x7f.1", "0177.0.0.1",
    "[::ffff:127.0.0.1]", "[::1]", "localhost", "LOCALHOST",
])
def test_git_daemon_on_loopback_is_refused_in_every_spelling(
        daemon, tmp_path, host, capsys):
    url = f"git://{host}:{daemon.port}/project"
    connections = daemon.connections
    assert run_worker(tmp_path, url) == WorkerExitCode.FAILURE_FORBIDDEN
    out = capsys.readouterr().out
    assert "may not read from" in out
    # Nothing reached the repository, and no address was named that the
    # URL did not name itself.
    assert daemon.connections == connections
    if "127.0.0.1" not in host:
        assert "127.0.0.1" not in out


def test_allowed_network_imports_through_the_proxy(daemon, tmp_path):
    url = f"git://127.1:{daemon.port}/project"
    connections = daemon.connections
    assert run_worker(tmp_path, url, networks="127.0.0.1/32") == (
        WorkerExitCode.SUCCESS)
    assert daemon.connections > connections
    assert git_refs(target_path(str(tmp_path), TARGET))


def test_excluded_address_is_refused_even_under_anything(daemon, tmp_path):
    url = f"git://localhost:{daemon.port}/project"
    assert run_worker(tmp_path, url, "--exclude-host", "2130706433",
                      policy="anything") == WorkerExitCode.FAILURE_FORBIDDEN


def test_anything_allows_every_address(daemon, tmp_path):
    url = f"git://localhost:{daemon.port}/project"
    assert run_worker(tmp_path, url, policy="anything") == (
        WorkerExitCode.SUCCESS)


# -- what the programs do themselves -----------------------------------


def test_git_http_redirect_to_a_refused_address_is_refused(
        smart_http, tmp_path, capsys):
    """127.0.0.2 is allowed and redirects to 127.0.0.1, which is not."""
    redirector = Redirector("127.0.0.2", f"http://{smart_http.authority}")
    try:
        code = run_worker(tmp_path, redirector.url + "/project",
                          networks="127.0.0.2/32")
    finally:
        redirector.close()
    assert code == WorkerExitCode.FAILURE_FORBIDDEN
    assert redirector.visits >= 1
    assert smart_http.requests == 0
    out = capsys.readouterr().out
    assert "(or a place it leads to)" in out
    assert smart_http.authority not in out


def test_git_http_redirect_to_an_allowed_address_is_followed(
        smart_http, tmp_path, repository):
    redirector = Redirector("127.0.0.2", f"http://{smart_http.authority}")
    try:
        code = run_worker(tmp_path, redirector.url + "/project",
                          networks=LOOPBACK)
    finally:
        redirector.close()
    assert code == WorkerExitCode.SUCCESS
    assert smart_http.requests > 0
    published = git_refs(target_path(str(tmp_path), TARGET))
    assert published["refs/heads/master"] == git_refs(repository)[
        "refs/heads/master"]


def test_ipv6_literal_source_imports_when_allowed(tmp_path, repository):
    """The brackets survive every step (the probe's IPv6 bug)."""
    try:
        server = SmartHTTP("::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        url = server.serve("project", repository)
        assert url.startswith("http://[::1]:")
        assert run_worker(tmp_path, url) == WorkerExitCode.FAILURE_FORBIDDEN
        assert run_worker(tmp_path, url, networks="::1/128") == (
            WorkerExitCode.SUCCESS)
    finally:
        server.close()


@pytest.mark.parametrize("source", ["daemon", "smart_http"])
def test_git_cannot_go_around_the_proxy(source, daemon, smart_http,
                                        tmp_path):
    """The URL check lets everything through (``anything``); only the
    proxy refuses, so git must have connected through it, for git:// (by
    GIT_PROXY_COMMAND) and for http (by http.proxy)."""
    url = (f"git://127.0.0.1:{daemon.port}/project" if source == "daemon"
           else f"http://{smart_http.authority}/project")
    before = (daemon.connections, smart_http.requests)
    git_dir = tmp_path / "mirror.git"
    safegit.run_tool(["git", "init", "-q", "--bare", str(git_dir)], env={
        "PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    with EgressProxy(AddressPolicy()) as proxy:
        env = dict(os.environ, **proxy.environment())
        with pytest.raises(safegit.GitSourceUnreadable):
            safegit.list_remote(str(git_dir), url, make_policy("anything"),
                                env)
        assert proxy.refused
    assert (daemon.connections, smart_http.requests) == before


def _strict_context(store, lines, policy="anything"):
    proxy = EgressProxy(AddressPolicy()).start()
    return proxy, ImportContext(
        make_policy(policy), str(store), lines.append,
        network_env=proxy.environment(), egress=proxy)


def _run_strict(store, rcs, url, **request):
    lines = []
    proxy, context = _strict_context(store, lines)
    try:
        code = run_import(ImportRequest(TARGET, rcs, "git", url, **request),
                          context)
    finally:
        proxy.close()
    return code, "".join(lines)


def test_hg_cannot_go_around_the_proxy(tmp_path):
    from codeimport.testing.vcs.hg import HgRepo
    from codeimport.testing.vcs.hg import HgServer

    repo = HgRepo(tmp_path / "served" / "repo")
    repo.commit("first", {"a": b"1\n"})
    with HgServer(tmp_path / "served") as server:
        code, log = _run_strict(tmp_path / "store", "hg",
                                server.urlFor("repo"))
    assert code == WorkerExitCode.FAILURE_FORBIDDEN, log
    assert "may not read from" in log


def test_svn_http_cannot_go_around_the_proxy_and_svn_is_resolved_once(
        tmp_path):
    """libsvn's http goes through the proxy; svn:// (no proxy) connects
    to the address the rule checked."""
    code, log = _run_strict(tmp_path / "store", "bzr-svn",
                            "http://127.0.0.1:9/repo")
    assert code == WorkerExitCode.FAILURE_FORBIDDEN, log
    code = main(["--access-policy", "default", "--target-store",
                 str(tmp_path / "store"), "--", TARGET, "bzr-svn", "git",
                 "svn://0x7f.1:9/repo"])
    assert code == WorkerExitCode.FAILURE_FORBIDDEN


def test_bzr_cannot_go_around_the_proxy(tmp_path):
    """Breezy's bzr:// has no proxy: the exporter's socket guard tunnels
    it through ours."""
    from codeimport.testing.vcs.bzr import BzrServer
    from codeimport.testing.vcs.bzr import build_history

    root = tmp_path / "served"
    root.mkdir()
    build_history(str(root / "trunk"), revisions=2, files=2)
    server = BzrServer(str(root))
    try:
        code, log = _run_strict(tmp_path / "store", "bzr",
                                server.url("trunk"))
    finally:
        server.close()
    assert code == WorkerExitCode.FAILURE_FORBIDDEN, log


def test_cvs_connects_only_to_a_checked_address(tmp_path):
    from codeimport.testing.vcs.cvs import CVSServer
    from codeimport.testing.vcs.cvs import make_root
    from codeimport.testing.vcs.cvs import remove_root

    root = make_root()
    with CVSServer(root) as server:
        cvsroot = server.cvsroot().replace("127.0.0.1", "localhost")
        with pytest.raises(ForbiddenAddress):
            CVSConnection(parse_cvsroot(cvsroot), {},
                          addresses=AddressPolicy())
        with CVSConnection(parse_cvsroot(cvsroot), {},
                           addresses=AddressPolicy(LOOPBACK)):
            pass
        code = main(["--access-policy", "default", "--target-store",
                     str(tmp_path / "store"), "--", TARGET, "cvs", "git",
                     cvsroot, "--cvs-module", "proj"])
    remove_root(root)
    assert code == WorkerExitCode.FAILURE_FORBIDDEN


# -- the proxy itself ---------------------------------------------------


def test_socket_guard_tunnels_every_connection(tmp_path):
    """What hg's and Breezy's exporters install: a direct connect is a
    CONNECT the proxy checks."""
    import subprocess
    import sys

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        code = ("import socket, sys\n"
                "from codeimport.worker.egress import guard_sockets\n"
                "assert guard_sockets()\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), 5)\n"
                "except ConnectionRefusedError as e:\n"
                "    print('refused:', e.strerror); sys.exit(0)\n"
                "sys.exit(1)\n")
        with EgressProxy(AddressPolicy()) as proxy:
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True,
                text=True, timeout=60,
                env=dict(os.environ, **proxy.environment()))
            assert proxy.refused
    assert done.returncode == 0, done.stderr
    assert "source address policy" in done.stdout
    assert guard_sockets(proxy="") is False


def test_proxy_forwards_plain_http_one_request_per_connection():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.path, self.headers.get("Connection")))
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,),
                     daemon=True).start()
    try:
        with EgressProxy(AddressPolicy(LOOPBACK)) as proxy:
            host, port = proxy.address.split(":")
            with socket.create_connection((host, int(port)), 10) as sock:
                sock.sendall(
                    f"GET http://127.0.0.1:{server.server_port}/a?b=1 "
                    "HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive"
                    "\r\n\r\n".encode())
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            assert not proxy.refused
    finally:
        server.shutdown()
        server.server_close()
    assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(
        b"HTTP/1.1 200")
    assert b"Connection: close" in answer and answer.endswith(b"hello")
    assert seen == [("/a?b=1", "close")]


@pytest.mark.parametrize("request_line,status", [
    (b"CONNECT 127.0.0.1:9 HTTP/1.1", b"403"),
    (b"GET http://10.0.0.1/ HTTP/1.1", b"403"),
    (b"GET ftp://example.com/ HTTP/1.1", b"400"),
    (b"garbage", b"400"),
])
def test_proxy_refuses_without_detail(request_line, status):
    with EgressProxy(AddressPolicy()) as proxy:
        host, port = proxy.address.split(":")
        with socket.create_connection((host, int(port)), 10) as sock:
            sock.sendall(request_line + b"\r\nHost: x\r\n\r\n")
            answer = sock.recv(4096)
    assert answer.split(b" ")[1] == status
    assert b"10.0.0" not in answer and b"127.0.0" not in answer


# -- end to end: the machine's setting ---------------------------------


def test_the_machine_setting_decides_end_to_end(
        codeimport, codeimport_xmlrpc_server, daemon, tmp_path):
    """Registration and the machine both allow loopback by default in the
    harness (its settings file); a machine that allows only 127.0.0.2
    refuses the same import with FAILURE_FORBIDDEN."""
    from codeimport.testing.endtoend import ImportHarness
    from codeimport.testing.endtoend import wait_for

    harness = ImportHarness(codeimport, tmp_path / "e2e",
                            server=codeimport_xmlrpc_server,
                            access_policy="default")
    try:
        code_import = harness.register(
            "git", f"git://127.0.0.1:{daemon.port}/project")
        assert harness.run(code_import).status == "SUCCESS"
        before = len(harness._results(code_import))
        harness.request(code_import)
        strict = harness.dispatcher(max_jobs=1, max_runs=1,
                                    allowed_source_networks="127.0.0.2/32")
        try:
            wait_for(lambda: len(harness._results(code_import)) > before)
        finally:
            strict.stop()
        run = harness.lastRun(code_import)
        assert run.status == "FAILURE_FORBIDDEN", run.log
        assert "may not read from" in run.log
    finally:
        harness.close()


def test_dispatch_refuses_a_bad_network_in_one_line(tmp_path):
    import subprocess
    import sys

    settings = tmp_path / "machine.ini"
    settings.write_text("[codeimport]\nallowed_source_networks = 10.0.0.0/33\n")
    for option in (["--allowed-source-networks", "10.0.0.0/33"],
                   ["--settings-file", str(settings)]):
        done = subprocess.run(
            [sys.executable, "-m", "codeimport.cli", "dispatch",
             "--scheduler-url", "http://u:p@127.0.0.1:9/x",
             "--target-store", str(tmp_path), *option],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "'10.0.0.0/33' is not a CIDR block" in done.stderr
        assert "Traceback" not in done.stderr


def test_git_follows_redirects_only_through_the_proxy_without_credentials():
    policy = make_policy("default")

    def settings(**kwargs):
        command = safegit.source_command("/t", policy, "fetch", **kwargs)
        return [command[i + 1] for i, word in enumerate(command)
                if word == "-c"]

    assert "http.followRedirects=false" in settings()
    through = settings(proxy="127.0.0.1:3128")
    assert "http.followRedirects=true" in through
    assert "http.proxy=http://127.0.0.1:3128" in through
    assert "http.followRedirects=false" in settings(
        proxy="127.0.0.1:3128", credential_helper="/x/helper")


def test_a_closed_proxy_stops_accepting():
    """Its accepting thread ends (one left behind would accept on
    whatever socket next reuses the listener's descriptor)."""
    proxy = EgressProxy(AddressPolicy()).start()
    proxy.close()
    assert not proxy._accepting.is_alive()
