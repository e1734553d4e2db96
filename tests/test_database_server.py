"""Finding a PostgreSQL server: configured, local, embedded (pgserver).

The machine's local server always answers here, so the embedded one is
started on purpose, in a data directory of its own, and stopped again.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import psutil
import psycopg2
import psycopg2.extensions
import pytest

from codeimport import database
from codeimport.enums import CodeImportJobState
from codeimport.errors import ConfigurationError
from codeimport.registration import build_utilities
from codeimport.security import ADMINS
from codeimport.security import VCS_IMPORTS
from codeimport.testing import postgres
from codeimport.testing.factory import ObjectFactory


@pytest.fixture
def pgdata(monkeypatch):
    """A fresh data directory for the embedded server.

    Made directly under the temporary directory: the server's socket
    lives in it, and socket paths are short.
    """
    parent = tempfile.mkdtemp(prefix="codeimport-embedded-")
    path = os.path.join(parent, "pgdata")
    monkeypatch.setenv("CODEIMPORT_PGDATA", path)
    yield Path(path)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def dead_dsn():
    """A DSN, with a password, for a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return (f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
            " password=hunter2")


@pytest.fixture
def no_embedded(monkeypatch):
    """Make starting an embedded server a test failure."""
    def refuse():
        raise AssertionError("the embedded server was started")

    monkeypatch.setattr(postgres, "_embedded_server", refuse)


def claim_a_job(dsn: str) -> None:
    """Register an import as the schema owner and claim its job as the
    scheduler's role, through the library."""
    owner = database.make_store(dsn)
    try:
        utilities = build_utilities(lambda: owner)
        utilities.persons.newTeam(VCS_IMPORTS, "VCS imports")
        utilities.persons.newTeam(ADMINS, "Administrators")
        job_id = ObjectFactory(utilities).makeCodeImport().import_job.id
        owner.commit()
    finally:
        owner.close()
    importd = database.make_store(dsn, role="importd")
    try:
        jobs = build_utilities(lambda: importd).jobs
        job = jobs.getJobForMachine("embedded-1", 1)
        importd.commit()
        assert job.id == job_id
        assert job.state == CodeImportJobState.RUNNING
        assert job.machine.hostname == "embedded-1"
        assert jobs.getJobForMachine("embedded-1", 1) is None
        importd.commit()
    finally:
        importd.close()


# pgserver asks platformdirs for a runtime directory when imported.
@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")
def test_embedded_server_installs_claims_and_stops(pgdata):
    server = postgres.find_server(allow_local=False)
    try:
        assert server.origin == "embedded"
        assert (pgdata / "PG_VERSION").exists()
        pid_file = pgdata / "postmaster.pid"
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        dsn = postgres.create_database(server, "codeimport_embedded")
        patches = database.install(dsn)
        assert patches[0] == "0000-baseline"
        assert database.install(dsn) == []
        claim_a_job(dsn)
        postgres.drop_database(server, "codeimport_embedded")
    finally:
        server.close()
    assert not pid_file.exists()
    try:
        # The container's init may not reap it: a zombie has stopped.
        assert postmaster.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(server.dsn, connect_timeout=3)
    server.close()  # a second close is harmless


def test_configured_server_comes_first(monkeypatch, codeimport_database,
                                       no_embedded):
    monkeypatch.setattr(postgres, "_LOCAL_CANDIDATES", ())
    server = postgres.find_server(codeimport_database.dsn)
    assert (server.dsn, server.origin) == (codeimport_database.dsn,
                                           "configured")


def test_configured_server_that_does_not_answer_is_an_error(
        monkeypatch, codeimport_database, dead_dsn, no_embedded):
    # A local server answers, yet nothing falls back to it.
    monkeypatch.setattr(postgres, "_LOCAL_CANDIDATES",
                        (codeimport_database.dsn,))
    with pytest.raises(ConfigurationError) as info:
        postgres.find_server(dead_dsn)
    message = str(info.value)
    assert message.startswith("Cannot connect to the configured database ")
    assert "password=***" in message
    assert "hunter2" not in message
    assert "Connection refused" in message


def test_local_servers_come_next_in_order(monkeypatch, codeimport_database,
                                          dead_dsn, no_embedded):
    monkeypatch.setattr(postgres, "_LOCAL_CANDIDATES",
                        (dead_dsn, codeimport_database.dsn))
    for configured in (None, ""):
        server = postgres.find_server(configured)
        assert (server.dsn, server.origin) == (codeimport_database.dsn,
                                               "local")


@pytest.mark.parametrize("allow_local", [True, False])
def test_embedded_server_comes_last(monkeypatch, codeimport_database,
                                    dead_dsn, allow_local):
    candidates = (dead_dsn,) if allow_local else (codeimport_database.dsn,)
    monkeypatch.setattr(postgres, "_LOCAL_CANDIDATES", candidates)
    embedded = postgres.Server("embedded-dsn", "embedded")
    monkeypatch.setattr(postgres, "_embedded_server", lambda: embedded)
    assert postgres.find_server(allow_local=allow_local) is embedded


def test_redact_dsn():
    redacted = database.redact_dsn("host=h user=u password=pw")
    assert psycopg2.extensions.parse_dsn(redacted) == {
        "host": "h", "user": "u", "password": "***"}
    assert "pw" not in database.redact_dsn("postgresql://u:pw@h:5/db")
    assert database.redact_dsn("host=h user=u") == "host=h user=u"
    assert database.redact_dsn("no such = thing=") == "(an unreadable DSN)"
