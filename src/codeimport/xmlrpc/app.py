"""The WSGI application serving the XML-RPC endpoints.

Routes (the table is `ENDPOINTS`):

* ``POST /codeimportscheduler``: `ICodeImportScheduler`, as database
  role ``importd``;
* ``POST /authserver``: `IBranchStatusAPI`, as role ``branchpuller``;
* ``GET /healthz``: "ok" (200) when the database answers ``SELECT 1``,
  else 503; it needs no credentials and reads no data;
* ``GET /metrics``: Prometheus metrics (`codeimport.metrics`), for
  credentials bound to ``metrics`` (and plain ones).

Every other request needs HTTP Basic credentials (`Credentials`) and gets
401 without them, before anything else is looked at.  Then: an unknown
path is 404, a path the credential is not bound to 403 (its `Grant`,
`codeimport.xmlrpc.authorization`), a method other than POST 405, a
body without a length 411, one over the size limit 413, one that stalls
408 and one cut short 400.  Everything after that is answered in
XML-RPC: the method's result, or a fault (`codeimport.wire.faults`); a
call acting for a machine the credential may not act for is fault 911,
before the method runs.  Each call is one database transaction,
committed before the answer is sent (`run_in_transaction`);
when the database stays unavailable the answer is 503, which clients
may retry.  A bug answers fault 999 with a reference to the traceback
in the log: no request gets a 500 or a traceback.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
import xmlrpc.client

from codeimport.metrics import CONTENT_TYPE
from codeimport.metrics import DatabaseCollector
from codeimport.metrics import ServiceMetrics
from codeimport.metrics import render
from codeimport.redact import redact
from codeimport.settings import Settings
from codeimport.wire import faults
from codeimport.wire.interfaces import IBranchStatusAPI
from codeimport.wire.interfaces import ICodeImportScheduler
from codeimport.xmlrpc.authorization import JOB
from codeimport.xmlrpc.authorization import MISSING
from codeimport.xmlrpc.authorization import authorize
from codeimport.xmlrpc.authserver import BranchStatusAPI
from codeimport.xmlrpc.reachability import ReachabilityRecorder
from codeimport.xmlrpc.request import HTTPError
from codeimport.xmlrpc.request import dump_fault
from codeimport.xmlrpc.request import dump_result
from codeimport.xmlrpc.request import parse_call
from codeimport.xmlrpc.request import read_body
from codeimport.xmlrpc.scheduler import CodeImportSchedulerAPI
from codeimport.xmlrpc.scheduler import translate_errors
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
METRICS_PATH = "/metrics"
#: The endpoint name a credential is bound to for /metrics.
METRICS = "metrics"
REALM = 'Basic realm="codeimport", charset="UTF-8"'

# path -> (API class, its interface, database role)
ENDPOINTS = {
    "/codeimportscheduler": (
        CodeImportSchedulerAPI, ICodeImportScheduler, "importd"),
    "/authserver": (BranchStatusAPI, IBranchStatusAPI, "branchpuller"),
}


class Endpoint:
    """One mounted API: the methods its interface names, and its stores."""

    def __init__(self, path: str, api, interface, stores: ThreadStores):
        self.path = path
        #: What credentials name it by (``codeimportscheduler``).
        self.name = path.strip("/")
        self.stores = stores
        self.methods = {}
        self.parameters = {}
        self.required = {}
        for name in sorted(interface.names(all=True)):
            method = getattr(api, name)
            self.methods[name] = method
            signature = inspect.signature(method).parameters.values()
            self.parameters[name] = [p.name for p in signature]
            # Trailing parameters with defaults are optional on the wire
            # (added later; older clients leave them out).
            self.required[name] = sum(
                p.default is inspect.Parameter.empty for p in signature)

    def machineOf(self, kind: str, job_id: int):
        """`authorize`'s lookup: the host name of the machine job
        `job_id` runs on (`JOB`) or ran on (`RECLAIMED_JOB`), None for
        none, `MISSING` for no such job."""
        utilities = self.stores.utilities
        if kind == JOB:
            job = utilities.jobs.getById(job_id)
            if job is None:
                return MISSING
            machine = job.machine
        else:
            found, machine = utilities.workflow.late.reclaimedOn(job_id)
            if not found:
                return MISSING
        return None if machine is None else machine.hostname

    def checkArity(self, name: str, params: tuple) -> None:
        """Raise `InvalidArguments` unless `params` fit method `name`."""
        expected = self.parameters[name]
        required = self.required[name]
        if not required <= len(params) <= len(expected):
            count = (f"{len(expected)}" if required == len(expected)
                     else f"{required} to {len(expected)}")
            raise faults.InvalidArguments(
                message=f"{name} takes {count} arguments "
                f"({', '.join(expected)}), not {len(params)}")


class XMLRPCApplication:
    """The WSGI callable; thread-safe (see the module docstring)."""

    def __init__(self, endpoints, credentials, *,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 health_stores=None,
                 metrics: ServiceMetrics | None = None):
        self.endpoints = {endpoint.path: endpoint for endpoint in endpoints}
        self.credentials = credentials
        self.max_request_bytes = max_request_bytes
        self._health_stores = health_stores or next(
            iter(self.endpoints.values())).stores
        self.metrics = metrics
        self._collector = DatabaseCollector(self._health_stores.get)
        #: The `ReachabilityRecorder` of this process, if it records.
        self.recorder = None

    def close(self) -> None:
        """Close every database connection (at worker exit)."""
        if self.recorder is not None:
            self.recorder.stop()
        for endpoint in self.endpoints.values():
            endpoint.stores.close()

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        try:
            return self._handle(environ, start_response)
        except HTTPError as error:
            return _plain(start_response, error.status, error.message,
                          error.headers)
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception("internal error, reference %s", reference)
            return _xml(start_response, dump_fault(
                faults.InternalError(message=f"reference {reference}")))

    def _handle(self, environ: dict, start_response) -> list[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        verb = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH:
            if verb not in ("GET", "HEAD"):
                raise HTTPError("405 Method Not Allowed",
                                "Use GET.", [("Allow", "GET, HEAD")])
            return self._health(start_response)
        user = self.credentials.authenticate(environ.get("HTTP_AUTHORIZATION"))
        if user is None:
            raise HTTPError("401 Unauthorized", "Authentication required.",
                            [("WWW-Authenticate", REALM)])
        environ["REMOTE_USER"] = user
        grant = self.credentials.grant(user)
        if path == METRICS_PATH:
            self._checkBound(grant, METRICS, path)
            return self._metrics(verb, start_response)
        endpoint = self.endpoints.get(path)
        if endpoint is None:
            raise HTTPError("404 Not Found", f"No endpoint at {path}.")
        self._checkBound(grant, endpoint.name, path)
        if verb != "POST":
            raise HTTPError("405 Method Not Allowed",
                            "XML-RPC calls use POST.", [("Allow", "POST")])
        body = read_body(environ, self.max_request_bytes)
        return _xml(start_response, self._call(endpoint, grant, body))

    def _checkBound(self, grant, name: str, path: str) -> None:
        if not grant.mayCall(name):
            log.info("%s may not call %s: 403", grant.name, path)
            raise HTTPError("403 Forbidden",
                            f"This credential may not call {path}.")

    def _health(self, start_response) -> list[bytes]:
        store = None
        try:
            store = self._health_stores.get()
            store.execute("SELECT 1").get_one()
            store.rollback()
        except Exception as error:
            try:
                if store is not None:
                    store.rollback()
            except Exception:
                pass  # Storm reconnects on the next statement
            log.warning("health check failed: %s", str(error).strip())
            return _plain(start_response, "503 Service Unavailable",
                          "database unavailable",
                          [("Cache-Control", "no-store")])
        return _plain(start_response, "200 OK", "ok",
                      [("Cache-Control", "no-store")])

    def _metrics(self, verb: str, start_response) -> list[bytes]:
        if verb not in ("GET", "HEAD"):
            raise HTTPError("405 Method Not Allowed", "Use GET.",
                            [("Allow", "GET, HEAD")])
        body = render(self._collector, self.metrics)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body]

    def _call(self, endpoint: Endpoint, grant, body: bytes) -> bytes:
        """Run one XML-RPC call, timed; return the response document."""
        started = time.monotonic()
        call = {"name": "?"}
        try:
            return self._answer(endpoint, grant, body, started, call)
        finally:
            if self.metrics is not None:
                self.metrics.observe(call["name"],
                                     time.monotonic() - started)

    def _answer(self, endpoint, grant, body, started, call) -> bytes:
        user = grant.name
        name = "?"
        try:
            params, name = parse_call(body)
            call["name"] = name
            if name == "system.listMethods" and not params:
                return dump_result(sorted(endpoint.methods))
            if name not in endpoint.methods:
                raise faults.UnknownMethod(name=name)
            endpoint.checkArity(name, params)
            method = endpoint.methods[name]

            def run():
                with translate_errors():
                    authorize(grant, endpoint.name, name, params,
                              endpoint.machineOf)
                return dump_result(method(*params))

            response = run_in_transaction(endpoint.stores.get(), run)
        except xmlrpc.client.Fault as fault:
            # A fault may quote its input: never a URL's credentials.
            fault.faultString = redact(fault.faultString)
            log.info("%s %s.%s: fault %d: %s", user, endpoint.path,
                     redact(name), fault.faultCode, fault.faultString)
            return dump_fault(fault)
        except DatabaseUnavailable as error:
            log.warning("%s %s.%s: database unavailable: %s", user,
                        endpoint.path, name, error)
            raise HTTPError("503 Service Unavailable",
                            "The database is unavailable; try again.",
                            [("Retry-After", "5")]) from None
        log.debug("%s %s.%s: ok in %.1f ms", user, endpoint.path, name,
                  (time.monotonic() - started) * 1000)
        return response


def _xml(start_response, document: bytes) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                              ("Content-Length", str(len(document)))])
    return [document]


def _plain(start_response, status: str, message: str,
           headers=()) -> list[bytes]:
    body = (message + "\n").encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))]
                   + list(headers))
    return [body]


def make_app(dsn: str, credentials, *, settings=None,
             max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
             statement_timeout: float | None = 30.0,
             record_reachability: bool = False) -> XMLRPCApplication:
    """Build the application serving every endpoint of `ENDPOINTS`.

    No connection is opened here: each thread opens its own on its first
    request, so the result may be built before the server forks.

    :param credentials: a `codeimport.xmlrpc.auth.Credentials`.
    :param settings: the `codeimport.settings.Settings` the scheduler
        uses (blacklisted host names, the site's host name ...).
    :param statement_timeout: seconds after which PostgreSQL cancels a
        statement, so that a lock wait cannot hold a thread for ever.
    :param record_reachability: start this process's
        `ReachabilityRecorder` (``codeimport serve`` does; an application
        built in a test process usually should not, as the watchdog
        would take its end for an outage).
    """
    endpoints = []
    for path, (api_class, interface, role) in ENDPOINTS.items():
        stores = ThreadStores(
            service_dsn(dsn, f"codeimport-{path.strip('/')}",
                        statement_timeout),
            role, settings)
        endpoints.append(Endpoint(path, api_class(stores.utilities),
                                  interface, stores))
    metrics = ServiceMetrics(
        name for endpoint in endpoints for name in endpoint.methods)
    app = XMLRPCApplication(endpoints, credentials, metrics=metrics,
                            max_request_bytes=max_request_bytes)
    if record_reachability:
        app.recorder = ReachabilityRecorder(
            service_dsn(dsn, "codeimport-reachability", statement_timeout),
            settings or Settings()).start()
    return app
