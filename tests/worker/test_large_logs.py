"""Jobs with huge output, through the real service: the job always
finishes, its log keeps its head and tail, its log tail stays small."""

from __future__ import annotations

import os
import threading

import pytest
from worker_fakes import python_command
from worker_fakes import wait_for

from codeimport.enums import CodeImportResultStatus
from codeimport.joblog import LOG_FALLBACK_LIMIT
from codeimport.joblog import LOG_FILE_LIMIT
from codeimport.joblog import LOG_LAST_RESORT_LIMIT
from codeimport.joblog import LOG_TAIL_CHARACTERS
from codeimport.testing.server import XMLRPCTestServer
from codeimport.wire.client import SchedulerClient
from codeimport.worker.monitor import WorkerMonitor
from codeimport.worker.spool import Report
from codeimport.worker.spool import Spool

# 50 MB between a first and a last line, written in 1 MB blocks.
FIFTY_MB_WORKER = """
import sys
out = sys.stdout.buffer
out.write(b"first line\\n")
block = (b"x" * 99 + b"\\n") * 10_000
for _ in range(50):
    out.write(block)
out.write(b"last line\\n")
"""


def run_job(codeimport, server, script, **options):
    """Run a job of a new import through `server` with a monitor whose
    worker runs `script`; return the monitor's exit status and the
    import's single result."""
    code_import = codeimport.factory.makeCodeImport()
    codeimport.commit()
    client = SchedulerClient(server.scheduler_url, timeout=30)
    job_id = client.getJobForMachine("importer-1", 1)
    assert job_id
    settings = dict(heartbeat_interval=30.0, inactivity_timeout=60.0,
                    retry_timeout=30.0, retry_delay=0.05)
    settings.update(options)
    monitor = WorkerMonitor(job_id, client, python_command(script),
                            **settings)
    code = monitor.run()
    codeimport.abort()
    [result] = code_import.results
    return code, result


def check_cut_log(stored: bytes, limit: int) -> None:
    assert len(stored) <= limit
    assert stored.startswith(b"first line\n" + b"x" * 99 + b"\n")
    assert stored.endswith(b"x" * 99 + b"\nlast line\n")
    assert b"bytes of this log were left out here" in stored


def test_a_50_mb_log_is_reported_with_its_head_and_tail(codeimport):
    # The service's own default request limit (32 MiB).
    server = XMLRPCTestServer(codeimport.dsn, threads=2,
                              max_request_bytes=32 * 1024 * 1024,
                              request_timeout=30).start()
    try:
        code, result = run_job(codeimport, server, FIFTY_MB_WORKER)
    finally:
        server.close()
    assert code == 0
    assert result.status == CodeImportResultStatus.SUCCESS
    check_cut_log(result.log_file.read(), LOG_FILE_LIMIT)
    assert result.log_file.content_length > LOG_FALLBACK_LIMIT
    assert len(result.log_excerpt) <= LOG_TAIL_CHARACTERS


def test_a_log_the_service_refuses_as_too_large_is_sent_smaller(
        codeimport, codeimport_xmlrpc_server):
    # The shared test service takes at most 1 MiB a request: the first
    # upload (8 MiB) is refused, the fallback (256 KiB) is stored.
    server = codeimport_xmlrpc_server
    code, result = run_job(codeimport, server, FIFTY_MB_WORKER)
    assert code == 0
    assert result.status == CodeImportResultStatus.SUCCESS
    check_cut_log(result.log_file.read(), LOG_FALLBACK_LIMIT)


def test_a_log_refused_twice_is_sent_as_its_first_and_last_lines(
        codeimport):
    # Smaller than even the fallback upload: the last resort gets in.
    server = XMLRPCTestServer(codeimport.dsn, threads=2,
                              max_request_bytes=64 * 1024).start()
    try:
        code, result = run_job(codeimport, server, FIFTY_MB_WORKER)
    finally:
        server.close()
    assert code == 0
    assert result.status == CodeImportResultStatus.SUCCESS
    check_cut_log(result.log_file.read(), LOG_LAST_RESORT_LIMIT)


def test_carriage_return_progress_keeps_heartbeats_small(
        codeimport, codeimport_xmlrpc_server, tmp_path):
    """A worker redrawing a progress meter with "\\r" only, 100,000
    times: the monitor's tail and the tail the service stores stay
    within the limit, and hold the last redraws."""
    updates = 100_000
    server = codeimport_xmlrpc_server
    # The worker waits on a FIFO until the test has seen the tail.
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    script = f"""
import sys
out = sys.stdout.buffer
for n in range({updates}):
    out.write(b"Receiving objects: %d\\r" % n)
    out.flush()
open({str(gate)!r}).read()
"""
    code_import = codeimport.factory.makeCodeImport()
    codeimport.commit()
    client = SchedulerClient(server.scheduler_url, timeout=30)
    job_id = client.getJobForMachine("importer-1", 1)
    monitor = WorkerMonitor(job_id, client, python_command(script),
                            heartbeat_interval=0.1, inactivity_timeout=60,
                            retry_timeout=30, retry_delay=0.05)
    thread = threading.Thread(target=monitor.run)
    thread.start()
    expected = "".join(f"Receiving objects: {n}\r"
                       for n in range(updates - 4, updates))
    # XML turns a carriage return in text into a line feed.
    stored = expected.replace("\r", "\n")
    try:
        def stored_tail():
            codeimport.abort()
            job = code_import.import_job
            return job is not None and job.logtail == stored

        wait_for(stored_tail, timeout=60)
        assert monitor.tail == expected.encode()
    finally:
        with open(gate, "w"):
            pass
        thread.join(60)
    codeimport.abort()
    [result] = code_import.results
    assert result.log_excerpt == stored


@pytest.mark.parametrize("reclaimed", [False, True])
def test_a_spooled_result_with_a_large_log_is_replayed_smaller(
        codeimport, codeimport_xmlrpc_server, tmp_path, reclaimed):
    """The dispatcher's replay of a spooled result gets the same size
    fallback, for a finish and for a late result."""
    server = codeimport_xmlrpc_server
    code_import = codeimport.factory.makeCodeImport()
    codeimport.commit()
    client = SchedulerClient(server.scheduler_url, timeout=30)
    job_id = client.getJobForMachine("importer-1", 1)
    if reclaimed:
        client.reclaimJobID(job_id)
    log = b"first line\n" + (b"x" * 99 + b"\n") * 30_000 + b"last line\n"
    spool = Spool(str(tmp_path / "spool"))
    spool.keep(Report(job_id, "SUCCESS", log)).release()

    spool.replay(client)

    assert spool.entries() == []
    codeimport.abort()
    [result] = [r for r in code_import.results
                if r.status == CodeImportResultStatus.SUCCESS]
    check_cut_log(result.log_file.read(), LOG_FALLBACK_LIMIT)
