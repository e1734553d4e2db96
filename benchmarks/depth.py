"""Section 4a: getJobForMachine latency as the pending queue grows.

The queue grows in place, 1,000 -> 100,000 -> 1,000,000 PENDING jobs,
of which only `DUE` are due now; the rest fall due over the next six
hours, which is what a large installation's queue looks like.  At each
depth one machine times `getJobForMachine` (its whole transaction,
commit included), and after each timed call the claimed job is put back
as a due PENDING job, untimed, so every sample sees the same queue.
The claim walks the partial index in (requested, date_due, id) order and
stops at the first unlocked due row, so the latency should not depend
on the depth; the plan itself is checked by tests/test_query_plans.py.
"""

from __future__ import annotations

import time

from benchmarks.runner import latency_ms

#: Due jobs at every depth (the rest are not due yet).
DUE = 100
HOSTNAME = "bench-depth"

_PUT_BACK = (
    "UPDATE codeimportjob SET state = 10, machine = NULL,"
    " heartbeat = NULL, date_started = NULL, logtail = NULL,"
    " date_due = CURRENT_TIMESTAMP - random() * interval '1 hour'"
    "  - interval '1 second'"
    " WHERE id = ?")


def _measure(dsn, samples, warmup):
    from codeimport.database import make_store
    from codeimport.registration import build_utilities

    store = make_store(dsn)
    try:
        jobs = build_utilities(lambda: store).jobs
        timings = []
        for number in range(warmup + samples):
            start = time.perf_counter()
            job = jobs.getJobForMachine(HOSTNAME, 10)
            store.commit()
            elapsed = time.perf_counter() - start
            if job is None:
                raise RuntimeError("the queue ran out of due jobs")
            store.execute(_PUT_BACK, (job.id,))
            store.commit()
            if number >= warmup:
                timings.append(elapsed)
        return timings
    finally:
        store.close()


def run(db, config):
    db.reset()
    rows = []
    loaded = 0
    for depth in config.depths:
        started = time.monotonic()
        if loaded == 0:
            db.load_pending(DUE, due=True)
            loaded = DUE
        db.load_pending(depth - loaded, due=False)
        loaded = depth
        db.vacuum()
        load_seconds = time.monotonic() - started
        timings = _measure(db.dsn, config.depth_samples, config.warmup)
        rows.append({"pending": depth, "due": DUE,
                     "load_seconds": round(load_seconds, 1),
                     **latency_ms(timings)})
    first, last = rows[0], rows[-1]
    ratio = (last["p99_ms"] / first["p99_ms"]) if first["p99_ms"] else None
    return {"rows": rows,
            "p99_ratio_largest_to_smallest": (
                round(ratio, 2) if ratio is not None else None)}
