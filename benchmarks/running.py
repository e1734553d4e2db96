"""Sections 4b and 5: the watchdog's queries and heartbeats, with 10,000
RUNNING jobs spread over ten machines.

* `getReclaimableJobs` and `watchdog.run()` are timed with 1 % of the
  jobs stale (their heartbeat is ten minutes old), each call in its own
  transaction, rolled back afterwards so every sample reclaims the same
  jobs; then `watchdog.run()` again with nothing stale, the common case.
* Heartbeats: several processes, each one an import machine's share of
  the jobs, call ``jobs.getById`` + ``workflow.updateHeartbeat`` and
  commit, once for every running job (or until the time limit); calls/s
  says how many running
  jobs the database can keep alive at a 30-second heartbeat interval.
"""

from __future__ import annotations

import time

from benchmarks.runner import latency_ms
from benchmarks.runner import run_processes
from benchmarks.runner import summarise

MACHINES = 10
HEARTBEAT_INTERVAL = 30
LOGTAIL = "Importing revision 1234 of 5678\n" * 3


def _time_calls(dsn, call, samples):
    from codeimport.database import make_store
    from codeimport.registration import build_utilities

    store = make_store(dsn)
    try:
        utilities = build_utilities(lambda: store)
        timings, sizes = [], []
        for _ in range(samples):
            start = time.perf_counter()
            outcome = call(utilities)
            store.flush()
            timings.append(time.perf_counter() - start)
            sizes.append(outcome)
            store.rollback()
        return timings, sizes
    finally:
        store.close()


def _reclaimable(utilities):
    return len(utilities.jobs.getReclaimableJobs())


def _watchdog(utilities):
    return len(utilities.watchdog.run().reclaimed_job_ids)


def _heartbeat_worker(index, argument, barrier):
    from codeimport.database import make_store
    from codeimport.registration import build_utilities

    dsn, job_ids, time_limit = argument
    store = make_store(dsn)
    utilities = build_utilities(lambda: store)
    jobs, workflow = utilities.jobs, utilities.workflow
    store.execute("SELECT 1")
    store.commit()
    barrier.wait()
    start = time.monotonic()
    stop = start + time_limit
    calls = 0
    for job_id in job_ids:
        workflow.updateHeartbeat(jobs.getById(job_id), LOGTAIL)
        store.commit()
        calls += 1
        if time.monotonic() >= stop:
            break
    end = time.monotonic()
    store.close()
    return {"start": start, "end": end, "ops": calls}


def run(db, config):
    db.reset()
    stale = config.running_jobs // 100
    machine_ids = db.load_machines(MACHINES)
    db.load_running(config.running_jobs, machine_ids, stale=stale)
    db.vacuum()
    result = {"running": config.running_jobs, "stale": stale}

    timings, sizes = _time_calls(db.dsn, _reclaimable, config.reclaim_samples)
    result["getReclaimableJobs"] = {**latency_ms(timings),
                                    "returned": max(sizes)}
    timings, sizes = _time_calls(db.dsn, _watchdog, config.watchdog_samples)
    result["watchdog_stale"] = {**latency_ms(timings), "reclaimed": max(sizes)}
    db.execute("UPDATE codeimportjob SET heartbeat = CURRENT_TIMESTAMP"
               " WHERE state = 30")
    timings, sizes = _time_calls(db.dsn, _watchdog, config.reclaim_samples)
    result["watchdog_idle"] = {**latency_ms(timings), "reclaimed": max(sizes)}

    job_ids = [row[0] for row in db.execute(
        "SELECT id FROM codeimportjob WHERE state = 30 ORDER BY id")]
    processes = config.heartbeat_processes
    shares = [(db.dsn, job_ids[index::processes],
               config.heartbeat_time_limit)
              for index in range(processes)]
    outcomes = run_processes(_heartbeat_worker, shares)
    calls, elapsed, rate = summarise(outcomes)
    result["heartbeats"] = {
        "processes": processes, "calls": calls,
        "seconds": round(elapsed, 3), "per_second": round(rate),
        "jobs_at_30s_interval": round(rate * HEARTBEAT_INTERVAL),
    }
    return result
