"""The scheduler's hot queries walk their partial indexes, never the table.

With ~50,000 PENDING jobs (most not due yet) and 2,000 RUNNING ones,
loaded in bulk and ANALYZEd, the statements that `getJobForMachine` and
`getReclaimableJobs` really send are captured with a Storm tracer and
EXPLAINed as they were sent:

* the claim walks ``codeimportjob__pending__idx`` in order and sorts
  nothing, so it stops at the first unlocked due row whatever the depth
  of the queue (the benchmarks measure the latency: ``make bench``);
* the reclaim query uses ``codeimportjob__running_heartbeat__idx``;
* no statement of `getJobForMachine` scans ``codeimportjob`` sequentially.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
import pytest
from storm.store import Store
from storm.tracer import install_tracer
from storm.tracer import remove_tracer_type

from codeimport.database import make_store
from codeimport.enums import CodeImportResultStatus
from codeimport.prepared import _REGISTRY
from codeimport.registration import Utilities
from codeimport.registration import build_utilities

PENDING = 50_000
DUE = 1_000
RUNNING = 2_000

# One statement per batch: branches, their imports and one job each.
_LOAD = """
WITH owner AS (SELECT id FROM person WHERE name = 'plan-owner'),
branches AS (
    INSERT INTO branch (owner, project, name, unique_name, branch_type)
    SELECT owner.id, 'plans', 'import-' || g, '~plan-owner/plans/import-' || g,
           3
    FROM generate_series(?, ?) AS g, owner
    RETURNING id, name),
imports AS (
    INSERT INTO codeimport
        (branch, registrant, owner, rcs_type, url, review_status)
    SELECT branches.id, owner.id, owner.id, 4,
           'http://example.com/' || branches.name, 20
    FROM branches, owner
    RETURNING id)
INSERT INTO codeimportjob
    (code_import, date_due, state, machine, heartbeat, date_started, logtail)
SELECT imports.id, {date_due}, {state}, {machine}, {heartbeat},
       {date_started}, {logtail}
FROM imports
"""


@dataclass
class World:
    dsn: str
    store: Store
    utilities: Utilities


class StatementRecorder:
    """A Storm tracer keeping (statement, raw parameters) pairs."""

    def __init__(self):
        self.statements = []

    def connection_raw_execute(self, connection, raw_cursor, statement,
                               params):
        self.statements.append(
            (statement, tuple(connection.to_database(params))))


def _load(store, first, count, **columns):
    values = {"date_due": "CURRENT_TIMESTAMP", "state": "10",
              "machine": "NULL", "heartbeat": "NULL",
              "date_started": "NULL", "logtail": "NULL"}
    values.update(columns)
    store.execute(_LOAD.format(**values), (first, first + count - 1))


@pytest.fixture(scope="module")
def world(codeimport_database):
    """A store and utilities over the big queue, loaded once for the
    module (committed and analyzed); emptied again afterwards."""
    codeimport_database.reset()
    store = make_store(codeimport_database.dsn)
    try:
        store.execute("INSERT INTO person (name, displayname)"
                      " VALUES ('plan-owner', 'Plan owner')")
        runner = store.execute(
            "INSERT INTO codeimportmachine (hostname, state, heartbeat)"
            " VALUES ('plan-runner', 20, CURRENT_TIMESTAMP) RETURNING id"
        ).get_one()[0]
        _load(store, 1, DUE,
              date_due="CURRENT_TIMESTAMP - random() * interval '1 hour'")
        _load(store, 1 + DUE, PENDING - DUE,
              date_due="CURRENT_TIMESTAMP + interval '1 minute'"
                       " + random() * interval '6 hours'")
        _load(store, 1 + PENDING, RUNNING,
              date_due="CURRENT_TIMESTAMP - interval '1 hour'", state="30",
              machine=str(runner),
              heartbeat="CURRENT_TIMESTAMP - random() * interval '1 minute'",
              date_started="CURRENT_TIMESTAMP - interval '20 minutes'",
              logtail="''")
        for table in ("branch", "codeimport", "codeimportjob",
                      "codeimportmachine"):
            store.execute(f"ANALYZE {table}")
        utilities = build_utilities(lambda: store)
        utilities.machines.getOrCreateOnline("plan-machine")
        store.commit()
        yield World(codeimport_database.dsn, store, utilities)
    finally:
        store.rollback()
        store.close()
        codeimport_database.reset()


def _record(call):
    recorder = StatementRecorder()
    install_tracer(recorder)
    try:
        call()
    finally:
        remove_tracer_type(StatementRecorder)
    return recorder.statements


def _plans(dsn, statements, generic=False):
    """EXPLAIN each data statement; return [(statement, plan tree)].

    With `generic`, explain instead the generic plan of each statement
    that runs prepared (`codeimport.prepared`): the plan PostgreSQL
    settles on after a few executions, made without the parameters'
    values.
    """
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            if generic:
                cursor.execute("SET plan_cache_mode = force_generic_plan")
            plans = []
            for statement, params in statements:
                verb = statement.lstrip().split(None, 1)[0].upper()
                if verb not in ("SELECT", "WITH", "UPDATE", "INSERT",
                                "DELETE"):
                    continue
                if generic:
                    entry = _REGISTRY.get(statement)
                    if entry is None:
                        continue
                    cursor.execute(entry.prepare)
                    cursor.execute("EXPLAIN (FORMAT JSON) " + entry.execute,
                                   params or None)
                else:
                    cursor.execute("EXPLAIN (FORMAT JSON) " + statement,
                                   params or None)
                plans.append((statement, cursor.fetchone()[0][0]["Plan"]))
        return plans
    finally:
        connection.rollback()
        connection.close()


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _scans_on(plan, table):
    return [node for node in _nodes(plan)
            if node.get("Relation Name") == table]


@pytest.mark.parametrize("generic", [False, True],
                         ids=["custom plan", "generic plan"])
def test_claim_walks_the_pending_index(world, generic):
    jobs = world.utilities.jobs
    running = world.store.execute(
        "SELECT count(*) FROM codeimportjob WHERE state = 30").get_one()[0]
    statements = _record(
        lambda: jobs.getJobForMachine("plan-machine", 10))
    assert world.store.execute(
        "SELECT count(*) FROM codeimportjob WHERE state = 30"
    ).get_one()[0] == running + 1, "getJobForMachine claimed nothing"
    world.store.commit()
    plans = _plans(world.dsn, statements, generic)
    claims = [(statement, plan) for statement, plan in plans
              if "SKIP LOCKED" in statement
              and "UPDATE codeimportjob" in statement]
    assert len(claims) == 1, [statement for statement, _ in plans]
    _, claim = claims[0]
    indexes = {node.get("Index Name") for node in _nodes(claim)}
    assert "codeimportjob__pending__idx" in indexes, claim
    # Walking the index in order: nothing to sort, so no need to read
    # every due row before taking the first.
    assert not [node for node in _nodes(claim)
                if node["Node Type"] in ("Sort", "Incremental Sort")], claim
    for statement, plan in plans:
        seq_scans = [node for node in _scans_on(plan, "codeimportjob")
                     if node["Node Type"] == "Seq Scan"]
        assert not seq_scans, (statement, plan)
    # The machine's poll looks for stale jobs along the heartbeat index.
    polls = [plan for statement, plan in plans
             if statement.startswith("UPDATE codeimportmachine")]
    assert len(polls) == 1, [statement for statement, _ in plans]
    assert {node.get("Index Name")
            for node in _scans_on(polls[0], "codeimportjob")} == {
        "codeimportjob__running_heartbeat__idx"}, polls[0]


def test_reclaimable_jobs_use_the_heartbeat_index(world):
    statements = _record(world.utilities.jobs.getReclaimableJobs)
    world.store.rollback()
    plans = [(statement, plan)
             for statement, plan in _plans(world.dsn, statements)
             if "heartbeat <" in statement]
    assert len(plans) == 1, statements
    statement, plan = plans[0]
    indexes = {node.get("Index Name")
               for node in _scans_on(plan, "codeimportjob")}
    assert indexes == {"codeimportjob__running_heartbeat__idx"}, plan


@pytest.mark.parametrize("generic", [False, True],
                         ids=["custom plan", "generic plan"])
def test_finish_reads_by_index_only(world, generic):
    # The plan is all that is wanted: the finish itself is rolled back.
    jobs, workflow = world.utilities.jobs, world.utilities.workflow
    job = jobs.getJobForMachine("plan-machine", 10)
    assert job is not None
    statements = _record(lambda: workflow.finishJob(
        job, CodeImportResultStatus.FAILURE, None))
    world.store.rollback()
    plans = [(statement, plan) for statement, plan
             in _plans(world.dsn, statements, generic)
             if "DELETE FROM codeimportjob" in statement]
    assert len(plans) == 1, [statement for statement, _ in statements]
    statement, plan = plans[0]
    for table in ("codeimportjob", "codeimport", "codeimportresult",
                  "branch"):
        seq_scans = [node for node in _scans_on(plan, table)
                     if node["Node Type"] == "Seq Scan"]
        assert not seq_scans, (table, plan)
