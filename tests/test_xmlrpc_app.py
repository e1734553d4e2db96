"""The WSGI application, called in-process: HTTP rules and dispatch."""

from __future__ import annotations

import base64
import io
import logging
import socket
import xmlrpc.client

import pytest
from zope.interface import Interface

from codeimport.enums import CodeImportMachineState
from codeimport.wire import faults
from codeimport.xmlrpc.app import Endpoint
from codeimport.xmlrpc.app import XMLRPCApplication
from codeimport.xmlrpc.app import make_app
from codeimport.xmlrpc.auth import Credentials
from codeimport.xmlrpc.transactions import DatabaseUnavailable

AUTH = "Basic " + base64.b64encode(b"tester:secret").decode()
CREDENTIALS = Credentials({"tester": "secret"})


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.code = int(status.split()[0])
        self.headers = dict(headers)
        self.body = body

    def result(self):
        """The XML-RPC result (a fault is raised)."""
        assert self.code == 200, (self.status, self.body)
        assert self.headers["Content-Type"].startswith("text/xml")
        (value,), _ = xmlrpc.client.loads(self.body)
        return value

    def fault(self):
        with pytest.raises(xmlrpc.client.Fault) as info:
            self.result()
        return info.value


def call(app, body=b"", *, path="/codeimportscheduler", verb="POST",
         auth=AUTH, length=None, environ=None):
    env = {
        "REQUEST_METHOD": verb,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
    }
    if auth is not None:
        env["HTTP_AUTHORIZATION"] = auth
    env.update(environ or {})
    captured = []

    def start_response(status, headers, exc_info=None):
        captured.append((status, headers))

    chunks = app(env, start_response)
    body = b"".join(chunks)
    [(status, headers)] = captured
    assert int(headers_of(headers)["Content-Length"]) == len(body)
    return Reply(status, headers, body)


def headers_of(headers):
    return dict(headers)


def rpc(app, method, *params, **kwargs):
    return call(app, xmlrpc.client.dumps(params, method).encode(), **kwargs)


class IFake(Interface):
    def echo(value):
        """Return `value`."""

    def boom():
        """Fail with a bug."""

    def refuse():
        """Fail with a fault."""

    def busy():
        """The database stays unavailable."""


class FakeAPI:
    def echo(self, value):
        return value

    def boom(self):
        raise KeyError("a bug")

    def refuse(self):
        raise faults.NoSuchCodeImportJob(job_id=3)

    def busy(self):
        raise DatabaseUnavailable("gave up")


class FakeStore:
    def __init__(self):
        self.commits = self.rollbacks = 0

    def commit(self):
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1

    def execute(self, statement):
        raise DatabaseUnavailable("no database here")


class FakeStores:
    def __init__(self):
        self.store = FakeStore()
        self.closed = False

    def get(self):
        return self.store

    def close(self):
        self.closed = True


@pytest.fixture
def fake():
    stores = FakeStores()
    app = XMLRPCApplication(
        [Endpoint("/fake", FakeAPI(), IFake, stores)], CREDENTIALS,
        max_request_bytes=4096)
    app.store = stores.store
    return app


@pytest.fixture
def app(codeimport):
    app = make_app(codeimport.dsn, CREDENTIALS)
    yield app
    app.close()


# authentication and HTTP rules

@pytest.mark.parametrize("auth", [
    None, "Basic " + base64.b64encode(b"tester:wrong").decode(), "junk"])
@pytest.mark.parametrize("path", ["/fake", "/elsewhere", "/"])
def test_without_valid_credentials_the_answer_is_401(fake, auth, path):
    reply = rpc(fake, "echo", 1, path=path, auth=auth)

    assert reply.code == 401
    assert reply.headers["WWW-Authenticate"].startswith('Basic realm=')
    assert fake.store.commits == fake.store.rollbacks == 0


def test_an_unknown_path_is_404(fake):
    assert rpc(fake, "echo", 1, path="/nowhere").code == 404


def test_a_trailing_slash_is_accepted(fake):
    assert rpc(fake, "echo", 1, path="/fake/").result() == 1


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "HEAD"])
def test_other_methods_than_post_are_405(fake, verb):
    reply = call(fake, path="/fake", verb=verb)

    assert reply.code == 405
    assert reply.headers["Allow"] == "POST"


def test_a_body_without_a_length_is_411(fake):
    assert call(fake, b"<x/>", path="/fake", length="").code == 411


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_a_bad_length_is_400(fake, length):
    assert call(fake, b"<x/>", path="/fake", length=length).code == 400


def test_a_body_shorter_than_its_length_is_400(fake):
    assert call(fake, b"<x/>", path="/fake", length="100").code == 400


def test_a_body_over_the_limit_is_413_unread(fake):
    body = io.BytesIO(b"x" * 5000)
    reply = call(fake, path="/fake", length="5000",
                 environ={"wsgi.input": body})

    assert reply.code == 413
    assert body.tell() == 0


def test_a_chunked_body_is_read_up_to_the_limit(fake):
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked"}
    small = xmlrpc.client.dumps((7,), "echo").encode()

    assert call(fake, small, path="/fake", length="",
                environ=chunked).result() == 7
    assert call(fake, b"x" * 5000, path="/fake", length="",
                environ=chunked).code == 413


class StallingInput:
    def read(self, size):
        raise socket.timeout("timed out")


def test_a_body_timing_out_under_the_server_is_408(fake):
    reply = call(fake, path="/fake", length="10",
                 environ={"wsgi.input": StallingInput()})

    assert reply.code == 408


class BrokenInput:
    def read(self, size):
        raise ValueError("Invalid chunk size")


def test_an_unreadable_body_is_400(fake):
    reply = call(fake, path="/fake", length="10",
                 environ={"wsgi.input": BrokenInput()})

    assert reply.code == 400


# XML-RPC dispatch

@pytest.mark.parametrize("body", [
    b"", b"not xml at all", b"<methodCall><methodName>echo</methodName>",
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><methodCall>"
    b"<methodName>echo</methodName></methodCall>",
    xmlrpc.client.dumps((1,), methodresponse=True).encode(),
    b"<methodCall><methodName>echo</methodName><params><param><value>"
    b"<weird>1</weird></value></param></params></methodCall>",
    b"<methodCall><methodName>echo</methodName><params><param><value>"
    b"<int>one</int></value></param></params></methodCall>",
    b"\xff\xfe\x00<", b"<methodCall>\x00</methodCall>",
])
def test_a_malformed_call_is_fault_910(fake, body):
    fault = call(fake, body, path="/fake").fault()

    assert fault.faultCode == 910
    assert fake.store.commits == 0


def test_a_utf16_call_is_understood(fake):
    body = xmlrpc.client.dumps((5,), "echo").encode("utf-16")

    assert call(fake, body, path="/fake").result() == 5


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol%s;" % (n - 1 or "")) * 10}">'
              for n in range(1, 10))
    + ']>\n<methodCall><methodName>echo</methodName><params><param>'
    "<value>&lol9;</value></param></params></methodCall>")
XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM '
    '"file:///etc/passwd">]>\n<methodCall><methodName>echo</methodName>'
    "<params><param><value>&xxe;</value></param></params></methodCall>")


def _encoded(document: str, encoding: str) -> bytes:
    if encoding.endswith("-declared"):
        # The declaration names the encoding; the bytes follow it.
        codec = encoding[:-len("-declared")]
        document = document.replace(
            '<?xml version="1.0"?>',
            f'<?xml version="1.0" encoding="{codec}"?>')
        return document.encode(codec)
    return document.encode(encoding)


@pytest.mark.parametrize("encoding", [
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
    "utf-16-declared", "utf-16-le-declared", "iso-8859-1-declared",
    "utf-32", "utf-32-be"])
@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE],
                         ids=["billion-laughs", "xxe"])
def test_a_dtd_in_any_encoding_is_fault_910(fake, document, encoding):
    reply = call(fake, _encoded(document, encoding), path="/fake")

    assert reply.fault().faultCode == 910
    assert fake.store.commits == 0


def test_an_unknown_method_is_fault_905(fake):
    fault = rpc(fake, "__init__", path="/fake").fault()

    assert fault.faultCode == 905
    assert fault.faultString == "Unknown method: '__init__'"


@pytest.mark.parametrize("params", [(), (1, 2)])
def test_the_wrong_number_of_arguments_is_fault_904(fake, params):
    fault = rpc(fake, "echo", *params, path="/fake").fault()

    assert fault.faultCode == 904
    assert "echo takes 1 arguments (value)" in fault.faultString


def test_system_listMethods_lists_the_interface(fake):
    reply = rpc(fake, "system.listMethods", path="/fake")

    assert reply.result() == ["boom", "busy", "echo", "refuse"]


def test_a_result_is_committed_before_the_answer(fake):
    assert rpc(fake, "echo", [1, "two"], path="/fake").result() == [1, "two"]
    assert (fake.store.commits, fake.store.rollbacks) == (1, 0)


def test_a_fault_rolls_back(fake):
    fault = rpc(fake, "refuse", path="/fake").fault()

    assert fault.faultCode == 360
    assert (fake.store.commits, fake.store.rollbacks) == (0, 1)


def test_an_unmarshallable_result_is_an_internal_error(fake):
    # None cannot be sent without the nil extension.
    body = (b"<methodCall><methodName>echo</methodName><params><param>"
            b"<value><nil/></value></param></params></methodCall>")

    fault = call(fake, body, path="/fake").fault()

    assert fault.faultCode == 999
    assert fake.store.rollbacks == 1


def test_a_bug_is_fault_999_with_a_logged_reference(fake, caplog):
    with caplog.at_level(logging.ERROR, "codeimport.xmlrpc"):
        fault = rpc(fake, "boom", path="/fake").fault()

    assert fault.faultCode == 999
    reference = fault.faultString.split()[-1]
    assert f"internal error, reference {reference}" in caplog.text
    assert "KeyError" in caplog.text
    assert "Traceback" not in fault.faultString
    assert fake.store.rollbacks == 1


def test_an_unavailable_database_is_503(fake):
    reply = rpc(fake, "busy", path="/fake")

    assert reply.code == 503
    assert reply.headers["Retry-After"] == "5"


def test_close_closes_the_stores(fake):
    fake.close()

    assert fake.endpoints["/fake"].stores.closed


# /healthz

def test_healthz_needs_no_credentials_and_checks_the_database(app):
    reply = call(app, path="/healthz", verb="GET", auth=None)

    assert (reply.code, reply.body) == (200, b"ok\n")
    assert call(app, path="/healthz", verb="HEAD", auth=None).code == 200


def test_healthz_without_a_database_is_503(fake):
    reply = call(fake, path="/healthz", verb="GET", auth=None)

    assert reply.code == 503
    assert fake.store.rollbacks == 1


def test_a_database_that_cannot_be_reached_is_503_not_a_fault():
    """A thread's first connection failing (the server down, or out of
    connections) is a 503 to retry, for calls and /healthz alike."""
    unreachable = make_app(
        "host=127.0.0.1 port=1 dbname=x connect_timeout=2", CREDENTIALS)
    try:
        health = call(unreachable, path="/healthz", verb="GET", auth=None)
        reply = rpc(unreachable, "getMachineState", "m1")
    finally:
        unreachable.close()

    assert (health.code, health.body) == (503, b"database unavailable\n")
    assert reply.code == 503
    assert reply.headers["Retry-After"] == "5"


def test_healthz_only_answers_get(fake):
    reply = call(fake, path="/healthz", verb="POST", auth=None)

    assert reply.code == 405
    assert reply.headers["Allow"] == "GET, HEAD"


# the real endpoints

def test_a_scheduler_call_is_committed_as_importd(codeimport, app):
    assert rpc(app, "setMachineOnline", "via-wsgi").result() == 0

    codeimport.abort()
    machine = codeimport.utilities.machines.getByHostname("via-wsgi")
    assert machine.state == CodeImportMachineState.ONLINE


def test_the_authserver_is_mounted(codeimport, app):
    reply = rpc(app, "acquireBranchToPull", [], path="/authserver")

    assert reply.result() == []


def test_control_characters_in_a_log_tail_are_accepted(codeimport, app):
    job = codeimport.factory.makeRunningJob()
    codeimport.commit()
    body = xmlrpc.client.dumps(
        (job.id, "\x1b[32mgreen\x1b[0m\x07"), "updateHeartbeat").encode()

    assert call(app, body).result() == 0

    codeimport.abort()
    assert job.logtail == "\ufffd[32mgreen\ufffd[0m\ufffd"


def test_a_fault_never_quotes_a_urls_credentials(fake, caplog):
    caplog.set_level(logging.INFO)
    fault = rpc(fake, "https://u:hunter2@h.example.org/x",
                path="/fake").fault()

    assert fault.faultCode == 905
    assert fault.faultString == (
        "Unknown method: 'https://***@h.example.org/x'")
    assert "hunter2" not in caplog.text
