"""The helpers that keep Storm's cache true around raw statements.

They use Storm's private bookkeeping (see `codeimport.model._storm`), so
each is checked here against the installed Storm: if an upgrade changes
that bookkeeping, these tests fail rather than the hot paths silently
serving stale objects.
"""

from __future__ import annotations

import gc

from zope.security.proxy import removeSecurityProxy

from codeimport.enums import CodeImportJobState
from codeimport.model._storm import cached
from codeimport.model._storm import column_names
from codeimport.model._storm import forget_deleted
from codeimport.model._storm import invalidate_cached
from codeimport.model._storm import load_row
from codeimport.model.job import CodeImportJob
from codeimport.model.machine import CodeImportMachine


def _naked_machine(codeimport, hostname):
    machine = codeimport.factory.makeCodeImportMachine(hostname=hostname)
    codeimport.store.flush()
    return removeSecurityProxy(machine)


def test_cached_finds_a_live_object_without_a_query(codeimport):
    store = codeimport.store
    machine = _naked_machine(codeimport, "cached-one")
    assert cached(store, CodeImportMachine, machine.id) is machine
    assert cached(store, CodeImportMachine, machine.id + 1000) is None
    assert cached(store, CodeImportJob, machine.id) is None


def test_invalidate_cached_makes_the_next_read_see_raw_writes(codeimport):
    store = codeimport.store
    machine = _naked_machine(codeimport, "before")
    store.execute("UPDATE codeimportmachine SET hostname = 'after'"
                  " WHERE id = ?", (machine.id,))
    assert machine.hostname == "before"
    invalidate_cached(store, CodeImportMachine, machine.id)
    assert machine.hostname == "after"
    # An id nobody holds is no error.
    invalidate_cached(store, CodeImportMachine, machine.id + 1000)


def test_load_row_refreshes_the_live_object_from_the_row(codeimport):
    store = codeimport.store
    job = removeSecurityProxy(codeimport.factory.makeCodeImportJob())
    store.flush()
    before = job.date_due
    result = store.execute(
        "UPDATE codeimportjob SET date_due = date_due + interval '1 day'"
        " WHERE id = ? RETURNING *", (job.id,))
    row = result.get_one()
    loaded = load_row(store, CodeImportJob, result, column_names(result),
                      row)
    assert loaded is job
    assert (job.date_due - before).days == 1


def test_load_row_builds_an_object_the_store_then_returns(codeimport):
    store = codeimport.store
    machine = _naked_machine(codeimport, "built")
    machine_id = machine.id
    store.invalidate()
    del machine
    store.commit()
    result = store.execute("SELECT * FROM codeimportmachine WHERE id = ?",
                           (machine_id,))
    loaded = load_row(store, CodeImportMachine, result,
                      column_names(result), result.get_one())
    assert loaded.hostname == "built"
    assert store.get(CodeImportMachine, machine_id) is loaded


def test_forget_deleted_drops_the_object_but_keeps_its_values(codeimport):
    store = codeimport.store
    machine = _naked_machine(codeimport, "doomed")
    machine_id = machine.id
    store.execute("DELETE FROM codeimportmachine WHERE id = ?",
                  (machine_id,))
    forget_deleted(store, machine)
    assert machine.hostname == "doomed"
    assert cached(store, CodeImportMachine, machine_id) is None
    assert store.get(CodeImportMachine, machine_id) is None
    # Forgetting twice, or an object of no store, is harmless.
    forget_deleted(store, machine)


def _evicted_job(codeimport):
    """A pending job whose Python object is gone while the store keeps
    its bookkeeping: Storm's cache let go of it, but the person it
    references still holds a hook on it."""
    store = codeimport.store
    job = removeSecurityProxy(codeimport.factory.makeCodeImportJob())
    person = removeSecurityProxy(codeimport.factory.makePerson())
    job.requesting_user = person
    store.flush()
    job_id = job.id
    store._cache.clear()
    del job
    gc.collect()
    info = store._alive.get((CodeImportJob, (job_id,)))
    assert info is not None and info.get_obj() is None
    return job_id, person


def test_cached_rebuilds_an_object_whose_python_object_was_collected(
        codeimport):
    job_id, _ = _evicted_job(codeimport)
    job = cached(codeimport.store, CodeImportJob, job_id)
    assert job is not None and job.id == job_id


def test_a_claim_of_an_evicted_job_returns_it_running(codeimport):
    job_id, _ = _evicted_job(codeimport)
    job = codeimport.utilities.jobs.getJobForMachine("evicted-host", 2)
    assert job.id == job_id
    assert job.state == CodeImportJobState.RUNNING
    assert job.machine_id is not None
