"""The WSGI application serving the XML-RPC endpoints.

Routes (the table is `ENDPOINTS`):

* ``POST /codeimportscheduler``: `ICodeImportScheduler`, as database
  role ``importd``;
* ``POST /authserver``: `IBranchStatusAPI`, as role ``branchpuller``;
* ``GET /healthz``: "ok" (200) when the database answers ``SELECT 1``,
  else 503; it needs no credentials and reads no data.

Every other request needs HTTP Basic credentials (`Credentials`) and gets
401 without them, before anything else is looked at.  Then: an unknown
path is 404, a method other than POST 405, a body without a length 411,
one over the size limit 413, one that stalls 408 and one cut short 400.
Everything after that is answered in XML-RPC: the method's result, or a
fault (`codeimport.xmlrpc.faults`).  Each call is one database
transaction, committed before the answer is sent (`run_in_transaction`);
when the database stays unavailable the answer is 503, which clients
may retry.  A bug answers fault 999 with a reference to the traceback
in the log: no request gets a 500 or a traceback.
"""

from __future__ import annotations

import inspect
import logging
import re
import socket
import time
import uuid
import xml.parsers.expat
import xmlrpc.client

from codeimport.interfaces.scheduler import IBranchStatusAPI
from codeimport.interfaces.scheduler import ICodeImportScheduler
from codeimport.xmlrpc import faults
from codeimport.xmlrpc.authserver import BranchStatusAPI
from codeimport.xmlrpc.scheduler import CodeImportSchedulerAPI
from codeimport.xmlrpc.transactions import DatabaseUnavailable
from codeimport.xmlrpc.transactions import ThreadStores
from codeimport.xmlrpc.transactions import run_in_transaction
from codeimport.xmlrpc.transactions import service_dsn

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "ENDPOINTS",
    "Endpoint",
    "XMLRPCApplication",
    "make_app",
]

log = logging.getLogger("codeimport.xmlrpc")

#: Room for a large import log (sent base64-encoded) in finishJobID.
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
HEALTH_PATH = "/healthz"
REALM = 'Basic realm="codeimport", charset="UTF-8"'
# Characters XML 1.0 forbids even as references (tab, LF and CR are fine).
_CONTROL_CHARACTERS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")

# path -> (API class, its interface, database role)
ENDPOINTS = {
    "/codeimportscheduler": (
        CodeImportSchedulerAPI, ICodeImportScheduler, "importd"),
    "/authserver": (BranchStatusAPI, IBranchStatusAPI, "branchpuller"),
}


class _HTTPError(Exception):
    """Answer with a plain-text HTTP error instead of XML-RPC."""

    def __init__(self, status: str, message: str, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


class Endpoint:
    """One mounted API: the methods its interface names, and its stores."""

    def __init__(self, path: str, api, interface, stores: ThreadStores):
        self.path = path
        self.stores = stores
        self.methods = {}
        self.parameters = {}
        for name in sorted(interface.names(all=True)):
            method = getattr(api, name)
            self.methods[name] = method
            self.parameters[name] = list(inspect.signature(method).parameters)

    def checkArity(self, name: str, params: tuple) -> None:
        """Raise `InvalidArguments` unless `params` fit method `name`."""
        expected = self.parameters[name]
        if len(params) != len(expected):
            raise faults.InvalidArguments(
                message=f"{name} takes {len(expected)} arguments "
                f"({', '.join(expected)}), not {len(params)}")


class XMLRPCApplication:
    """The WSGI callable; thread-safe (see the module docstring)."""

    def __init__(self, endpoints, credentials, *,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 body_timeout: float | None = 30.0, health_stores=None):
        self.endpoints = {endpoint.path: endpoint for endpoint in endpoints}
        self.credentials = credentials
        self.max_request_bytes = max_request_bytes
        self.body_timeout = body_timeout
        self._health_stores = health_stores or next(
            iter(self.endpoints.values())).stores

    def close(self) -> None:
        """Close every database connection (at worker exit)."""
        for endpoint in self.endpoints.values():
            endpoint.stores.close()

    def __call__(self, environ, start_response):
        try:
            return self._handle(environ, start_response)
        except _HTTPError as error:
            return _plain(start_response, error.status, error.message,
                          error.headers)
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("internal error, reference %s", reference)
            return _xml(start_response, xmlrpc.client.dumps(
                faults.InternalError(message=f"reference {reference}"),
                methodresponse=True))

    def _handle(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        verb = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH:
            if verb not in ("GET", "HEAD"):
                raise _HTTPError("405 Method Not Allowed",
                                 "Use GET.", [("Allow", "GET, HEAD")])
            return self._health(start_response)
        user = self.credentials.authenticate(environ.get("HTTP_AUTHORIZATION"))
        if user is None:
            raise _HTTPError("401 Unauthorized", "Authentication required.",
                             [("WWW-Authenticate", REALM)])
        environ["REMOTE_USER"] = user
        endpoint = self.endpoints.get(path)
        if endpoint is None:
            raise _HTTPError("404 Not Found", f"No endpoint at {path}.")
        if verb != "POST":
            raise _HTTPError("405 Method Not Allowed",
                             "XML-RPC calls use POST.", [("Allow", "POST")])
        body = self._readBody(environ)
        return _xml(start_response, self._call(endpoint, user, body))

    def _health(self, start_response):
        store = self._health_stores.get()
        try:
            store.execute("SELECT 1").get_one()
            store.rollback()
        except Exception as error:
            try:
                store.rollback()
            except Exception:
                pass
            log.warning("health check failed: %s", str(error).strip())
            return _plain(start_response, "503 Service Unavailable",
                          "database unavailable",
                          [("Cache-Control", "no-store")])
        return _plain(start_response, "200 OK", "ok",
                      [("Cache-Control", "no-store")])

    def _readBody(self, environ) -> bytes:
        limit = self.max_request_bytes
        length = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING",
                                           "").lower()
        if length:
            try:
                length = int(length)
            except ValueError:
                raise _HTTPError("400 Bad Request",
                                 "Bad Content-Length.") from None
            if length < 0:
                raise _HTTPError("400 Bad Request", "Bad Content-Length.")
        elif not chunked:
            raise _HTTPError("411 Length Required",
                             "A Content-Length is required.")
        else:
            length = None
        too_large = _HTTPError("413 Content Too Large",
                               f"The limit is {limit} bytes.")
        if length is not None and length > limit:
            raise too_large
        body = self._readWithDeadline(
            environ, limit + 1 if length is None else length)
        if length is None and len(body) > limit:
            raise too_large
        if length is not None and len(body) < length:
            raise _HTTPError("400 Bad Request", "The body was cut short.")
        return body

    def _readWithDeadline(self, environ, wanted: int) -> bytes:
        # Under gunicorn, bound each socket read so a client that stalls
        # cannot hold a thread (the socket's previous timeout is restored).
        sock = environ.get("gunicorn.socket")
        previous = None
        if sock is not None and self.body_timeout:
            previous = sock.gettimeout()
            sock.settimeout(self.body_timeout)
        stream = environ["wsgi.input"]
        chunks, received = [], 0
        try:
            while received < wanted:
                chunk = stream.read(min(wanted - received, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
        except (socket.timeout, TimeoutError):
            raise _HTTPError("408 Request Timeout",
                             "The body arrived too slowly.") from None
        except Exception as error:
            log.info("unreadable request body: %s", error)
            raise _HTTPError("400 Bad Request",
                             "The body could not be read.") from None
        finally:
            if sock is not None and self.body_timeout:
                try:
                    sock.settimeout(previous)
                except OSError:
                    pass
        return b"".join(chunks)

    def _call(self, endpoint: Endpoint, user: str, body: bytes) -> bytes:
        """Run one XML-RPC call; return the response document."""
        started = time.monotonic()
        name = "?"
        try:
            params, name = _parse(body)
            if name == "system.listMethods" and not params:
                return _dumps(sorted(endpoint.methods))
            if name not in endpoint.methods:
                raise faults.UnknownMethod(name=name)
            endpoint.checkArity(name, params)
            method = endpoint.methods[name]
            response = run_in_transaction(
                endpoint.stores.get(), lambda: _dumps(method(*params)))
        except xmlrpc.client.Fault as fault:
            log.info("%s %s%s: fault %d: %s", user, endpoint.path,
                     f".{name}" if name else "", fault.faultCode,
                     fault.faultString)
            return xmlrpc.client.dumps(fault, methodresponse=True)
        except DatabaseUnavailable as error:
            log.warning("%s %s.%s: database unavailable: %s", user,
                        endpoint.path, name, error)
            raise _HTTPError("503 Service Unavailable",
                             "The database is unavailable; try again.",
                             [("Retry-After", "5")]) from None
        log.debug("%s %s.%s: ok in %.1f ms", user, endpoint.path, name,
                  (time.monotonic() - started) * 1000)
        return response


def _parse(body: bytes) -> tuple[tuple, str]:
    """Return (params, method name) of an XML-RPC call document."""
    # Entity declarations live in a DTD; refusing DTDs refuses entity
    # expansion attacks outright.
    if b"<!DOCTYPE" in body:
        raise faults.MalformedRequest(message="DTDs are not allowed")
    try:
        try:
            params, name = xmlrpc.client.loads(body, use_builtin_types=False)
        except xml.parsers.expat.ExpatError:
            # xmlrpc.client sends control characters (a terminal escape in
            # a log tail ...) as they are, which XML forbids.  Rather than
            # refuse such a heartbeat, read them as U+FFFD.
            cleaned = _without_control_characters(body)
            if cleaned == body:
                raise
            params, name = xmlrpc.client.loads(cleaned,
                                               use_builtin_types=False)
    except Exception as error:
        message = str(error).strip() or type(error).__name__
        raise faults.MalformedRequest(message=message[:200]) from None
    if not isinstance(name, str) or not name:
        raise faults.MalformedRequest(message="no methodName")
    return params, name


def _without_control_characters(body: bytes) -> bytes:
    # Only for ASCII-compatible encodings, where these bytes are always
    # characters of their own (never in UTF-16 or UTF-32).
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"<\x00" in body[:64] \
            or b"\x00<" in body[:64]:
        return body
    return _CONTROL_CHARACTERS.sub("\ufffd".encode(), body)


def _dumps(result) -> bytes:
    return xmlrpc.client.dumps(
        (result,), methodresponse=True, encoding="utf-8").encode("utf-8")


def _xml(start_response, document):
    if isinstance(document, str):
        document = document.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                              ("Content-Length", str(len(document)))])
    return [document]


def _plain(start_response, status: str, message: str, headers=()):
    body = (message + "\n").encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))]
                   + list(headers))
    return [body]


def make_app(dsn: str, credentials, *, settings=None,
             max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
             body_timeout: float | None = 30.0,
             statement_timeout: float | None = 30.0) -> XMLRPCApplication:
    """Build the application serving every endpoint of `ENDPOINTS`.

    No connection is opened here: each thread opens its own on its first
    request, so the result may be built before the server forks.

    :param credentials: a `codeimport.xmlrpc.auth.Credentials`.
    :param settings: the `codeimport.settings.Settings` the scheduler
        uses (blacklisted host names, the site's host name ...).
    :param statement_timeout: seconds after which PostgreSQL cancels a
        statement, so that a lock wait cannot hold a thread for ever.
    """
    endpoints = []
    for path, (api_class, interface, role) in ENDPOINTS.items():
        stores = ThreadStores(
            service_dsn(dsn, f"codeimport-{path.strip('/')}",
                        statement_timeout),
            role, settings)
        endpoints.append(Endpoint(path, api_class(stores.utilities),
                                  interface, stores))
    return XMLRPCApplication(endpoints, credentials,
                             max_request_bytes=max_request_bytes,
                             body_timeout=body_timeout)
