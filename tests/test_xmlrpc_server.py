"""``codeimport serve`` over real sockets: auth, hostile input, concurrency,
shutdown and configuration errors."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import xmlrpc.client

import pytest

from codeimport.enums import BranchType
from codeimport.enums import CodeImportResultStatus
from codeimport.errors import NoSuchCodeImportJob
from codeimport.scripts import serve
from codeimport.testing.server import XMLRPCTestServer
from codeimport.wire.client import SchedulerClient


@pytest.fixture
def server(codeimport_xmlrpc_server):
    return codeimport_xmlrpc_server


def post(server, path, body, *, auth=True, headers=None):
    """POST `body` with http.client; return (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port,
                                            timeout=10)
    all_headers = {"Content-Type": "text/xml"}
    if auth:
        token = base64.b64encode(
            f"{server.user}:{server.secret}".encode()).decode()
        all_headers["Authorization"] = f"Basic {token}"
    all_headers.update(headers or {})
    try:
        connection.request("POST", path, body, all_headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def raw_exchange(server, data: bytes) -> bytes:
    """Send raw bytes and return whatever the server answers."""
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except (socket.timeout, ConnectionResetError):
            pass
        return b"".join(chunks)


def fault_code(status_and_body):
    status, body = status_and_body
    assert status == 200, body
    with pytest.raises(xmlrpc.client.Fault) as info:
        xmlrpc.client.loads(body)
    return info.value.faultCode


def still_serves(server) -> None:
    proxy = xmlrpc.client.ServerProxy(server.scheduler_url)
    assert proxy.setMachineOnline("still-here") == 0
    assert proxy.getMachineState("still-here") == "ONLINE"


def test_calls_without_credentials_get_401_and_change_nothing(
        codeimport, server):
    for url in (server.base_url + "/codeimportscheduler",
                server.url("/codeimportscheduler", secret="wrong"),
                server.url("/authserver", user="intruder")):
        proxy = xmlrpc.client.ServerProxy(url)
        with pytest.raises(xmlrpc.client.ProtocolError) as info:
            proxy.getJobForMachine("sneaky", 1)
        assert info.value.errcode == 401
        # xmlrpc.client gives the headers as a dict: names as sent.
        headers = {k.lower(): v for k, v in info.value.headers.items()}
        assert headers["www-authenticate"].startswith("Basic")

    codeimport.abort()
    assert codeimport.utilities.machines.getByHostname("sneaky") is None


def test_hostile_requests_get_clean_answers_and_the_server_keeps_serving(
        codeimport, server):
    scheduler = "/codeimportscheduler"
    call = xmlrpc.client.dumps

    assert fault_code(post(server, scheduler, b"not xml")) == 910
    assert fault_code(post(server, scheduler, b"<methodCall>")) == 910
    assert fault_code(post(server, scheduler, b"<!DOCTYPE x [<!ENTITY "
                           b"a 'aaaa'>]><methodCall/>")) == 910
    assert fault_code(post(server, scheduler,
                           call((1, 2), "getJobForMachine"))) == 904
    assert fault_code(post(server, scheduler,
                           call(("host",), "getJobForMachine"))) == 904
    assert fault_code(post(server, scheduler, call((), "nope"))) == 905
    assert fault_code(post(server, "/authserver",
                           call(({"a": 1},), "startMirroring"))) == 904
    assert fault_code(post(server, scheduler, (
        b"<methodCall><methodName>updateHeartbeat</methodName><params>"
        b"<param><value><int>1099511627776</int></value></param><param>"
        b"<value>x</value></param></params></methodCall>"))) == 904
    deep = "<value><array><data>" * 5000 + "</data></array></value>" * 5000
    assert fault_code(post(server, scheduler, (
        "<methodCall><methodName>getMachineState</methodName><params>"
        f"<param>{deep}</param></params></methodCall>").encode())) == 904
    # A body over the limit (1 MiB for the test server) is refused: 413.
    status, _ = post(server, scheduler, b"x" * (2 * 1024 * 1024))
    assert status == 413
    status, _ = post(server, scheduler, b"", headers={
        "Content-Length": str(10**12)})
    assert status == 413
    # Not HTTP at all, and a client that leaves mid-body (one that
    # stalls: tests/test_http_service.py).
    assert raw_exchange(server, b"GARBAGE\r\n\r\n")[:12] in (
        b"HTTP/1.0 400", b"HTTP/1.1 400")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /authserver HTTP/1.1\r\nContent-Length: 50\r\n"
                     b"\r\n<met")

    still_serves(server)
    assert "Traceback" not in server.log()


def test_get_on_an_endpoint_is_405(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    token = base64.b64encode(
        f"{server.user}:{server.secret}".encode()).decode()
    connection.request("GET", "/authserver",
                       headers={"Authorization": f"Basic {token}"})
    response = connection.getresponse()
    assert (response.status, response.getheader("Allow")) == (405, "POST")
    connection.close()


def test_concurrent_machines_never_get_the_same_job(codeimport, server):
    jobs = {codeimport.factory.makeCodeImportJob().id for _ in range(6)}
    codeimport.commit()
    claimed, errors = [], []

    def worker(number):
        proxy = xmlrpc.client.ServerProxy(server.scheduler_url)
        try:
            while True:
                job_id = proxy.getJobForMachine(f"importer-{number}", 10)
                if not job_id:
                    return
                claimed.append(job_id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(claimed) == sorted(jobs)


def test_concurrent_pullers_never_get_the_same_branch(codeimport, server):
    branches = set()
    for _ in range(6):
        branch = codeimport.factory.makeBranch(
            branch_type=BranchType.MIRRORED)
        branch.requestMirror()
        branches.add(branch.id)
    codeimport.commit()
    taken = []

    def puller():
        proxy = xmlrpc.client.ServerProxy(server.authserver_url)
        while answer := proxy.acquireBranchToPull([]):
            taken.append(answer[0])

    threads = [threading.Thread(target=puller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(taken) == sorted(branches)


def test_a_whole_job_through_the_scheduler_client(codeimport, server):
    code_import = codeimport.factory.makeCodeImport()
    codeimport.commit()
    client = SchedulerClient(server.scheduler_url)

    job_id = client.getJobForMachine("importer", 1)
    data = client.getImportDataForJobID(job_id)
    client.updateHeartbeat(job_id, "working")
    client.finishJobID(job_id, "SUCCESS_NOCHANGE",
                       xmlrpc.client.Binary(b"nothing new\n"))

    assert data["arguments"][1:3] == ["git", "bzr"]
    with pytest.raises(NoSuchCodeImportJob):
        client.updateHeartbeat(job_id, "too late")
    codeimport.abort()
    [result] = code_import.results
    assert result.status == CodeImportResultStatus.SUCCESS_NOCHANGE
    assert result.log_file.read() == b"nothing new\n"


def test_sigterm_stops_the_service_cleanly(codeimport):
    own = XMLRPCTestServer(codeimport.dsn, threads=2).start()
    try:
        proxy = xmlrpc.client.ServerProxy(own.scheduler_url)
        assert proxy.getMachineState("x") == ""

        assert own.stop() == 0
        assert "codeimport serve stopped" in own.log()
        assert "Traceback" not in own.log()
    finally:
        own.close()


# configuration errors: one line on stderr, exit status 2

@pytest.fixture
def no_credentials(monkeypatch):
    monkeypatch.delenv("CODEIMPORT_XMLRPC_CREDENTIALS", raising=False)
    monkeypatch.delenv("CODEIMPORT_DSN", raising=False)


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_serve_without_a_dsn_exits_2(no_credentials, capsys):
    assert serve.main([]) == 2
    assert "--dsn or $CODEIMPORT_DSN" in one_line_error(capsys)


def test_serve_without_credentials_exits_2(codeimport, no_credentials,
                                           capsys):
    assert serve.main(["--dsn", codeimport.dsn]) == 2
    assert "No XML-RPC credentials" in one_line_error(capsys)


def test_serve_with_a_bad_settings_file_exits_2(
        codeimport, no_credentials, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CODEIMPORT_XMLRPC_CREDENTIALS", "a:b")
    settings = tmp_path / "settings.ini"
    settings.write_text("[codeimport]\nno_such_setting = 1\n")

    assert serve.main(["--dsn", codeimport.dsn, "--settings-file",
                       str(settings)]) == 2
    assert "Unknown setting 'no_such_setting'" in one_line_error(capsys)

    settings.write_text("not ini")
    assert serve.main(["--dsn", codeimport.dsn, "--settings-file",
                       str(settings)]) == 2
    assert "Cannot read the settings file" in one_line_error(capsys)


def test_serve_with_an_unreachable_database_exits_2(
        no_credentials, capsys, monkeypatch):
    monkeypatch.setenv("CODEIMPORT_XMLRPC_CREDENTIALS", "a:b")

    assert serve.main(["--dsn", "host=127.0.0.1 port=1 dbname=x"]) == 2
    assert "Cannot use the database" in one_line_error(capsys)


@pytest.mark.parametrize("bind, message", [
    ("no-such-host.invalid:80", "Cannot listen on"),
    ("127.0.0.1:http", "Bad --bind"),
    ("127.0.0.1:70000", "Bad --bind"),
])
def test_serve_with_a_bad_bind_exits_2(
        codeimport, no_credentials, capsys, monkeypatch, bind, message):
    monkeypatch.setenv("CODEIMPORT_XMLRPC_CREDENTIALS", "a:b")

    assert serve.main(["--dsn", codeimport.dsn, "--bind", bind]) == 2
    assert message in one_line_error(capsys)


def test_serve_with_bad_numbers_exits_2(no_credentials, capsys):
    assert serve.main(["--workers", "0"]) == 2
    assert "must be more than 0" in capsys.readouterr().err


def test_load_settings_reads_the_codeimport_section(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text("[codeimport]\nblacklisted_hostnames = a, b\n"
                    "maximum_heartbeat_interval = 60\n")

    settings = serve.load_settings(str(path))

    assert settings.blacklisted_hostnames == ("a", "b")
    assert settings.maximum_heartbeat_interval == 60
