"""Running a measurement in several processes at once, and statistics.

Workers are forked processes.  Each one connects and warms up, then all
wait at a barrier so that connecting and importing are never timed; each
worker then times its own loop with the system-wide monotonic clock, and
the rate is the total work divided by the span from the first start to
the last end.  The parent holds no database connection while it forks.
"""

from __future__ import annotations

import math
import multiprocessing
import time
import traceback

__all__ = ["latency_ms", "percentile", "run_cycles", "run_processes",
           "summarise"]

_CONTEXT = multiprocessing.get_context("fork")


def _child(target, index, argument, barrier, queue):
    try:
        outcome = target(index, argument, barrier)
    except BaseException:
        # Let the others go; the parent reports the failure.
        barrier.abort()
        queue.put((index, None, traceback.format_exc()))
    else:
        queue.put((index, outcome, None))


def run_processes(target, arguments, timeout=600, started=None):
    """Run ``target(index, argument, barrier)`` in one process per
    argument and return their outcomes, in order.

    `target` must call ``barrier.wait()`` once it is ready and return a
    dict holding at least ``start`` and ``end`` (``time.monotonic()``
    values) and ``ops`` (units of work done).

    `started`, if given, is called once every process has been forked:
    a thread the caller needs during the run must start there, never
    before the fork.

    :raises RuntimeError: with the worker's traceback if one failed.
    """
    barrier = _CONTEXT.Barrier(len(arguments))
    queue = _CONTEXT.Queue()
    processes = [
        _CONTEXT.Process(target=_child,
                         args=(target, index, argument, barrier, queue),
                         daemon=True)
        for index, argument in enumerate(arguments)
    ]
    for process in processes:
        process.start()
    if started is not None:
        started()
    outcomes = [None] * len(processes)
    errors = []
    deadline = time.monotonic() + timeout
    try:
        for _ in processes:
            remaining = max(1.0, deadline - time.monotonic())
            index, outcome, error = queue.get(timeout=remaining)
            outcomes[index] = outcome
            if error:
                errors.append(f"worker {index}:\n{error}")
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
    if errors:
        raise RuntimeError("\n".join(errors))
    return outcomes


def run_cycles(barrier, time_limit, cycle):
    """A claim-cycle worker's timed loop: wait at `barrier`, then call
    `cycle()` until `time_limit` seconds have passed or the queue is
    empty, and return the outcome `run_processes` expects.

    `cycle()` claims one job and finishes it, returning the (job id,
    code import id) pair it claimed, or None when it found no job.
    SKIP LOCKED may hide the last few rows while others hold them, so
    the queue counts as empty once two looks in a row find none.
    """
    claimed = []
    misses = 0
    barrier.wait()
    start = time.monotonic()
    cpu = time.process_time()
    stop = start + time_limit
    while time.monotonic() < stop:
        pair = cycle()
        if pair is None:
            misses += 1
            if misses >= 2:
                break
            time.sleep(0.05)
            continue
        misses = 0
        claimed.append(pair)
    return {"start": start, "end": time.monotonic(), "ops": len(claimed),
            "claimed": claimed, "cpu": time.process_time() - cpu}


def percentile(values, fraction):
    """The `fraction` quantile of `values` (nearest rank), or None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1,
               max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def summarise(outcomes):
    """Return (total ops, elapsed seconds, ops per second)."""
    ops = sum(outcome["ops"] for outcome in outcomes)
    elapsed = (max(outcome["end"] for outcome in outcomes)
               - min(outcome["start"] for outcome in outcomes))
    return ops, elapsed, (ops / elapsed if elapsed > 0 else 0.0)


def latency_ms(samples):
    """p50 and p99 of `samples` (seconds), in milliseconds."""
    return {
        "p50_ms": _ms(percentile(samples, 0.50)),
        "p99_ms": _ms(percentile(samples, 0.99)),
        "samples": len(samples),
    }


def _ms(value):
    return None if value is None else round(value * 1000, 3)
