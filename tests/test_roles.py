"""Each database role may do exactly what its programs do (issue 13,
probe B5): the statements it must not run fail as the role, by column
where a table is shared; what its programs run still works (the script,
service and web tests run them as their roles too)."""

from __future__ import annotations

import pytest
from storm.database import Error as ERROR

from codeimport import database
from codeimport.enums import BranchType


class AsRole:
    """Statements run as a role, each in a savepoint."""

    def __init__(self, codeimport):
        self.codeimport = codeimport
        factory = codeimport.factory
        self.person = factory.makePerson()
        self.machine = factory.makeCodeImportMachine("m1", set_online=True)
        self.job = factory.makeRunningJob(self.machine)
        self.code_import = self.job.code_import
        self.branch = self.code_import.branch
        self.mirrored = factory.makeBranch(branch_type=BranchType.MIRRORED)
        self.ids = {
            "person": self.person.id, "machine": self.machine.id,
            "job": self.job.id, "import": self.code_import.id,
            "branch": self.branch.id, "mirrored": self.mirrored.id,
        }
        codeimport.commit()

    def run(self, role, statement):
        """Run `statement` (``{job}`` ... filled in) as `role`; return
        the error text, or None."""
        codeimport = self.codeimport
        codeimport.switch_db_user(role)
        store = codeimport.store
        store.execute("SAVEPOINT attempt")
        try:
            store.execute(statement.format(**self.ids), noresult=True)
        except ERROR as error:
            store.execute("ROLLBACK TO SAVEPOINT attempt")
            return str(error)
        finally:
            codeimport.abort()
            codeimport.switch_db_user(None)
        return None


@pytest.fixture
def as_role(codeimport):
    return AsRole(codeimport)


FORBIDDEN = [
    # The web role never changes machines, nor writes their events or
    # the events of job runs.
    ("webapp", "UPDATE codeimportmachine SET state = 10"),
    ("webapp", "INSERT INTO codeimportmachine (hostname, state)"
               " VALUES ('forged', 20)"),
    ("webapp", "INSERT INTO codeimportevent (entry_type, machine)"
               " VALUES (410, {machine})"),
    ("webapp", "INSERT INTO codeimportevent (entry_type, code_import,"
               " machine) VALUES (220, {import}, {machine})"),
    ("webapp", "INSERT INTO codeimportresult (code_import, status)"
               " VALUES ({import}, 100)"),
    ("webapp", "UPDATE codeimport SET date_last_successful = now()"),
    ("webapp", "UPDATE codeimport SET branch = {mirrored}"),
    ("webapp", "UPDATE codeimportjob SET state = 10, machine = NULL"),
    ("webapp", "UPDATE codeimportjob SET logtail = 'forged'"),
    ("webapp", "UPDATE branch SET next_mirror_time = now()"),
    ("webapp", "UPDATE person SET name = 'renamed'"),
    ("webapp", "DELETE FROM codeimportevent"),
    ("webapp", "SELECT * FROM codeimportservice"),
    # The service, the watchdog and the machine commands may not repoint
    # an import, touch branches beyond a mirror request, or delete.
    ("importd", "UPDATE codeimport SET url = 'http://evil.example/x'"),
    ("importd", "UPDATE codeimport SET cvs_root = NULL"),
    ("importd", "UPDATE codeimport SET owner = {person}"),
    ("importd", "UPDATE branch SET url = 'http://evil.example/x'"),
    ("importd", "UPDATE branch SET last_mirrored_id = 'forged'"),
    ("importd", "UPDATE codeimportmachine SET hostname = 'renamed'"),
    ("importd", "DELETE FROM codeimportmachine"),
    ("importd", "DELETE FROM codeimport"),
    ("importd", "DELETE FROM codeimportresult"),
    ("importd", "UPDATE codeimportevent SET entry_type = 130"),
    ("importd", "INSERT INTO person (name, displayname)"
                " VALUES ('mallory', 'M')"),
    ("importd", "INSERT INTO scriptactivity (name, hostname,"
                " date_started, date_completed)"
                " VALUES ('x', 'y', now(), now())"),
    ("importd", "UPDATE codeimportjob SET code_import = {import}"),
    # The web's machine buttons: a machine's state and its event.
    ("machineadmin", "UPDATE codeimportmachine SET hostname = 'renamed'"),
    ("machineadmin", "UPDATE codeimportmachine SET heartbeat = now()"),
    ("machineadmin", "INSERT INTO codeimportmachine (hostname, state)"
                     " VALUES ('forged', 20)"),
    ("machineadmin", "INSERT INTO codeimportevent (entry_type,"
                     " code_import) VALUES (310, {import})"),
    ("machineadmin", "SELECT * FROM codeimportjob"),
    ("machineadmin", "SELECT * FROM codeimport"),
    ("machineadmin", "SELECT * FROM codeimportsourcecredential"),
    # The branch puller: mirror fields of branches, its script activity.
    ("branchpuller", "UPDATE branch SET url = 'http://evil.example/x'"),
    ("branchpuller", "UPDATE branch SET owner = {person}"),
    ("branchpuller", "SELECT * FROM codeimportjob"),
    ("branchpuller", "SELECT * FROM person"),
    ("branchpuller", "UPDATE codeimportmachine SET state = 10"),
    ("branchpuller", "DELETE FROM scriptactivity"),
]

ALLOWED = [
    ("webapp", "UPDATE codeimport SET review_status = 30,"
               " update_interval = '1 day'"),
    ("webapp", "UPDATE codeimportjob SET date_due = now(),"
               " requesting_user = {person}"),
    ("webapp", "INSERT INTO codeimportevent (entry_type, code_import,"
               " person) VALUES (310, {import}, {person})"),
    ("webapp", "INSERT INTO person (name, displayname)"
               " VALUES ('newcomer', 'N')"),
    ("importd", "UPDATE codeimport SET review_status = 40,"
                " date_last_successful = now()"),
    ("importd", "UPDATE branch SET next_mirror_time = now()"),
    ("importd", "UPDATE codeimportmachine SET state = 10,"
                " heartbeat = now()"),
    ("importd", "INSERT INTO codeimportmachine (hostname, state)"
                " VALUES ('m2', 20)"),
    ("importd", "INSERT INTO codeimportevent (entry_type, machine)"
                " VALUES (410, {machine})"),
    ("machineadmin", "UPDATE codeimportmachine SET state = 10"
                     " WHERE id = {machine}"),
    ("machineadmin", "INSERT INTO codeimportevent (entry_type, machine,"
                     " person) VALUES (420, {machine}, {person})"),
    ("branchpuller", "UPDATE branch SET last_mirror_attempt = now(),"
                     " next_mirror_time = NULL, mirror_failures = 1"),
]


@pytest.mark.parametrize("role, statement", FORBIDDEN)
def test_a_role_cannot_run_what_its_programs_never_do(
        as_role, role, statement):
    error = as_role.run(role, statement)

    assert error is not None and "permission denied" in error, error


@pytest.mark.parametrize("role, statement", ALLOWED)
def test_a_role_runs_what_its_programs_do(as_role, role, statement):
    assert as_role.run(role, statement) is None


@pytest.mark.parametrize("entry_type", [210, 220, 240, 410, 420, 430])
def test_machine_and_job_events_must_name_a_machine(as_role, entry_type):
    # The web role may insert events without a machine; these kinds it
    # still may not (the check of patch 0005, for every role).
    error = as_role.run("webapp", "INSERT INTO codeimportevent (entry_type,"
                        f" code_import) VALUES ({entry_type}, {{import}})")

    assert "machine_and_job_events_name_a_machine" in error


def test_every_role_lists_only_existing_tables_and_columns(codeimport):
    store = codeimport.store
    for role, tables in database._grants().items():
        assert role in database.DB_ROLES.values()
        for table, privileges in tables.items():
            columns = {row[0] for row in store.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = ? AND table_schema = current_schema()",
                (table,))}
            assert columns, (role, table)
            for _, named in privileges:
                assert set(named) <= columns, (role, table, named)


def test_a_table_dropped_from_a_role_is_revoked_on_upgrade(codeimport):
    store = codeimport.store
    store.execute("GRANT DELETE ON codeimportmachine TO codeimport_webapp")
    store.commit()

    database.install(codeimport.dsn)

    assert not store.execute(
        "SELECT has_table_privilege('codeimport_webapp',"
        " 'codeimportmachine', 'DELETE')").get_one()[0]
