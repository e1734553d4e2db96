"""The schema: constraints, keys, cascades, roles and the installer (§2,
§13.4)."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import pytest
from zope.schema import getFieldsInOrder

from codeimport import database
from codeimport import interfaces
from codeimport.enums import BranchType
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.testing import postgres

ERROR = Exception  # Storm re-raises the driver's errors as its own types


class Rows:
    """Raw-SQL access to the fixture's store, one savepoint per try."""

    def __init__(self, codeimport):
        self.store = codeimport.store
        self.factory = codeimport.factory

    def attempt(self, sql, *params):
        """Run `sql`; return the error text, or None if it succeeded."""
        store = self.store
        store.flush()
        store.execute("SAVEPOINT attempt")
        try:
            store.execute(sql, params, noresult=True)
        except ERROR as error:
            store.execute("ROLLBACK TO SAVEPOINT attempt")
            return str(error)
        store.execute("RELEASE SAVEPOINT attempt")
        return None

    def one(self, sql, *params):
        return self.store.execute(sql, params).get_one()[0]


@pytest.fixture
def db(codeimport):
    return Rows(codeimport)


@pytest.fixture
def person_id(codeimport):
    return codeimport.factory.makePerson().id


def branch_id(db):
    return db.factory.makeBranch(branch_type=BranchType.IMPORTED).id


def insert_import(db, person_id, rcs_type, url=None, cvs_root=None,
                  cvs_module=None, target="BZR"):
    return db.attempt(
        "INSERT INTO codeimport (branch, registrant, owner, rcs_type,"
        " target_rcs_type, url, cvs_root, cvs_module, review_status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 20)",
        branch_id(db), person_id, person_id, rcs_type, target, url, cvs_root,
        cvs_module)


# -- CHECK constraints ------------------------------------------------------

@pytest.mark.parametrize("rcs_type, url, root, module, ok", [
    (1, None, ":pserver:a@h.org:/c", "m", True),
    (1, "http://h.org/x", ":pserver:a@h.org:/c", "m", False),
    (1, None, "", "m", False),
    (1, None, ":pserver:a@h.org:/c", "", False),
    (1, None, None, "m", False),
    (3, "svn://h.org/x", None, None, True),
    (4, "git://h.org/x", None, None, True),
    (6, "http://h.org/x", None, None, True),
    (2, "http://h.org/x", None, None, True),
    (5, "http://h.org/x", None, None, True),
    (4, None, None, None, False),
    (4, "git://h.org/x", ":pserver:a@h.org:/c", None, False),
    (4, "git://h.org/x", None, "m", False),
    (99, "git://h.org/x", None, None, False),
])
def test_codeimport_valid_vcs_details(db, person_id, rcs_type, url, root,
                                      module, ok):
    error = insert_import(db, person_id, rcs_type, url, root, module)
    if ok:
        assert error is None
    else:
        assert "valid_vcs_details" in error


@pytest.mark.parametrize("rcs_type, ok", [
    (4, True), (3, True), (5, True), (6, True), (2, False)])
def test_codeimport_legacy_svn_never_targets_git(db, person_id, rcs_type,
                                                 ok):
    error = insert_import(db, person_id, rcs_type, "git://h.org/x",
                          target="GIT")
    assert (error is None) if ok else (
        "valid_source_target_vcs_pairing" in error)


def test_codeimport_check_constraints_on_enumerations(db, person_id):
    assert "codeimport_target_rcs_type_check" in insert_import(
        db, person_id, 4, "git://h.org/x", target="SVN")
    ci = db.factory.makeCodeImport()
    assert "codeimport_review_status_check" in db.attempt(
        "UPDATE codeimport SET review_status = 15 WHERE id = ?", ci.id)
    machine = db.factory.makeCodeImportMachine()
    assert "codeimportmachine_state_check" in db.attempt(
        "UPDATE codeimportmachine SET state = 40 WHERE id = ?", machine.id)


def test_codeimport_db_default_review_status_is_NEW(db, person_id):
    assert db.attempt(
        "INSERT INTO codeimport (branch, registrant, owner, rcs_type, url)"
        " VALUES (?, ?, ?, 4, 'git://h.org/d')",
        branch_id(db), person_id, person_id) is None
    assert db.one("SELECT review_status FROM codeimport"
                  " WHERE url = 'git://h.org/d'") == (
        CodeImportReviewStatus.NEW.value)


JOB_STATES = [
    # state, machine?, ordering, heartbeat?, started?, logtail, ok
    (10, False, None, False, False, None, True),
    (10, True, None, False, False, None, False),
    (10, False, None, True, False, None, False),
    (10, False, None, False, False, "", False),
    (10, False, 1, False, False, None, False),
    (20, True, 1, False, False, None, True),
    (20, True, None, False, False, None, False),
    (30, True, None, True, True, "", True),
    (30, True, None, True, True, None, False),
    (30, False, None, True, True, "", False),
    (30, True, 1, True, True, "", False),
    (40, False, None, False, False, None, False),
]


@pytest.mark.parametrize(
    "state, machine, ordering, heartbeat, started, logtail, ok", JOB_STATES)
def test_codeimportjob_valid_state(db, state, machine, ordering, heartbeat,
                                   started, logtail, ok):
    code_import = db.factory.makeCodeImport(
        review_status=CodeImportReviewStatus.NEW)
    machine_id = db.factory.makeCodeImportMachine().id if machine else None
    now = "CURRENT_TIMESTAMP"
    error = db.attempt(
        "INSERT INTO codeimportjob (code_import, machine, date_due, state,"
        f" ordering, heartbeat, date_started, logtail) VALUES (?, ?, {now},"
        f" ?, ?, {now if heartbeat else 'NULL'},"
        f" {now if started else 'NULL'}, ?)",
        code_import.id, machine_id, state, ordering, logtail)
    assert (error is None) if ok else ("valid_state" in error)


@pytest.mark.parametrize("branch_type, url, ok", [
    (2, "http://h.org/b", True), (2, None, False),
    (1, None, True), (1, "http://h.org/b", False),
    (3, None, True), (3, "http://h.org/b", False),
    (4, None, True), (4, "http://h.org/b", True),
    (2, "http://h.org/b/", False), (9, None, False),
])
def test_branch_type_and_url_constraints(db, person_id, branch_type, url,
                                         ok):
    error = db.attempt(
        "INSERT INTO branch (owner, project, name, unique_name, branch_type,"
        " url) VALUES (?, 'p', 'n', ?, ?, ?)",
        person_id, f"~x/p/{uuid.uuid4().hex}", branch_type, url)
    if ok:
        assert error is None
    else:
        assert "violates check constraint" in error and "branch" in error


# -- unique keys ------------------------------------------------------------

def test_one_job_per_import(db):
    code_import = db.factory.makeCodeImport()
    assert "codeimportjob__code_import__key" in db.attempt(
        "INSERT INTO codeimportjob (code_import, date_due, state)"
        " VALUES (?, CURRENT_TIMESTAMP, 10)", code_import.id)


def test_machine_hostname_is_unique(db):
    db.factory.makeCodeImportMachine(hostname="h")
    assert "codeimportmachine_hostname_key" in db.attempt(
        "INSERT INTO codeimportmachine (hostname) VALUES ('h')")


def test_one_event_data_value_per_type(db):
    machine = db.factory.makeCodeImportMachine()
    event = db.factory._u.events.newOnline(machine, None, "hi")
    assert "codeimporteventdata__event__data_type__key" in db.attempt(
        "INSERT INTO codeimporteventdata (event, data_type, data_value)"
        " VALUES (?, 10, 'again')", event.id)


def test_one_import_per_branch(db, person_id):
    code_import = db.factory.makeCodeImport()
    assert "codeimport__branch__key" in db.attempt(
        "INSERT INTO codeimport (branch, registrant, owner, rcs_type, url)"
        " VALUES (?, ?, ?, 4, 'git://h.org/other')",
        code_import.branch.id, person_id, person_id)


def test_url_unique_per_target_kind(db, person_id):
    assert insert_import(db, person_id, 4, "git://h.org/x") is None
    assert "codeimport__url__target__idx" in insert_import(
        db, person_id, 4, "git://h.org/x")
    assert insert_import(db, person_id, 4, "git://h.org/x",
                         target="GIT") is None


def test_cvs_details_unique(db, person_id):
    root = ":pserver:a@h.org:/c"
    assert insert_import(db, person_id, 1, None, root, "m") is None
    assert "codeimport__cvs_root__cvs_module__key" in insert_import(
        db, person_id, 1, None, root, "m")
    assert insert_import(db, person_id, 1, None, root, "n") is None


def test_branch_unique_name_is_unique(db, person_id):
    sql = ("INSERT INTO branch (owner, project, name, unique_name,"
           " branch_type) VALUES (?, 'p', 'n', '~x/p/n', 1)")
    assert db.attempt(sql, person_id) is None
    assert "branch_unique_name_key" in db.attempt(sql, person_id)


# -- cascades ---------------------------------------------------------------

def test_deleting_import_cascades_results_events_and_event_data(db):
    f = db.factory
    job = f.makeRunningJob()
    code_import = job.code_import
    f._u.workflow.finishJob(job, CodeImportResultStatus.FAILURE, None)
    new_job = code_import.import_job
    assert db.attempt("DELETE FROM codeimportjob WHERE id = ?",
                      new_job.id) is None
    import_id = code_import.id
    assert db.one("SELECT count(*) FROM codeimporteventdata d JOIN"
                  " codeimportevent e ON e.id = d.event"
                  " WHERE e.code_import = ?", import_id) > 0
    assert db.attempt("DELETE FROM codeimport WHERE id = ?",
                      import_id) is None
    for table in ("codeimportresult", "codeimportevent"):
        assert db.one(f"SELECT count(*) FROM {table}"
                      " WHERE code_import = ?", import_id) == 0
    assert db.one("SELECT count(*) FROM codeimporteventdata d"
                  " WHERE NOT EXISTS (SELECT 1 FROM codeimportevent e"
                  " WHERE e.id = d.event)") == 0


def test_deleting_import_with_job_is_refused_by_the_database(db):
    code_import = db.factory.makeCodeImport()
    assert "codeimportjob_code_import_fkey" in db.attempt(
        "DELETE FROM codeimport WHERE id = ?", code_import.id)


def test_deleting_machine_with_events_is_refused(db):
    machine = db.factory.makeCodeImportMachine(set_online=True)
    assert "codeimportevent_machine_fkey" in db.attempt(
        "DELETE FROM codeimportmachine WHERE id = ?", machine.id)


def test_machine_defaults_offline(db):
    assert db.attempt(
        "INSERT INTO codeimportmachine (hostname) VALUES ('d')") is None
    assert db.one("SELECT state FROM codeimportmachine"
                  " WHERE hostname = 'd'") == (
        CodeImportMachineState.OFFLINE.value)


# -- fields and columns (STYLE §4.9) ----------------------------------------

COMPUTED = {
    "codeimport": {"effective_update_interval"},
    "codeimportresult": {"date_job_finished"},
    "libraryfilealias": {"content_length"},
}
TABLES = [
    (interfaces.ICodeImport, "codeimport"),
    (interfaces.ICodeImportJob, "codeimportjob"),
    (interfaces.ICodeImportMachine, "codeimportmachine"),
    (interfaces.ICodeImportEvent, "codeimportevent"),
    (interfaces.ICodeImportResult, "codeimportresult"),
    (interfaces.IBranch, "branch"),
    (interfaces.IPerson, "person"),
    (interfaces.IScriptActivity, "scriptactivity"),
    (interfaces.ILibraryFileAlias, "libraryfilealias"),
]
RENAMED = {("codeimportevent", "event_type"): "entry_type"}


def columns(db, table):
    return {row[0]: row[1] for row in db.store.execute(
        "SELECT a.attname, col_description(a.attrelid, a.attnum)"
        " FROM pg_attribute a WHERE a.attrelid = ?::regclass"
        " AND a.attnum > 0 AND NOT a.attisdropped", (table,))}


@pytest.mark.parametrize("interface, table", TABLES,
                         ids=[t for _, t in TABLES])
def test_every_schema_field_has_a_column(db, interface, table):
    have = columns(db, table)
    for name, field in getFieldsInOrder(interface):
        if name in COMPUTED.get(table, ()):
            continue
        assert RENAMED.get((table, name), name) in have, name


@pytest.mark.parametrize("interface, table", TABLES,
                         ids=[t for _, t in TABLES])
def test_column_comments_equal_field_descriptions(db, interface, table):
    have = columns(db, table)
    for name, field in getFieldsInOrder(interface):
        if name in COMPUTED.get(table, ()):
            continue
        comment = have.get(RENAMED.get((table, name), name))
        # Every described field has its sentence as the column comment,
        # and an undescribed field has none.
        assert comment == (field.description or None), name


# -- roles and grants -------------------------------------------------------

def privileges(db, role, table):
    return {p for p in ("SELECT", "INSERT", "UPDATE", "DELETE")
            if db.one("SELECT has_table_privilege(?, ?, ?)",
                      role, table, p)}


def test_installed_grants_equal_roles_cfg(db):
    for role, tables in database._grants().items():
        for table, expected in tables.items():
            whole = {name for name, columns in expected if not columns}
            assert privileges(db, role, table) == whole, (role, table)
            for name, columns in expected:
                for column in columns:
                    assert db.one("SELECT has_column_privilege(?, ?, ?, ?)",
                                  role, table, column, name), (
                        role, table, column, name)


def test_roles_cfg_reads_column_privileges():
    assert database._privileges("SELECT (a, b), INSERT , DELETE") == [
        ("SELECT", ("a", "b")), ("INSERT", ()), ("DELETE", ())]
    with pytest.raises(ValueError):
        database._privileges("SELECT (a, INSERT")


def test_the_web_role_cannot_read_source_passwords(codeimport, db):
    code_import = codeimport.factory.makeCodeImport()
    codeimport.commit()
    codeimport.switch_db_user("webapp")
    db.store.execute(
        "INSERT INTO codeimportsourcecredential (code_import, username,"
        " password) VALUES (?, 'alice', 'pw')", (code_import.id,))
    assert db.one("SELECT count(*) FROM codeimportsourcecredential"
                  " WHERE code_import = ?", code_import.id) == 1
    for column in ("password", "username", "*"):
        error = db.attempt(
            f"SELECT {column} FROM codeimportsourcecredential")
        assert "permission denied" in error
    codeimport.abort()
    codeimport.switch_db_user(None)


@pytest.mark.parametrize("role, table, privilege, allowed", [
    ("codeimport_webapp", "codeimportmachine", "UPDATE", False),
    ("codeimport_webapp", "codeimportmachine", "SELECT", True),
    ("codeimport_webapp", "codeimportresult", "INSERT", False),
    ("codeimport_webapp", "codeimport", "INSERT", True),
    ("codeimport_importd", "codeimportmachine", "INSERT", False),
    ("codeimport_importd", "codeimportmachine", "DELETE", False),
    ("codeimport_importd", "codeimportresult", "INSERT", True),
    ("codeimport_importd", "codeimport", "DELETE", False),
    ("codeimport_branchpuller", "branch", "SELECT", True),
    ("codeimport_branchpuller", "scriptactivity", "INSERT", True),
    ("codeimport_branchpuller", "codeimportjob", "SELECT", False),
])
def test_role_duties(db, role, table, privilege, allowed):
    assert (privilege in privileges(db, role, table)) is allowed


def test_webapp_role_cannot_update_machines(codeimport, db):
    machine = codeimport.factory.makeCodeImportMachine()
    codeimport.switch_db_user("webapp")
    error = db.attempt("UPDATE codeimportmachine SET state = 20"
                       " WHERE id = ?", machine.id)
    assert "permission denied for table codeimportmachine" in error
    codeimport.abort()
    codeimport.switch_db_user(None)


def test_importd_role_runs_the_whole_job_cycle(codeimport):
    f = codeimport.factory
    code_import = f.makeCodeImport()
    stale = f.makeRunningJob()
    codeimport.switch_db_user("importd")
    u = codeimport.utilities
    u.workflow.updateHeartbeat(stale, "x")
    codeimport.store.execute(
        "UPDATE codeimportjob SET heartbeat = heartbeat - interval '1 hour'"
        " WHERE id = ?", (stale.id,))
    job = u.jobs.getJobForMachine("newhost", 5)  # gardens, registers
    assert job is not None
    u.workflow.updateHeartbeat(job, "tail")
    log = u.files.create("x.log", b"log")
    u.workflow.finishJob(job, CodeImportResultStatus.SUCCESS, log)
    assert u.watchdog.run().reclaimed_job_ids == []
    codeimport.commit()
    assert code_import.date_last_successful is not None
    codeimport.switch_db_user(None)


def test_webapp_role_manages_imports(codeimport):
    f = codeimport.factory
    alice = f.makePerson()
    codeimport.switch_db_user("webapp")
    code_import = f.makeCodeImport(registrant=alice)
    code_import.requestImport(alice)
    code_import.updateFromData(
        {"review_status": CodeImportReviewStatus.SUSPENDED}, alice)
    codeimport.commit()
    assert code_import.import_job is None
    codeimport.utilities.code_imports.delete(code_import)
    codeimport.commit()
    codeimport.switch_db_user(None)


# -- the installer ----------------------------------------------------------

@pytest.fixture
def empty_database(codeimport):
    name = f"codeimport_install_{uuid.uuid4().hex[:8]}"
    dsn = postgres.create_database(codeimport.server, name)
    yield dsn
    postgres.drop_database(codeimport.server, name)


def test_install_applies_baseline_once_and_records_it(empty_database):
    assert database.install(empty_database)[0] == "0000-baseline"
    assert database.install(empty_database) == []
    connection = psycopg2.connect(empty_database)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT patch FROM schemaversion ORDER BY patch")
        patches = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    assert patches == [name for name, _ in database._patches()]


def test_install_from_several_threads_at_once_is_safe(empty_database):
    outcomes, errors = [], []

    def run():
        try:
            outcomes.append(database.install(empty_database))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    applied = [names for names in outcomes if names]
    assert len(applied) == 1 and applied[0][0] == "0000-baseline"


def test_role_name_maps_short_names():
    assert database.role_name("importd") == "codeimport_importd"
    assert database.role_name("codeimport_webapp") == "codeimport_webapp"
    assert database.role_name(None) is None
    with pytest.raises(Exception) as info:
        database.role_name("root")
    assert "Unknown database role 'root'" in str(info.value)
