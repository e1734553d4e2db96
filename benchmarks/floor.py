"""Section 2's floor: the claim cycle's own SQL through bare psycopg2.

Each process runs exactly the statements the library sends for one
claim cycle -- the machine's poll, the claim, then the finish, in the
same two transactions -- prepared once per connection as the library
prepares them (`codeimport.prepared`), but from a plain psycopg2 loop:
no Storm, no objects, no security proxies.  It is the fastest this
schema and these statements allow on the machine.  Set beside section
2 at the same process count, the gap between the two rows is the
library's own cost in Python; the gap between this row and the baseline
is the database work a cycle does (about ten rows written and their
indexes, two commits).

The statements come from the model modules themselves
(`poll_statement`, `claim_statement`, `finish_statement`), so this row
always measures the SQL the library currently sends.
"""

from __future__ import annotations

from benchmarks.claims import WORKER_LIMIT
from benchmarks.claims import measure_cycles
from benchmarks.runner import run_cycles


def _worker(index, argument, barrier):
    import psycopg2

    from codeimport.database import make_store
    from codeimport.enums import CodeImportResultStatus
    from codeimport.model.statements import claim_statement
    from codeimport.model.statements import finish_statement
    from codeimport.model.statements import poll_statement
    from codeimport.prepared import prepared_forms
    from codeimport.registration import build_utilities
    from codeimport.settings import Settings

    dsn, time_limit = argument
    hostname = f"floor-machine-{index}"
    settings = Settings()
    store = make_store(dsn)
    build_utilities(lambda: store).machines.getOrCreateOnline(hostname)
    store.commit()
    store.close()
    connection = psycopg2.connect(dsn)
    cursor = connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")

    def run(statement_and_params):
        statement, params = statement_and_params
        prepare, execute = prepared_forms(statement)
        if prepare not in done:
            cursor.execute(prepare)
            done.add(prepare)
        cursor.execute(execute, params)
        return cursor.fetchone()

    done = set()
    connection.commit()

    def cycle():
        machine_id, _ = run(poll_statement(settings, hostname))
        row = run(claim_statement(machine_id, WORKER_LIMIT))
        connection.commit()
        if row is None:
            return None
        names = [column[0] for column in cursor.description]
        job_id = row[names.index("id")]
        finished = run(finish_statement(
            settings, job_id, CodeImportResultStatus.SUCCESS, None))
        assert finished is not None, f"job {job_id} not finished"
        connection.commit()
        return job_id, row[names.index("code_import")]

    try:
        return run_cycles(barrier, time_limit, cycle)
    finally:
        connection.close()


def run(db, config, baseline, claims):
    """Measure the floor at each process count, checking every run as
    section 2 does; compare with the baseline and section 2's rows."""
    library = {row["processes"]: row["per_second"]
               for row in claims.get("rows", [])}
    rows = measure_cycles(db, config, _worker, baseline)
    for row in rows:
        rate = row["per_second"]
        row["library_share"] = (
            round(library[row["processes"]] / rate, 3)
            if library.get(row["processes"]) and rate else None)
    return {"rows": rows}
