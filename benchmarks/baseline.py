"""Section 1: the raw write ceiling of this machine.

Each transaction updates one random row of a 10,000-row table and inserts
one row into a history table, through plain psycopg2 (BEGIN, UPDATE,
INSERT, COMMIT: four round trips, one WAL flush), like pgbench's
"simple update".  Every other rate in the report is also printed as a
ratio to this one at the same number of processes.
"""

from __future__ import annotations

import random
import time

import psycopg2

from benchmarks.runner import run_processes
from benchmarks.runner import summarise

ROWS = 10_000


def _setup(db):
    db.execute(
        "DROP TABLE IF EXISTS bench_history, bench_account;"
        " CREATE TABLE bench_account (id integer PRIMARY KEY,"
        "  balance bigint NOT NULL DEFAULT 0);"
        " CREATE TABLE bench_history (id bigserial PRIMARY KEY,"
        "  account integer NOT NULL, delta integer NOT NULL,"
        "  date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP);"
        f" INSERT INTO bench_account (id) SELECT generate_series(1, {ROWS})")
    db.execute("VACUUM ANALYZE bench_account", autocommit=True)


def _worker(index, argument, barrier):
    dsn, duration = argument
    rng = random.Random(index)
    connection = psycopg2.connect(dsn)
    cursor = connection.cursor()
    cursor.execute("SELECT 1")
    connection.commit()
    barrier.wait()
    start = time.monotonic()
    stop = start + duration
    ops = 0
    while True:
        account, delta = rng.randint(1, ROWS), rng.randint(-100, 100)
        cursor.execute(
            "UPDATE bench_account SET balance = balance + %s WHERE id = %s",
            (delta, account))
        cursor.execute(
            "INSERT INTO bench_history (account, delta) VALUES (%s, %s)",
            (account, delta))
        connection.commit()
        ops += 1
        if ops % 20 == 0 and time.monotonic() >= stop:
            break
    end = time.monotonic()
    connection.close()
    return {"start": start, "end": end, "ops": ops}


def run(db, config):
    """Measure transactions/s at each process count in the config."""
    _setup(db)
    rows = []
    for processes in config.process_counts:
        outcomes = run_processes(
            _worker, [(db.dsn, config.baseline_seconds)] * processes)
        ops, elapsed, rate = summarise(outcomes)
        rows.append({"processes": processes, "transactions": ops,
                     "seconds": round(elapsed, 3), "per_second": round(rate)})
    db.execute("DROP TABLE bench_history, bench_account")
    return {"rows": rows}
