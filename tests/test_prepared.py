"""Prepared statements for the hot paths (`codeimport.prepared`)."""

from __future__ import annotations

import psycopg2
import pytest
from storm.database import convert_param_marks

from codeimport.database import make_store
from codeimport.enums import CodeImportResultStatus
from codeimport.errors import ConfigurationError
from codeimport.prepared import _REGISTRY
from codeimport.prepared import PREPARE_VARIABLE
from codeimport.prepared import prepared
from codeimport.prepared import preparing_by_default
from codeimport.registration import build_utilities
from codeimport.sqlstate import sqlstate

# A statement of the tests' own: "?" marks, one inside a literal that
# must stay a literal.
STATEMENT = prepared(
    "SELECT ? + 1, '?' || ?::text, 'it''s ?', count(*)"
    " FROM codeimportmachine WHERE hostname = ?")


def _entry(statement):
    return _REGISTRY[convert_param_marks(statement, "?", "%s")]


def _prepared_names(store):
    return {row[0] for row in store.execute(
        "SELECT name FROM pg_prepared_statements")}


def test_prepared_returns_the_statement_unchanged():
    assert prepared(STATEMENT) is STATEMENT


def test_marks_outside_literals_become_numbered_parameters():
    entry = _entry(STATEMENT)
    assert entry.prepare.endswith(
        " AS SELECT $1 + 1, '?' || $2::text, 'it''s ?', count(*)"
        " FROM codeimportmachine WHERE hostname = $3")
    assert entry.execute.endswith("(%s, %s, %s)")


def test_a_store_runs_registered_statements_prepared(codeimport):
    store = make_store(codeimport.dsn, prepare=True)
    try:
        name = _entry(STATEMENT).prepare.split()[1]
        assert name not in _prepared_names(store)
        assert store.execute(STATEMENT, (41, "x", "none")).get_one() == (
            42, "?x", "it's ?", 0)
        assert name in _prepared_names(store)
        # A rollback keeps it, and a second run reuses it.
        store.rollback()
        assert store.execute(STATEMENT, (1, "y", "none")).get_one()[0] == 2
        assert len([n for n in _prepared_names(store) if n == name]) == 1
    finally:
        store.close()


def test_a_store_told_not_to_prepare_sends_text(codeimport):
    store = make_store(codeimport.dsn, prepare=False)
    try:
        assert store.execute(STATEMENT, (1, "z", "none")).get_one()[0] == 2
        assert _prepared_names(store) == set()
    finally:
        store.close()


def test_a_new_connection_prepares_again(codeimport):
    # Storm reconnects after a lost connection; the new session has no
    # prepared statements, and the store must not assume it has.
    store = make_store(codeimport.dsn, prepare=True)
    try:
        store.execute(STATEMENT, (1, "a", "none")).get_one()
        store.commit()
        pid = store.execute("SELECT pg_backend_pid()").get_one()[0]
        store.commit()
        killer = psycopg2.connect(codeimport.dsn)
        killer.autocommit = True
        killer.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
        killer.close()
        with pytest.raises(Exception):
            store.execute("SELECT 1")
        store.rollback()
        assert store.execute(STATEMENT, (2, "b", "none")).get_one()[0] == 3
        assert store.execute("SELECT pg_backend_pid()").get_one()[0] != pid
    finally:
        store.close()


def test_the_hot_paths_run_prepared(codeimport):
    store = make_store(codeimport.dsn)
    try:
        code_import = codeimport.factory.makeCodeImport()
        codeimport.commit()
        utilities = build_utilities(lambda: store)
        utilities.machines.getOrCreateOnline("prepared-host")
        store.commit()
        job = utilities.jobs.getJobForMachine("prepared-host", 2)
        assert job.code_import_id == code_import.id
        utilities.workflow.updateHeartbeat(job, "tail")
        utilities.workflow.finishJob(job, CodeImportResultStatus.SUCCESS,
                                     None)
        store.commit()
        statements = {row[0].split(" AS ", 1)[1][:20] for row in
                      store.execute("SELECT statement"
                                    " FROM pg_prepared_statements")}
        assert statements == {
            "UPDATE codeimportmac",
            "WITH candidate AS (S",
            "UPDATE codeimportjob",
            "WITH c AS (  SELECT ",
        }
    finally:
        store.close()


@pytest.mark.parametrize("value, expected", [
    (None, True), ("on", True), ("ON ", True), ("1", True),
    ("off", False), ("no", False), ("0", False), ("false", False),
])
def test_the_environment_switches_preparing(value, expected):
    environ = {} if value is None else {PREPARE_VARIABLE: value}
    assert preparing_by_default(environ) is expected


def test_a_bad_switch_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as caught:
        preparing_by_default({PREPARE_VARIABLE: "sometimes"})
    assert str(caught.value) == (
        "CODEIMPORT_PREPARED_STATEMENTS must be on or off, not 'sometimes'.")


def _name(statement):
    return _entry(statement).prepare.split()[1]


def test_a_statement_the_session_already_has_fails_once(codeimport):
    # If the store's bookkeeping and the session disagree (an interrupt
    # between PREPARE and its record), one transaction fails and the
    # next one runs.
    store = make_store(codeimport.dsn, prepare=True)
    try:
        store.execute(STATEMENT, (1, "a", "none")).get_one()
        store.commit()
        store._connection._prepared.clear()
        with pytest.raises(Exception) as caught:
            store.execute(STATEMENT, (1, "b", "none"))
        assert sqlstate(caught.value) == "42P05"
        store.rollback()
        assert store.execute(STATEMENT, (2, "c", "none")).get_one()[0] == 3
    finally:
        store.close()


def test_a_statement_the_session_lost_is_prepared_again(codeimport):
    store = make_store(codeimport.dsn, prepare=True)
    try:
        store.execute(STATEMENT, (1, "a", "none")).get_one()
        store.commit()
        store.execute(f"DEALLOCATE {_name(STATEMENT)}")
        store.commit()
        with pytest.raises(Exception) as caught:
            store.execute(STATEMENT, (1, "b", "none"))
        assert sqlstate(caught.value) == "26000"
        store.rollback()
        assert store.execute(STATEMENT, (2, "c", "none")).get_one()[0] == 3
    finally:
        store.close()


def test_a_statement_with_a_percent_sign_is_refused():
    with pytest.raises(ValueError):
        prepared("SELECT 'a' LIKE 'a%'")
