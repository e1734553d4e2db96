"""Clients for the scheduler and branch-status XML-RPC endpoints.

Import machines have no database access: they learn about jobs through
`SchedulerClient`; the branch puller reports through `BranchStatusClient`.
Both wrap `xmlrpc.client.ServerProxy` and turn wire errors into ours:

* a fault becomes a `RemoteFault` (see `codeimport.wire.remote`):
  one the server answers for a domain error is also an instance of that
  error (fault 902 is caught by ``except InvalidJobState``), fault 905
  is an `UnknownRemoteMethod`; a missing job (360) or branch (270) in a
  call about it becomes the plain domain error, with its id;
* HTTP 5xx and unreadable answers become `RemoteUnavailable`, a
  `ConnectionError`, so callers retry every transient failure by catching
  `OSError`; other HTTP errors (404 ...) become `RemoteHTTPError`, and
  401 (a wrong credential) and 403 (one not bound to the endpoint)
  `RemoteAccessDenied`, which is also an `AccessDenied`, like fault 911
  (a machine the credential may not act for): retrying cannot help.

Credentials travel in the URL (``http://user:secret@host/...``) as HTTP
Basic authentication; `redact_url` hides the password in messages.

Thread safety: a `ServerProxy` must not be shared between threads, so a
client keeps one proxy per thread; one client may serve several threads.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
import xml.parsers.expat
import xmlrpc.client
from datetime import datetime
from typing import Any

from codeimport.errors import AccessDenied
from codeimport.errors import CodeImportError
from codeimport.errors import NoSuchBranch
from codeimport.errors import NoSuchCodeImportJob
from codeimport.redact import redact
from codeimport.wire import faults
from codeimport.wire.remote import RemoteFault
from codeimport.wire.remote import UnknownRemoteMethod
from codeimport.wire.remote import remote_fault

__all__ = [
    "BranchStatusClient",
    "DEFAULT_TIMEOUT",
    "RemoteAccessDenied",
    "RemoteFault",
    "RemoteHTTPError",
    "RemoteUnavailable",
    "SchedulerClient",
    "UnknownRemoteMethod",
    "redact_url",
]

DEFAULT_TIMEOUT = 60.0


class RemoteHTTPError(CodeImportError):
    """The endpoint refused the request at the HTTP level (401, 404 ...)."""

    def __init__(self, url: str, status: int, reason: str):
        super().__init__(f"{redact_url(url)}: HTTP {status} {reason}")
        self.url = redact_url(url)
        self.status = status
        self.reason = reason


class RemoteAccessDenied(RemoteHTTPError, AccessDenied):
    """The endpoint refused the credential (401) or its use here (403)."""


#: HTTP statuses that refuse the caller rather than the request.
_REFUSALS = (401, 403)


class RemoteUnavailable(CodeImportError, ConnectionError):
    """The endpoint failed in a way that may pass (HTTP 5xx, bad answer)."""


def redact_url(url: str) -> str:
    """Return `url` with its user information replaced by ``***``
    (`codeimport.redact`, the one rule)."""
    return redact(url)


def _transport(url: str, timeout: float) -> xmlrpc.client.Transport:
    """A transport for `url` whose connections time out."""
    if url.startswith("https:"):
        base = xmlrpc.client.SafeTransport
    else:
        base = xmlrpc.client.Transport

    class TimeoutTransport(base):
        def make_connection(self, host):
            connection = super().make_connection(host)
            # Not connected yet, so the socket is made with this timeout.
            connection.timeout = timeout
            return connection

    return TimeoutTransport()


class _Endpoint:
    """One XML-RPC endpoint, with a `ServerProxy` per thread."""

    def __init__(self, url: str, timeout: float):
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"Not an http(s) URL: {redact_url(url)}")
        self.url = url
        self.timeout = timeout
        self._local = threading.local()

    def _proxy(self) -> xmlrpc.client.ServerProxy:
        proxy = getattr(self._local, "proxy", None)
        if proxy is None:
            proxy = xmlrpc.client.ServerProxy(
                self.url, transport=_transport(self.url, self.timeout)
            )
            self._local.proxy = proxy
        return proxy

    def call(self, method: str, *args: Any) -> Any:
        """Call `method`, translating transport problems (see module)."""
        try:
            return getattr(self._proxy(), method)(*args)
        except xmlrpc.client.Fault as fault:
            raise remote_fault(method, fault) from None
        except xmlrpc.client.ProtocolError as error:
            self._forget()
            if error.errcode < 500:
                error_class = (RemoteAccessDenied
                               if error.errcode in _REFUSALS
                               else RemoteHTTPError)
                raise error_class(
                    self.url, error.errcode, error.errmsg
                ) from None
            problem = f"HTTP {error.errcode} {error.errmsg}"
        except (
            http.client.HTTPException,
            xml.parsers.expat.ExpatError,
            xmlrpc.client.ResponseError,
        ) as error:
            self._forget()
            problem = f"bad response to {method}: {error}"
        except OSError:
            # The connection may be half-dead; start afresh next time.
            self._forget()
            raise
        raise RemoteUnavailable(f"{redact_url(self.url)}: {problem}")

    def _forget(self) -> None:
        proxy = getattr(self._local, "proxy", None)
        self._local.proxy = None
        if proxy is not None:
            proxy("close")()


class _Client:
    """Base of the clients.

    :param url: the endpoint, credentials included, e.g.
        ``http://user:secret@127.0.0.1:8087/codeimportscheduler``.
    :param timeout: seconds to wait for the connection and each answer.
    :raises ValueError: for a URL that is not http or https.
    """

    # The domain error meaning "no such object": a fault standing for it
    # in a call about one object is raised as this error, built from the
    # call's first argument.
    missing_error: type[CodeImportError] = CodeImportError

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT):
        self._endpoint = _Endpoint(url, timeout)

    @property
    def url(self) -> str:
        """The endpoint URL with the password hidden."""
        return redact_url(self._endpoint.url)

    def _lookupCall(self, method: str, object_id: int, *args: Any) -> Any:
        try:
            return self._endpoint.call(method, object_id, *args)
        except self.missing_error:
            raise self.missing_error(object_id) from None


class SchedulerClient(_Client):
    """Talks to the code-import scheduler (`ICodeImportScheduler`)."""

    missing_error = NoSuchCodeImportJob

    def getJobForMachine(self, hostname: str, worker_limit: int) -> int:
        """Start a job on `hostname` and return its id, or 0 if none."""
        call = self._endpoint.call
        return int(call("getJobForMachine", hostname, worker_limit))

    def getImportDataForJobID(self, job_id: int) -> dict:
        """Return the job's ``arguments``, ``target_url``,
        ``log_file_name`` and ``blacklisted_hostnames``.

        :raises NoSuchCodeImportJob: when the job no longer exists.
        """
        return self._lookupCall("getImportDataForJobID", job_id)

    def updateHeartbeat(self, job_id: int, log_tail: str) -> int:
        """Tell the scheduler the job is alive; `log_tail` is shown to users.

        :raises NoSuchCodeImportJob: when the job was reclaimed.
        """
        return self._lookupCall("updateHeartbeat", job_id, log_tail)

    def finishJobID(self, job_id: int, status_name: str, log_file,
                    target_changed: bool | None = None) -> int:
        """Report the job's result (a `CodeImportResultStatus` name) and
        its log (an `xmlrpc.client.Binary`, or "" for none), and whether
        the target's published refs changed, if known.

        A scheduler older than `target_changed` (fault 904 for the extra
        argument) is asked again without it.

        :raises NoSuchCodeImportJob: when the job was reclaimed.
        """
        args = (job_id, status_name, log_file)
        if target_changed is None:
            return self._lookupCall("finishJobID", *args)
        try:
            return self._lookupCall("finishJobID", *args,
                                    bool(target_changed))
        except RemoteFault as fault:
            if (fault.fault_code != faults.InvalidArguments.error_code
                    or "takes 3 arguments" not in str(fault)):
                raise
        return self._lookupCall("finishJobID", *args)

    def recordLateResult(self, job_id: int, status_name: str, log_file,
                         target_changed: bool | None = None) -> bool:
        """Report the result of a run whose job was reclaimed meanwhile;
        True if recorded, False if it had been already.

        :raises NoSuchCodeImportJob: when no job of that id was
            reclaimed (the report got through before, or never existed).
        :raises UnknownRemoteMethod: from an older scheduler.
        """
        args = (job_id, status_name, log_file)
        if target_changed is not None:
            args += (bool(target_changed),)
        return bool(self._lookupCall("recordLateResult", *args))

    def reclaimJobID(self, job_id: int) -> int:
        """Hand the RUNNING job back, to run again at once (a RECLAIMED
        result, which counts as a failure).

        :raises NoSuchCodeImportJob: when the job is already gone.
        """
        return self._lookupCall("reclaimJobID", job_id)

    # Machine state.  These are optional on the server: an older server
    # answers `UnknownRemoteMethod`, which callers should tolerate.

    def setMachineOnline(self, hostname: str) -> int:
        """Mark `hostname` ONLINE, creating it if needed."""
        return self._endpoint.call("setMachineOnline", hostname)

    def setMachineOffline(self, hostname: str, reason_name: str) -> int:
        """Mark `hostname` OFFLINE (a `CodeImportMachineOfflineReason`)."""
        return self._endpoint.call("setMachineOffline", hostname, reason_name)

    def setMachineQuiescing(self, hostname: str) -> int:
        """Mark `hostname` QUIESCING: it finishes its jobs, takes no more."""
        return self._endpoint.call("setMachineQuiescing", hostname)

    def getMachineState(self, hostname: str) -> str:
        """The machine's state name, or "" if the scheduler has none."""
        return self._endpoint.call("getMachineState", hostname)

    def getMachineOfflineReason(self, hostname: str) -> str:
        """Why the OFFLINE machine is offline (a reason name), or ""."""
        return self._endpoint.call("getMachineOfflineReason", hostname)


class BranchStatusClient(_Client):
    """Talks to the branch mirror-status endpoint (the branch puller's)."""

    missing_error = NoSuchBranch

    def startMirroring(self, branch_id: int) -> bool:
        """Record that a mirror of the branch is starting."""
        return bool(self._lookupCall("startMirroring", branch_id))

    def mirrorComplete(self, branch_id: int, last_revision_id: str) -> bool:
        """Record a successful mirror whose tip is `last_revision_id`."""
        return bool(
            self._lookupCall("mirrorComplete", branch_id, last_revision_id)
        )

    def mirrorFailed(self, branch_id: int, reason: str) -> bool:
        """Record a failed mirror and why it failed."""
        return bool(self._lookupCall("mirrorFailed", branch_id, reason))

    def requestMirror(self, branch_id: int) -> bool:
        """Ask for the branch to be mirrored soon."""
        return bool(self._lookupCall("requestMirror", branch_id))

    def recordSuccess(
        self,
        name: str,
        hostname: str,
        date_started: datetime,
        date_completed: datetime,
    ) -> bool:
        """Record a successful run of the script `name` on `hostname`.

        The dates travel as 9-element UTC time tuples, as the original
        puller sent them; naive datetimes are taken to be UTC.
        """
        started = list(date_started.utctimetuple())
        completed = list(date_completed.utctimetuple())
        answer = self._endpoint.call(
            "recordSuccess", name, hostname, started, completed
        )
        return bool(answer)

    def acquireBranchToPull(self, branch_type_names=()) -> tuple:
        """Take the branch most due for a mirror.

        :param branch_type_names: `BranchType` names; empty means the
            server's default (MIRRORED and IMPORTED).
        :return: ``(branch_id, pull_url, unique_name, default_stacked_on,
            branch_type_name)``, or ``()`` when nothing is due.
        """
        answer = self._endpoint.call(
            "acquireBranchToPull", list(branch_type_names)
        )
        return tuple(answer)
