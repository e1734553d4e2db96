"""Test doubles for the worker tests: a recording scheduler, source repos.

The scheduler here is a stand-in written with the standard library's
XML-RPC server; it speaks the wire contract, records every call and can
be told to answer with faults.  It exists for these tests only.
"""

from __future__ import annotations

import itertools
import os
import socketserver
import sys
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCRequestHandler
from xmlrpc.server import SimpleXMLRPCServer

from dulwich import porcelain
from dulwich.repo import Repo

IDENTITY = b"Test <test@example.com>"
MACHINE_METHODS = ("setMachineOnline", "setMachineOffline",
                   "setMachineQuiescing", "getMachineState",
                   "getMachineOfflineReason")


def wait_for(condition, timeout=15.0, interval=0.01):
    """Poll `condition` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(interval)


class FakeScheduler:
    """Records calls; answers from queues and per-method overrides.

    ``job_ids`` are handed out by getJobForMachine (then 0 forever);
    ``import_data`` maps job ids to getImportDataForJobID answers;
    ``faults`` maps a method name to a fault code to answer with, and
    ``answers`` to a fixed answer;
    ``machine_methods`` says whether the optional machine-state methods
    and ``reclaimJobID`` exist (otherwise they answer fault 905, as an
    older server would); ``machine_state`` and ``offline_reason`` are what
    getMachineState and getMachineOfflineReason answer.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []
        self.auth_headers = []
        self.job_ids = []
        self.import_data = {}
        self.faults = {}
        self.answers = {}
        self.machine_methods = True
        self.machine_state = "ONLINE"
        self.offline_reason = ""

    def record(self, method, params):
        with self.lock:
            self.calls.append((method, params))

    def calls_to(self, method):
        with self.lock:
            return [params for name, params in self.calls if name == method]

    def _dispatch(self, method, params):
        self.record(method, params)
        code = self.faults.get(method)
        if code is not None:
            raise xmlrpc.client.Fault(code, f"fault {code} from {method}")
        if method in self.answers:
            return self.answers[method]
        if method == "getJobForMachine":
            with self.lock:
                return self.job_ids.pop(0) if self.job_ids else 0
        if method == "getImportDataForJobID":
            if params[0] not in self.import_data:
                raise xmlrpc.client.Fault(360, f"Job {params[0]} not found.")
            return self.import_data[params[0]]
        if method in ("updateHeartbeat", "finishJobID"):
            return 0
        if not self.machine_methods:
            pass
        elif method == "getMachineState":
            return self.machine_state
        elif method == "getMachineOfflineReason":
            return self.offline_reason
        elif method in MACHINE_METHODS + ("reclaimJobID",):
            return 0
        raise xmlrpc.client.Fault(905, f"Unknown method: {method!r}")


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/codeimportscheduler",)

    def decode_request_content(self, data):
        self.server.instance.auth_headers.append(
            self.headers.get("Authorization")
        )
        return super().decode_request_content(data)


class _Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True


class SchedulerServer:
    """A `FakeScheduler` served over HTTP on 127.0.0.1."""

    def __init__(self, port=0):
        self.fake = FakeScheduler()
        self.port = port
        self._server = None

    def start(self):
        self._server = _Server(
            ("127.0.0.1", self.port),
            requestHandler=_Handler,
            logRequests=False,
            allow_none=False,
        )
        self.port = self._server.server_address[1]
        self._server.register_instance(self.fake)
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        ).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self):
        return (
            f"http://worker:s3cret@127.0.0.1:{self.port}/codeimportscheduler"
        )


class SourceRepo:
    """A Git repository to import from, built with dulwich."""

    _counter = itertools.count()

    def __init__(self, path):
        self.path = str(path)
        porcelain.init(self.path)

    def commit(self, message="change"):
        name = os.path.join(self.path, "file.txt")
        with open(name, "a") as stream:
            stream.write(f"{message} {next(self._counter)}\n")
        porcelain.add(self.path, [name])
        return porcelain.commit(
            self.path,
            message=message.encode(),
            author=IDENTITY,
            committer=IDENTITY,
        )

    def branch(self, name):
        porcelain.branch_create(self.path, name)

    def tag(self, name, annotated=False):
        porcelain.tag_create(
            self.path,
            name,
            message=b"tag " + name.encode() if annotated else None,
            annotated=annotated,
            author=IDENTITY,
        )

    def refs(self):
        with Repo(self.path) as repo:
            return {k: v for k, v in repo.get_refs().items() if k != b"HEAD"}


def python_command(script):
    """A worker_command that ignores the job's arguments and runs `script`."""
    return lambda arguments: [sys.executable, "-c", script]
