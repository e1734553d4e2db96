"""Per-thread stores and the retried per-request transaction."""

from __future__ import annotations

import threading

import psycopg2
import psycopg2.extensions
import pytest
from storm.exceptions import DisconnectionError

from codeimport.database import make_store
from codeimport.xmlrpc.transactions import DatabaseUnavailable
from codeimport.xmlrpc.transactions import ThreadStores
from codeimport.xmlrpc.transactions import is_retryable
from codeimport.xmlrpc.transactions import run_in_transaction
from codeimport.xmlrpc.transactions import service_dsn


class PgError(Exception):
    def __init__(self, pgcode):
        super().__init__(f"SQLSTATE {pgcode}")
        self.pgcode = pgcode


class FakeStore:
    def __init__(self, commit_errors=()):
        self.commits = 0
        self.rollbacks = 0
        self._commit_errors = list(commit_errors)

    def commit(self):
        if self._commit_errors:
            raise self._commit_errors.pop(0)
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1


def failing(*errors, result="done"):
    """A function raising `errors` one call at a time, then returning."""
    errors = list(errors)
    calls = []

    def function():
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    function.calls = calls
    return function


def test_run_in_transaction_commits_and_returns():
    store = FakeStore()

    assert run_in_transaction(store, lambda: 42) == 42
    assert (store.commits, store.rollbacks) == (1, 0)


def test_run_in_transaction_rolls_back_and_reraises_other_errors():
    store = FakeStore()

    with pytest.raises(KeyError):
        run_in_transaction(store, failing(KeyError("bug")))
    assert (store.commits, store.rollbacks) == (0, 1)


@pytest.mark.parametrize("error", [
    PgError("40001"), PgError("40P01"), DisconnectionError("gone"),
])
def test_run_in_transaction_retries_retryable_errors(error):
    store = FakeStore()
    function = failing(error, error)

    assert run_in_transaction(store, function, backoff=0) == "done"
    assert len(function.calls) == 3
    assert (store.commits, store.rollbacks) == (1, 2)


def test_run_in_transaction_retries_a_failed_commit():
    store = FakeStore(commit_errors=[PgError("40001")])
    function = failing()

    assert run_in_transaction(store, function, backoff=0) == "done"
    assert len(function.calls) == 2


def test_run_in_transaction_gives_up_after_its_attempts():
    store = FakeStore()
    function = failing(*[PgError("40001")] * 10)

    with pytest.raises(DatabaseUnavailable, match="after 3 attempts"):
        run_in_transaction(store, function, attempts=3, backoff=0)
    assert len(function.calls) == 3
    assert store.rollbacks == 3


@pytest.mark.parametrize("code", ["57014", "55P03", "53300", "57P03"])
def test_run_in_transaction_reports_a_busy_database_at_once(code):
    function = failing(PgError(code))

    with pytest.raises(DatabaseUnavailable):
        run_in_transaction(FakeStore(), function, backoff=0)
    assert len(function.calls) == 1


def test_is_retryable_looks_at_the_cause():
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = PgError("40001")

    assert is_retryable(wrapped)
    assert not is_retryable(RuntimeError("plain"))
    assert not is_retryable(PgError("23505"))


def test_service_dsn_names_the_service_and_limits_statements():
    dsn = service_dsn("dbname=x options='-c work_mem=64MB'", "codeimport-x",
                      2.5)
    params = psycopg2.extensions.parse_dsn(dsn)

    assert params["application_name"] == "codeimport-x"
    assert params["options"] == "-c work_mem=64MB -c statement_timeout=2500"
    assert params["connect_timeout"] == "10"


def test_service_dsn_keeps_what_the_dsn_says():
    dsn = service_dsn("postgresql://h/db?application_name=mine"
                      "&connect_timeout=3", "codeimport-x", None)
    params = psycopg2.extensions.parse_dsn(dsn)

    assert params["application_name"] == "mine"
    assert params["connect_timeout"] == "3"
    assert "options" not in params


def backend_role_and_pid(store):
    return store.execute(
        "SELECT current_user, pg_backend_pid()").get_one()


def test_thread_stores_gives_each_thread_its_own_store(codeimport):
    stores = ThreadStores(codeimport.dsn, "importd")
    seen = {}

    def record(name):
        seen[name] = stores.get()
        stores.get().rollback()

    threads = [threading.Thread(target=record, args=(n,)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert seen["a"] is not seen["b"]
        assert stores.get() is stores.get()
        role, _ = backend_role_and_pid(stores.get())
        assert role == "codeimport_importd"
    finally:
        stores.close()


def test_run_in_transaction_survives_a_dropped_connection(codeimport):
    stores = ThreadStores(codeimport.dsn, "branchpuller")
    store = stores.get()
    try:
        _, pid = backend_role_and_pid(store)
        store.commit()
        killer = psycopg2.connect(codeimport.dsn)
        killer.autocommit = True
        killer.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
        killer.close()

        role, new_pid = run_in_transaction(
            store, lambda: backend_role_and_pid(store), backoff=0)

        assert role == "codeimport_branchpuller"
        assert new_pid != pid
    finally:
        stores.close()


# -- errors as a real Storm store raises them ------------------------------

def _raise_sqlstate(store, code):
    """Make PostgreSQL itself fail the statement with SQLSTATE `code`."""
    store.execute(f"DO $$ BEGIN RAISE EXCEPTION 'injected {code}'"
                  f" USING ERRCODE = '{code}'; END $$")


@pytest.mark.parametrize("code", ["40P01", "40001"])
def test_a_real_deadlock_or_serialization_failure_is_retried(
        codeimport, code):
    # Storm wraps psycopg2's error in a type of its own, whose pgcode is
    # not the code: the fakes above cannot show that.
    store = make_store(codeimport.dsn)
    calls = []

    def transaction():
        calls.append(len(calls))
        if len(calls) == 1:
            _raise_sqlstate(store, code)
        return "done"
    try:
        assert run_in_transaction(store, transaction, backoff=0) == "done"
        assert calls == [0, 1]
    finally:
        store.close()


@pytest.mark.parametrize("code", ["57014", "55P03"])
def test_a_real_timeout_reports_a_busy_database(codeimport, code):
    store = make_store(codeimport.dsn)
    try:
        with pytest.raises(DatabaseUnavailable):
            run_in_transaction(store, lambda: _raise_sqlstate(store, code),
                               backoff=0)
    finally:
        store.close()
