"""Sections 3 and 6: the claim cycle over XML-RPC, and the service's
memory.

`codeimport serve` runs as a subprocess on a free loopback port (waitress,
forked worker processes).  Each client process is one import machine using the
project's own `SchedulerClient` (one keep-alive HTTP connection) and
loops getJobForMachine -> updateHeartbeat -> finishJobID(SUCCESS) until
the due queue is empty or the time limit passes; each call is timed on
the client, so latencies include HTTP, XML marshalling and queueing in
the service.  The exactly-once check of section 2 is applied to the
result.

While the clients run, a thread samples the resident memory of the
service's process tree (the supervisor plus workers) every 0.2 s; the
report gives the peak of that sum, the largest worker's own high-water
mark (VmHWM) and the idle figure before the load for comparison.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from benchmarks.claims import check_exactly_once
from benchmarks.runner import latency_ms
from benchmarks.runner import run_cycles
from benchmarks.runner import run_processes
from benchmarks.runner import summarise

USER, SECRET = "bench", "bench-secret"
WORKER_LIMIT = 10
LOGTAIL = "Importing revision 1234 of 5678\n"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """`codeimport serve` in a subprocess; a context manager."""

    def __init__(self, dsn, workers, threads):
        self.dsn = dsn
        self.workers = workers
        self.threads = threads
        self.port = _free_port()
        self.process = None
        self.log = None

    @property
    def url(self):
        return (f"http://{USER}:{SECRET}@127.0.0.1:{self.port}"
                "/codeimportscheduler")

    def __enter__(self):
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ,
                   CODEIMPORT_XMLRPC_CREDENTIALS=f"{USER}:{SECRET}")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", "serve",
             "--dsn", self.dsn, "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--threads", str(self.threads),
             "--graceful-timeout", "5", "--access-log", os.devnull,
             "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=env)
        try:
            self._waitUntilReady()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _waitUntilReady(self, timeout=60):
        deadline = time.monotonic() + timeout
        health = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"codeimport serve exited with {self.process.returncode}:"
                    f" {self.output()[-2000:]}")
            try:
                with urllib.request.urlopen(health, timeout=2) as answer:
                    healthy = answer.status == 200
            except OSError:
                healthy = False
            # Ready once it answers and every worker has been forked.
            if healthy and len(self.pids()) > self.workers:
                return
            time.sleep(0.2)
        raise RuntimeError("codeimport serve did not become ready in time")

    def output(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def pids(self):
        """The arbiter's pid and its workers' pids."""
        import psutil

        try:
            arbiter = psutil.Process(self.process.pid)
            return [arbiter.pid] + [
                child.pid for child in arbiter.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def __exit__(self, *exc_info):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()


class MemorySampler(threading.Thread):
    """Samples the summed RSS of the service's processes."""

    def __init__(self, service, interval=0.2):
        super().__init__(daemon=True)
        self.service = service
        self.interval = interval
        self.peak_total = 0
        self.stopping = threading.Event()

    def sample(self):
        import psutil

        total = 0
        for pid in self.service.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                pass
        self.peak_total = max(self.peak_total, total)
        return total

    def run(self):
        while not self.stopping.wait(self.interval):
            self.sample()

    def stop(self):
        self.stopping.set()
        if self.is_alive():
            self.join()
        self.sample()


def _cpu_seconds(pids):
    """User + system CPU time used so far by `pids`, in seconds."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _high_water_marks(pids):
    """VmHWM of each process, in bytes (Linux)."""
    marks = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        marks[pid] = int(line.split()[1]) * 1024
        except OSError:
            pass
    return marks


def _client(index, argument, barrier):
    from codeimport.wire.client import SchedulerClient

    url, time_limit = argument
    hostname = f"bench-rpc-{index}"
    client = SchedulerClient(url, timeout=60)
    client.setMachineOnline(hostname)
    timings = {"getJobForMachine": [], "updateHeartbeat": [],
               "finishJobID": []}
    clock = time.perf_counter

    def cycle():
        t0 = clock()
        job_id = client.getJobForMachine(hostname, WORKER_LIMIT)
        t1 = clock()
        timings["getJobForMachine"].append(t1 - t0)
        if not job_id:
            return None
        client.updateHeartbeat(job_id, LOGTAIL)
        t2 = clock()
        client.finishJobID(job_id, "SUCCESS", "")
        t3 = clock()
        timings["updateHeartbeat"].append(t2 - t1)
        timings["finishJobID"].append(t3 - t2)
        return job_id, None

    outcome = run_cycles(barrier, time_limit, cycle)
    outcome["timings"] = timings
    return outcome


def _service_available():
    try:
        from codeimport.cli import COMMANDS
    except ImportError as error:
        return str(error)
    if "serve" not in COMMANDS:
        return "this tree has no `codeimport serve` command"
    return None


def run(db, config, baseline):
    reason = _service_available()
    if reason:
        return {"skipped": f"service unavailable: {reason}"}
    db.reset()
    db.load_pending(config.rpc_jobs, due=True)
    db.vacuum()
    try:
        import psutil  # noqa: F401  (benchmark-only dependency)
    except ImportError:
        return {"skipped": "psutil is not installed"}
    workers, threads = config.rpc_workers, config.rpc_threads
    try:
        service = Service(db.dsn, workers, threads).__enter__()
    except RuntimeError as error:
        return {"skipped": f"service unavailable: {error}"}
    try:
        sampler = MemorySampler(service)
        idle = sampler.sample()
        service_cpu = _cpu_seconds(service.pids())
        try:
            outcomes = run_processes(
                _client,
                [(service.url, config.rpc_time_limit)] * config.rpc_clients,
                started=sampler.start)
        finally:
            sampler.stop()
        service_cpu = _cpu_seconds(service.pids()) - service_cpu
        marks = _high_water_marks(service.pids())
        arbiter = service.process.pid
        worker_marks = [mark for pid, mark in marks.items() if pid != arbiter]
    finally:
        service.__exit__(None, None, None)
    cycles, elapsed, rate = summarise(outcomes)
    claimed = [pair for outcome in outcomes for pair in outcome["claimed"]]
    # The client sees job ids only; import ids are checked from events.
    check = check_exactly_once(db, [(job_id, job_id) for job_id, _ in claimed],
                               config.rpc_jobs)
    calls = {}
    for name in ("getJobForMachine", "updateHeartbeat", "finishJobID"):
        samples = [value for outcome in outcomes
                   for value in outcome["timings"][name]]
        calls[name] = latency_ms(samples)
    ceiling = {row["processes"]: row["per_second"]
               for row in baseline["rows"]}
    clients = config.rpc_clients
    mib = 1024 * 1024
    return {
        "clients": clients, "workers": workers, "threads": threads,
        "jobs": config.rpc_jobs, "cycles": cycles,
        "seconds": round(elapsed, 3), "per_second": round(rate),
        "ratio_to_baseline": (round(rate / ceiling[clients], 3)
                              if ceiling.get(clients) else None),
        "drained": check["due_jobs_left"] == 0,
        "exactly_once": check["ok"], "check": check, "calls": calls,
        # CPU per cycle: the service's processes, and the 16 clients'
        # (XML marshalling and HTTP on their side).
        "service_cpu_ms_per_cycle": (round(service_cpu / cycles * 1000, 2)
                                     if cycles else None),
        "client_cpu_ms_per_cycle": (
            round(sum(o["cpu"] for o in outcomes) / cycles * 1000, 2)
            if cycles else None),
        "memory": {
            "idle_total_mib": round(idle / mib, 1),
            "peak_total_mib": round(sampler.peak_total / mib, 1),
            "max_worker_hwm_mib": (round(max(worker_marks) / mib, 1)
                                   if worker_marks else None),
            "processes": len(marks),
        },
    }
