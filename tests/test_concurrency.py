"""Concurrency: exactly-once claims across OS processes (D1), and fenced
finish/reclaim races (D14).

Each child process opens its own connection with `make_store` and uses
the trusted utilities from `build_utilities`, as the scheduler service
does.  Data is committed by the test before the children start; the
fixture empties the database again before the next test.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter

import pytest
from corehelpers import make_stale

from codeimport.database import make_store
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import NoSuchCodeImportJob
from codeimport.registration import build_utilities

PROCESSES = 5
JOBS = 300
TIMEOUT = 60

_spawn = multiprocessing.get_context("spawn")


# -- child processes --------------------------------------------------------

def claim_until_empty(dsn, hostname, worker_limit, barrier, results):
    """Claim jobs one transaction at a time until none is handed out."""
    store = make_store(dsn)
    try:
        utilities = build_utilities(lambda: store)
        claimed = []
        barrier.wait(TIMEOUT)
        while True:
            job = utilities.jobs.getJobForMachine(hostname, worker_limit)
            job_id = None if job is None else job.id
            store.commit()
            if job_id is None:
                break
            claimed.append(job_id)
        results.put((hostname, claimed))
    except BaseException as error:  # report, never hang the parent
        results.put((hostname, repr(error)))
    finally:
        store.close()


def finish_or_reclaim(dsn, action, job_id, hold, release, results):
    """Run `action` on the job; with `hold`, wait for `release` before
    committing (the row lock is held meanwhile)."""
    store = make_store(dsn)
    try:
        utilities = build_utilities(lambda: store)
        job = utilities.jobs.getById(job_id)
        reply = "done"
        try:
            if action == "finish":
                utilities.workflow.finishJob(
                    job, CodeImportResultStatus.SUCCESS, None)
            elif action == "fail":
                utilities.workflow.finishJob(
                    job, CodeImportResultStatus.FAILURE, None)
            elif action == "reclaim":
                utilities.workflow.reclaimJob(job)
            elif action == "suspend":
                job.code_import.updateFromData(
                    {"review_status": CodeImportReviewStatus.SUSPENDED},
                    None)
            elif action == "delete":
                utilities.code_imports.delete(job.code_import)
            elif action == "watchdog":
                reply = f"reclaimed {utilities.workflow.reclaimStaleJobs()}"
            else:
                utilities.workflow.updateHeartbeat(job, "late")
        except NoSuchCodeImportJob as error:
            store.rollback()
            results.put((action, f"NoSuchCodeImportJob: {error}"))
            return
        if hold:
            results.put((action, "locked"))
            release.wait(TIMEOUT)
        store.commit()
        results.put((action, reply))
    except BaseException as error:
        results.put((action, repr(error)))
    finally:
        store.close()


# -- helpers ----------------------------------------------------------------

def start(target, *args):
    process = _spawn.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def collect(results, count):
    return [results.get(timeout=TIMEOUT) for _ in range(count)]


def join_all(processes):
    for process in processes:
        process.join(TIMEOUT)
        assert process.exitcode == 0


def make_due_jobs(codeimport, count):
    """Commit `count` REVIEWED imports, each with a job due now.

    Written with set-based SQL: registering hundreds of imports one by
    one would cost more than the claims under test.
    """
    owner = codeimport.factory.makePerson(name="owner")
    store = codeimport.store
    store.execute(
        "INSERT INTO branch (owner, project, name, unique_name, branch_type)"
        " SELECT ?, 'proj', 'b' || n, '~owner/proj/b' || n, 3"
        " FROM generate_series(1, ?) n", (owner.id, count))
    store.execute(
        "INSERT INTO codeimport (branch, registrant, owner, rcs_type,"
        " target_rcs_type, url, review_status)"
        " SELECT id, ?, ?, 4, 'BZR', 'git://example.com/' || name, 20"
        " FROM branch WHERE owner = ?", (owner.id, owner.id, owner.id))
    ids = [row[0] for row in store.execute(
        "INSERT INTO codeimportjob (code_import, date_due, state)"
        " SELECT id, CURRENT_TIMESTAMP, 10 FROM codeimport RETURNING id")]
    codeimport.commit()
    return ids


def rows(codeimport, query, *params):
    return list(codeimport.store.execute(query, params))


# -- exactly-once claims ----------------------------------------------------

def test_getJobForMachine_many_processes_claim_each_job_exactly_once(
        codeimport):
    job_ids = make_due_jobs(codeimport, JOBS)
    barrier = _spawn.Barrier(PROCESSES)
    results = _spawn.Queue()
    processes = [
        start(claim_until_empty, codeimport.dsn, f"importer-{n}", 10 ** 6,
              barrier, results)
        for n in range(PROCESSES)
    ]
    outcome = dict(collect(results, PROCESSES))
    join_all(processes)
    for hostname, claimed in outcome.items():
        assert isinstance(claimed, list), (hostname, claimed)

    claims = Counter(i for claimed in outcome.values() for i in claimed)
    assert sorted(claims) == sorted(job_ids)
    assert set(claims.values()) == {1}

    codeimport.abort()
    running = dict(rows(
        codeimport,
        "SELECT j.id, m.hostname FROM codeimportjob j"
        " JOIN codeimportmachine m ON m.id = j.machine WHERE j.state = ?",
        CodeImportJobState.RUNNING.value))
    assert sorted(running) == sorted(job_ids)
    for hostname, claimed in outcome.items():
        assert {running[i] for i in claimed} <= {hostname}

    starts = rows(
        codeimport,
        "SELECT e.code_import, m.hostname FROM codeimportevent e"
        " JOIN codeimportmachine m ON m.id = e.machine"
        " WHERE e.entry_type = ?", CodeImportEventType.START.value)
    jobs_by_import = dict(rows(
        codeimport, "SELECT code_import, id FROM codeimportjob"))
    assert len(starts) == JOBS
    assert sorted(ci for ci, _ in starts) == sorted(jobs_by_import)
    for code_import_id, hostname in starts:
        assert running[jobs_by_import[code_import_id]] == hostname


def test_getJobForMachine_same_host_in_many_processes_keeps_worker_limit(
        codeimport):
    make_due_jobs(codeimport, 20)
    codeimport.factory.makeCodeImportMachine(hostname="busy",
                                             set_online=True)
    codeimport.commit()
    barrier = _spawn.Barrier(PROCESSES)
    results = _spawn.Queue()
    processes = [
        start(claim_until_empty, codeimport.dsn, "busy", 3, barrier, results)
        for _ in range(PROCESSES)
    ]
    outcome = collect(results, PROCESSES)
    join_all(processes)
    claimed = [i for _, ids in outcome for i in ids]
    assert len(claimed) == len(set(claimed)) == 3


def test_getJobForMachine_new_host_in_many_processes_registers_once(
        codeimport):
    make_due_jobs(codeimport, 10)
    barrier = _spawn.Barrier(PROCESSES)
    results = _spawn.Queue()
    processes = [
        start(claim_until_empty, codeimport.dsn, "fresh", 100, barrier,
              results)
        for _ in range(PROCESSES)
    ]
    outcome = collect(results, PROCESSES)
    join_all(processes)
    assert all(isinstance(ids, list) for _, ids in outcome), outcome
    codeimport.abort()
    assert rows(codeimport, "SELECT count(*) FROM codeimportmachine")[0][0] \
        == 1
    assert rows(codeimport, "SELECT count(*) FROM codeimportevent"
                " WHERE entry_type = ?",
                CodeImportEventType.ONLINE.value)[0][0] == 1
    assert sorted(i for _, ids in outcome for i in ids) == sorted(
        r[0] for r in rows(codeimport, "SELECT id FROM codeimportjob"))


# -- fenced transitions (D14) -----------------------------------------------

def wait_until_blocked(codeimport, count=1):
    """Wait until `count` other sessions wait for a row lock."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        waiting = rows(
            codeimport,
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )[0][0]
        codeimport.abort()
        if waiting >= count:
            return
        time.sleep(0.01)
    raise AssertionError("the second session never waited for the lock")


def race(codeimport, first, second, second_waits=True):
    """Run `first` holding its locks, start `second`, then release."""
    job = codeimport.factory.makeRunningJob()
    make_stale(codeimport.store, job, 1000)
    job_id, import_id = job.id, job.code_import.id
    codeimport.commit()
    results = _spawn.Queue()
    release = _spawn.Event()
    winner = start(finish_or_reclaim, codeimport.dsn, first, job_id, True,
                   release, results)
    assert results.get(timeout=TIMEOUT) == (first, "locked")
    loser = start(finish_or_reclaim, codeimport.dsn, second, job_id, False,
                  release, results)
    if second_waits:
        wait_until_blocked(codeimport)
    else:
        # It skips what `first` holds: let it finish before releasing.
        outcome = [results.get(timeout=TIMEOUT)]
    release.set()
    if second_waits:
        outcome = collect(results, 2)
    else:
        outcome += collect(results, 1)
    outcome = dict(outcome)
    join_all([winner, loser])
    codeimport.abort()
    return outcome, job_id, import_id


def import_history(codeimport, import_id):
    results = rows(codeimport, "SELECT status FROM codeimportresult"
                   " WHERE code_import = ?", import_id)
    events = rows(codeimport, "SELECT entry_type FROM codeimportevent"
                  " WHERE code_import = ? AND entry_type IN (?, ?)",
                  import_id, CodeImportEventType.FINISH.value,
                  CodeImportEventType.RECLAIM.value)
    jobs = rows(codeimport, "SELECT state FROM codeimportjob"
                " WHERE code_import = ?", import_id)
    return ([CodeImportResultStatus.items[r[0]].name for r in results],
            [CodeImportEventType.items[e[0]].name for e in events],
            [CodeImportJobState.items[j[0]].name for j in jobs])


@pytest.mark.parametrize("first, second, status, event", [
    ("finish", "reclaim", "SUCCESS", "FINISH"),
    ("reclaim", "finish", "RECLAIMED", "RECLAIM"),
])
def test_finishJob_and_reclaimJob_race_finalises_exactly_once_D14(
        codeimport, first, second, status, event):
    outcome, job_id, import_id = race(codeimport, first, second)
    assert outcome[first] == "done"
    assert outcome[second] == (
        f"NoSuchCodeImportJob: Job {job_id} not found.")
    assert import_history(codeimport, import_id) == (
        [status], [event], ["PENDING"])


def test_updateHeartbeat_racing_reclaim_loses_D14(codeimport):
    outcome, job_id, import_id = race(codeimport, "reclaim", "heartbeat")
    assert outcome == {
        "reclaim": "done",
        "heartbeat": f"NoSuchCodeImportJob: Job {job_id} not found.",
    }
    assert import_history(codeimport, import_id) == (
        ["RECLAIMED"], ["RECLAIM"], ["PENDING"])


# -- status changes racing the end of a job (BEHAVIOUR §5.5) ---------------

def import_state(codeimport, import_id):
    status = rows(codeimport, "SELECT review_status FROM codeimport"
                  " WHERE id = ?", import_id)[0][0]
    return CodeImportReviewStatus.items[status].name


@pytest.mark.parametrize("first, second, result", [
    ("fail", "suspend", "FAILURE"),
    ("suspend", "fail", "FAILURE"),
    ("finish", "suspend", "SUCCESS"),
    ("suspend", "finish", "SUCCESS"),
    ("reclaim", "suspend", "RECLAIMED"),
    ("suspend", "reclaim", "RECLAIMED"),
])
def test_suspension_racing_a_jobs_end_leaves_no_job(
        codeimport, first, second, result):
    # Whichever commits first, the other sees it: a job that ends after
    # the suspension makes no next job, and a suspension after the job
    # ended deletes the next one.
    outcome, job_id, import_id = race(codeimport, first, second)
    assert outcome == {first: "done", second: "done"}
    results, _, jobs = import_history(codeimport, import_id)
    assert (results, jobs) == ([result], [])
    assert import_state(codeimport, import_id) == "SUSPENDED"


def test_watchdog_skips_a_job_whose_finish_is_under_way(codeimport):
    outcome, job_id, import_id = race(codeimport, "finish", "watchdog",
                                      second_waits=False)
    assert outcome == {"finish": "done", "watchdog": "reclaimed []"}
    assert import_history(codeimport, import_id) == (
        ["SUCCESS"], ["FINISH"], ["PENDING"])


def test_finish_waits_for_the_watchdog_and_then_finds_no_job(codeimport):
    outcome, job_id, import_id = race(codeimport, "watchdog", "finish")
    assert outcome == {
        "watchdog": f"reclaimed [{job_id}]",
        "finish": f"NoSuchCodeImportJob: Job {job_id} not found.",
    }
    assert import_history(codeimport, import_id) == (
        ["RECLAIMED"], ["RECLAIM"], ["PENDING"])


def test_deleting_an_import_waits_for_its_finish_and_takes_the_next_job(
        codeimport):
    # The delete locks the import first, so it waits for the finish and
    # then sees (and deletes) the job the finish scheduled.
    outcome, job_id, import_id = race(codeimport, "finish", "delete")
    assert outcome == {"finish": "done", "delete": "done"}
    assert rows(codeimport, "SELECT count(*) FROM codeimport WHERE id = ?",
                import_id) == [(0,)]
    assert rows(codeimport, "SELECT count(*) FROM codeimportjob"
                " WHERE code_import = ?", import_id) == [(0,)]


def test_finishing_a_job_whose_import_was_deleted_finds_no_job(codeimport):
    outcome, job_id, import_id = race(codeimport, "delete", "finish")
    assert outcome == {
        "delete": "done",
        "finish": f"NoSuchCodeImportJob: Job {job_id} not found.",
    }


def test_watchdog_spares_a_job_whose_heartbeat_arrives_meanwhile(
        codeimport):
    # The watchdog saw the job stale, but the heartbeat holding the job's
    # row commits first: once the watchdog has the lock, it looks again.
    outcome, job_id, import_id = race(codeimport, "heartbeat", "watchdog")
    assert outcome == {"heartbeat": "done", "watchdog": "reclaimed []"}
    assert import_history(codeimport, import_id) == ([], [], ["RUNNING"])
