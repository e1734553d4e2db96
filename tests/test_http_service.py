"""The HTTP front end of ``codeimport serve`` and ``codeimport web``
(`codeimport.scripts.httpserver`) against clients that stall, send too
much or find the port taken, over real sockets."""

from __future__ import annotations

import base64
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client

import psutil
import pytest
from scripthelpers import call

from codeimport.scripts import serve
from codeimport.scripts import web
from codeimport.testing.server import XMLRPCTestServer

#: Every real call below must be answered within this (a failure guard,
#: not a measurement: calls answer in milliseconds).
ANSWER_TIMEOUT = 20


class TimeoutTransport(xmlrpc.client.Transport):
    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = ANSWER_TIMEOUT
        return connection


def proxy(url):
    return xmlrpc.client.ServerProxy(url, transport=TimeoutTransport())


def healthz(server) -> int:
    with urllib.request.urlopen(server.healthz_url,
                                timeout=ANSWER_TIMEOUT) as reply:
        return reply.status


def still_open(sock: socket.socket) -> bool:
    """Whether the server has left `sock` open (nothing to read, no
    end of stream)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


@pytest.fixture
def slow_server(codeimport):
    """A service with as few threads as can be, and deadlines long enough
    that the slow clients below are held for the whole test."""
    server = XMLRPCTestServer(codeimport.dsn, threads=2, extra_args=[
        "--header-timeout", "120", "--request-timeout", "120"]).start()
    yield server
    server.close()


def test_slow_clients_hold_no_thread(slow_server):
    """64 connections trickling header lines or body bytes, 32 times the
    service's threads, while real calls and /healthz keep answering."""
    server = slow_server
    token = base64.b64encode(
        f"{server.user}:{server.secret}".encode()).decode()
    slow = []
    try:
        for number in range(64):
            sock = socket.create_connection(("127.0.0.1", server.port),
                                            timeout=ANSWER_TIMEOUT)
            slow.append(sock)
            if number % 2:
                # Headers complete, the body trickles.
                sock.sendall(
                    f"POST /codeimportscheduler HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Basic {token}\r\n"
                    "Content-Length: 100000\r\n\r\n<methodCall>".encode())
            else:
                # No credentials, and headers that never end.
                sock.sendall(b"POST /codeimportscheduler HTTP/1.1\r\n"
                             b"Host: x\r\n")
        scheduler = proxy(server.scheduler_url)
        for round in range(3):
            for number, sock in enumerate(slow):
                sock.sendall(f"X-Slow-{round}: y\r\n".encode()
                             if number % 2 == 0 else b"<value>")
            for call_number in range(4):
                host = f"machine-{round}-{call_number}"
                assert scheduler.setMachineOnline(host) == 0
                assert scheduler.getMachineState(host) == "ONLINE"
            assert healthz(server) == 200
        # The slow clients were really held all along.
        assert all(still_open(sock) for sock in slow)
    finally:
        for sock in slow:
            sock.close()


@pytest.fixture
def quick_deadlines(codeimport):
    server = XMLRPCTestServer(codeimport.dsn, threads=2, extra_args=[
        "--header-timeout", "1", "--request-timeout", "1"]).start()
    yield server
    server.close()


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_stalled_header_is_answered_408_and_closed(quick_deadlines):
    server = quick_deadlines
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=ANSWER_TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /codeimportscheduler HTTP/1.1\r\nHost: x\r\n")
        answer = read_until_closed(sock)
        waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close" in answer
    assert answer.endswith(b"The request headers arrived too slowly.\n")
    assert waited >= 1.0  # not before the deadline
    assert "408 for 127.0.0.1: The request headers" in server.log()
    assert healthz(server) == 200


def test_a_stalled_body_is_answered_408_and_closed(quick_deadlines):
    server = quick_deadlines
    token = base64.b64encode(
        f"{server.user}:{server.secret}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall((
            "POST /codeimportscheduler HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Basic {token}\r\n"
            "Content-Length: 100\r\n\r\n<methodCall>").encode())
        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"The request body arrived too slowly.\n")


def test_a_trickled_header_is_closed_at_its_deadline(quick_deadlines):
    """Activity does not extend the deadline: a header line every tenth
    of a second is still cut off."""
    server = quick_deadlines
    answer, ended = b"", False
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        sock.settimeout(0.1)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not ended and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
                answer += chunk
                ended = not chunk
            except TimeoutError:
                try:
                    sock.sendall(b"X-Slow: y\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    ended = True
            except ConnectionResetError:
                # Lines sent after the server stopped reading make its
                # close a reset, which may overtake the 408.
                ended = True
    assert ended
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    assert "The request headers arrived too slowly" in server.log()


def test_a_silent_connection_is_closed(quick_deadlines):
    with socket.create_connection(("127.0.0.1", quick_deadlines.port),
                                  timeout=ANSWER_TIMEOUT) as sock:
        assert read_until_closed(sock) == b""


def test_a_body_over_the_limit_gets_a_413_the_client_can_read(
        codeimport_xmlrpc_server):
    """The client sends all of it and reads the answer (the test server's
    limit is 1 MiB): no broken pipe."""
    scheduler = proxy(codeimport_xmlrpc_server.scheduler_url)
    for size in (2 * 1024 * 1024, 24 * 1024 * 1024):
        with pytest.raises(xmlrpc.client.ProtocolError) as info:
            scheduler.updateHeartbeat(1, "x" * size)
        assert info.value.errcode == 413
    assert scheduler.getMachineState("after") == ""


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def test_memory_returns_to_idle_after_large_calls(codeimport):
    """After calls of 20 MB the service comes back near its idle size
    (the memory is handed back just after each answer is sent)."""
    megabyte = 1024 * 1024
    server = XMLRPCTestServer(codeimport.dsn, threads=4,
                              max_request_bytes=64 * megabyte).start()
    try:
        scheduler = proxy(server.scheduler_url)
        for _ in range(4):
            scheduler.getMachineState("warm-up")
        idle = rss(server.pid)
        for number in range(6):
            with pytest.raises(xmlrpc.client.Fault):
                scheduler.getMachineState(str(number) * (20 * megabyte))
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while (after := rss(server.pid)) >= idle + 20 * megabyte:
            assert time.monotonic() < deadline, (
                f"RSS idle {idle // megabyte} MB, after the calls "
                f"{after // megabyte} MB")
            time.sleep(0.05)
    finally:
        server.close()


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_on_a_port_in_use_exits_2(codeimport, taken_port, capsys,
                                        monkeypatch):
    monkeypatch.setenv("CODEIMPORT_XMLRPC_CREDENTIALS", "a:b")
    ran = call(serve.main, "--dsn", codeimport.dsn, "--bind",
               f"127.0.0.1:{taken_port}", capsys=capsys)

    assert ran.returncode == 2
    assert ran.stderr == (
        f"codeimport serve: Cannot listen on 127.0.0.1:{taken_port}: the "
        "address is already in use.\n")


def test_web_on_a_port_in_use_exits_2(codeimport, taken_port, capsys,
                                      monkeypatch):
    monkeypatch.setenv("CODEIMPORT_WEB_CREDENTIALS", "nora:secret")
    ran = call(web.main, "--dsn", codeimport.dsn, "--bind",
               f"127.0.0.1:{taken_port}", capsys=capsys)

    assert ran.returncode == 2
    assert ran.stderr == (
        f"codeimport web: Cannot listen on 127.0.0.1:{taken_port}: the "
        "address is already in use.\n")


def test_listen_names_the_problem():
    from codeimport.errors import ConfigurationError
    from codeimport.scripts.httpserver import listen

    with pytest.raises(ConfigurationError, match="Cannot listen on "
                       "192.0.2.1:80: Cannot assign requested address"):
        listen("192.0.2.1:80")


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_worker_process_that_dies_is_replaced(codeimport):
    server = XMLRPCTestServer(codeimport.dsn,
                              extra_args=["--workers", "2"]).start()
    try:
        supervisor = psutil.Process(server.pid)
        first = {child.pid for child in supervisor.children()}
        assert len(first) == 2
        victim = min(first)
        psutil.Process(victim).kill()
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            now = {child.pid for child in supervisor.children()
                   if _alive(child)}
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.05)
        scheduler = proxy(server.scheduler_url)
        for number in range(6):
            assert scheduler.getMachineState(f"m{number}") == ""
        assert healthz(server) == 200
        assert "exited (-9); starting another" in server.log()
        assert server.stop() == 0
        assert not any(psutil.pid_exists(pid) for pid in now)
    finally:
        server.close()


def logout_redirect(port: int, headers: dict) -> str:
    """Where ``codeimport web`` sends a browser after signing out."""
    connection = http.client.HTTPConnection("127.0.0.1", port,
                                            timeout=ANSWER_TIMEOUT)
    try:
        connection.request("GET", "/login", headers=headers)
        reply = connection.getresponse()
        page = reply.read().decode()
        cookie = reply.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          page).group(1)
        connection.request(
            "POST", "/logout", body=f"csrf_token={token}",
            headers={**headers, "Cookie": cookie, "Content-Type":
                     "application/x-www-form-urlencoded"})
        reply = connection.getresponse()
        reply.read()
        assert reply.status == 303
        return reply.getheader("Location")
    finally:
        connection.close()


def test_web_keeps_the_same_deadlines(codeimport, tmp_path):
    """``codeimport web`` runs on the same front end: a stalled header
    gets its 408 there too."""
    log_path = tmp_path / "web.log"
    env = dict(os.environ, CODEIMPORT_WEB_CREDENTIALS="nora:secret")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "web", "--dsn",
             codeimport.dsn, "--bind", "127.0.0.1:0", "--workers", "1",
             "--header-timeout", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env)
    try:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not (match := re.search(r"Listening at: http://127\.0\.0\.1:"
                                      r"(\d+)", log_path.read_text())):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        port = int(match.group(1))
        with socket.create_connection(("127.0.0.1", port),
                                      timeout=ANSWER_TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        # Behind a TLS proxy on this machine, redirects stay https.
        assert logout_redirect(port, {
            "X-Forwarded-Proto": "https",
            # Pyramid checks the origin of a form sent over https.
            "Origin": f"https://127.0.0.1:{port}"}) == (
                f"https://127.0.0.1:{port}/")
        assert logout_redirect(port, {}) == f"http://127.0.0.1:{port}/"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(ANSWER_TIMEOUT) == 0


def test_serve_on_a_unix_socket_removes_it_at_the_end(codeimport, tmp_path):
    path = tmp_path / "serve.sock"
    log_path = tmp_path / "serve.log"
    env = dict(os.environ, CODEIMPORT_XMLRPC_CREDENTIALS="a:b")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "serve", "--dsn",
             codeimport.dsn, "--bind", f"unix:{path}", "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env)
    try:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while "Listening at: unix:" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(ANSWER_TIMEOUT)
            sock.connect(str(path))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(ANSWER_TIMEOUT) == 0
    assert not path.exists()


def test_the_access_log_escapes_what_clients_send(codeimport_xmlrpc_server):
    """A path (decoded from %-escapes) and a header (bytes past ASCII)
    cannot write control or bidi characters, or quotes, into the log."""
    server = codeimport_xmlrpc_server
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(b"GET /%1b[31m%22x HTTP/1.1\r\nHost: x\r\n"
                     b"User-Agent: evil\xe2\x80\xae\r\n"
                     b"Connection: close\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 401")
    [line] = [line for line in server.log().splitlines()
              if "evil" in line]
    assert '"GET /\\x1b[31m\\x22x HTTP/1.1" 401' in line
    # Headers are read as Latin-1: U+202E's bytes are "â", a C1 control
    # (escaped) and "®".
    assert line.endswith('"evil\u00e2\\x80\u00ae"')
    assert "\x1b" not in line and "\x80" not in line


def test_calls_in_turn_keep_few_threads_and_connections(codeimport):
    """One client calling in turn is served by the thread that went idle
    last, so the service does not open a connection per thread (a
    thread still finishing its last call may let another take one)."""
    server = XMLRPCTestServer(codeimport.dsn, threads=16).start()
    try:
        scheduler = proxy(server.scheduler_url)
        for number in range(48):
            assert scheduler.getMachineState(f"m{number}") == ""
        codeimport.abort()
        [(connections,)] = codeimport.store.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database()"
            " AND application_name = 'codeimport-codeimportscheduler'")
    finally:
        server.close()
    assert 1 <= connections <= 4
