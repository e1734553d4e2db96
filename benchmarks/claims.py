"""Section 2: the claim cycle through the library, in-process.

Each process is one import machine (``bench-machine-<n>``) with its own
Storm store, looping::

    job = jobs.getJobForMachine(hostname, worker_limit)   # commit
    workflow.finishJob(job, SUCCESS, None)                 # commit

on a queue of due PENDING jobs until the queue is empty.  That is two
transactions per cycle, as in production, where the two calls arrive as
separate XML-RPC requests.  A SUCCESS finish deletes the job and creates
the import's next one, due after the update interval (six hours for
Git), so no job is claimed twice by design; the check afterwards proves
it from the database: every claimed job is distinct, every claimed
import has exactly one START and one FINISH event and one result, and no
due job was left behind.
"""

from __future__ import annotations

from benchmarks.runner import run_cycles
from benchmarks.runner import run_processes
from benchmarks.runner import summarise

WORKER_LIMIT = 10
_START, _FINISH, _SUCCESS = 210, 220, 100


def _worker(index, argument, barrier):
    from codeimport.database import make_store
    from codeimport.enums import CodeImportResultStatus
    from codeimport.registration import build_utilities

    dsn, time_limit = argument
    hostname = f"bench-machine-{index}"
    store = make_store(dsn)
    utilities = build_utilities(lambda: store)
    jobs, workflow = utilities.jobs, utilities.workflow
    # Register the machine before timing (it would happen once in life).
    utilities.machines.getOrCreateOnline(hostname)
    store.commit()

    def cycle():
        job = jobs.getJobForMachine(hostname, WORKER_LIMIT)
        store.commit()
        if job is None:
            return None
        pair = (job.id, job.code_import_id)
        workflow.finishJob(job, CodeImportResultStatus.SUCCESS, None)
        store.commit()
        return pair

    try:
        return run_cycles(barrier, time_limit, cycle)
    finally:
        store.close()


def check_exactly_once(db, claimed, loaded):
    """Check the audit trail of one run; return a dict of findings.

    `claimed` lists (job id, code import id) pairs as the workers saw
    them; `loaded` is the number of due jobs the run started with.
    """
    job_ids = [job_id for job_id, _ in claimed]
    import_ids = [import_id for _, import_id in claimed]
    rows = db.execute(
        "SELECT"
        " count(*) FILTER (WHERE starts <> 1 OR finishes <> 1),"
        " count(*) FILTER (WHERE starts = 1 AND finishes = 1)"
        " FROM (SELECT code_import,"
        "  count(*) FILTER (WHERE entry_type = %s) AS starts,"
        "  count(*) FILTER (WHERE entry_type = %s) AS finishes"
        "  FROM codeimportevent WHERE code_import IS NOT NULL"
        "  GROUP BY code_import) AS per_import",
        (_START, _FINISH))
    bad_events, good_events = rows[0]
    results = db.execute(
        "SELECT count(*), count(DISTINCT code_import),"
        " count(*) FILTER (WHERE status <> %s) FROM codeimportresult",
        (_SUCCESS,))[0]
    jobs = db.execute(
        "SELECT count(*) FILTER (WHERE state = 10"
        "  AND date_due <= CURRENT_TIMESTAMP),"
        " count(*) FILTER (WHERE state = 30),"
        " count(*) FILTER (WHERE state = 10"
        "  AND date_due > CURRENT_TIMESTAMP + interval '5 hours')"
        " FROM codeimportjob")[0]
    findings = {
        "claimed": len(claimed),
        "loaded": loaded,
        "duplicate_job_claims": len(job_ids) - len(set(job_ids)),
        "duplicate_import_claims": len(import_ids) - len(set(import_ids)),
        "imports_with_one_start_one_finish": good_events,
        "imports_with_other_event_counts": bad_events,
        "results": results[0],
        "imports_with_results": results[1],
        "non_success_results": results[2],
        "due_jobs_left": jobs[0],
        "running_jobs_left": jobs[1],
        "next_jobs_created": jobs[2],
    }
    findings["ok"] = (
        findings["duplicate_job_claims"] == 0
        and findings["duplicate_import_claims"] == 0
        and bad_events == 0
        and good_events == len(claimed)
        and results[0] == results[1] == len(claimed)
        and results[2] == 0
        and jobs[1] == 0
        and jobs[2] == len(claimed)
        and len(claimed) + jobs[0] == loaded
    )
    return findings


def measure_cycles(db, config, worker, baseline):
    """Run `worker` at each process count on a fresh queue of due jobs;
    return one row per count, each run checked by `check_exactly_once`.

    `worker` is a `run_processes` target taking ``(dsn, time limit)``
    whose outcome also lists the (job id, import id) pairs it claimed
    and the CPU time it used.
    """
    ceiling = {row["processes"]: row["per_second"]
               for row in baseline.get("rows", [])}
    rows = []
    for processes in config.process_counts:
        db.reset()
        db.load_pending(config.claim_jobs, due=True)
        db.vacuum()
        outcomes = run_processes(
            worker, [(db.dsn, config.claim_time_limit)] * processes)
        cycles, elapsed, rate = summarise(outcomes)
        claimed = [pair for outcome in outcomes
                   for pair in outcome["claimed"]]
        check = check_exactly_once(db, claimed, config.claim_jobs)
        rows.append({
            "processes": processes,
            "jobs": config.claim_jobs,
            "cycles": cycles,
            "seconds": round(elapsed, 3),
            "per_second": round(rate),
            "ratio_to_baseline": (round(rate / ceiling[processes], 3)
                                  if ceiling.get(processes) else None),
            # CPU the machine processes themselves spent per cycle (the
            # database's share is not included).
            "client_cpu_ms_per_cycle": (
                round(sum(o["cpu"] for o in outcomes) / cycles * 1000, 2)
                if cycles else None),
            "drained": check["due_jobs_left"] == 0,
            "exactly_once": check["ok"],
            "check": check,
        })
    return rows


def run(db, config, baseline):
    """Measure cycles/s at each process count; check every run."""
    return {"rows": measure_cycles(db, config, _worker, baseline)}
