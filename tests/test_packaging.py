"""Each program installs what it runs: the library, the ``server``,
``worker`` and ``embedded`` extras (setup.cfg)."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


def requirements(text):
    return {line.split(">")[0].split("<")[0].split("=")[0].strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")}


@pytest.fixture(scope="module")
def setup_cfg():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SETUP_CFG)
    return parser


def test_the_library_needs_no_program_of_its_own(setup_cfg):
    core = requirements(setup_cfg["options"]["install_requires"])
    servers = {"gunicorn", "waitress"}
    assert not core & (servers | {"dulwich", "pgserver", "pytest",
                                  "pyramid", "prometheus_client"})
    extras = setup_cfg["options.extras_require"]
    server = requirements(extras["server"])
    assert server & servers
    assert {"pyramid", "prometheus_client"} <= server
    # Git is read with the git program: dulwich only builds the test
    # and demo repositories.
    assert "dulwich" not in requirements(extras["worker"])
    assert "dulwich" in requirements(extras["test"])
    assert "pgserver" in requirements(extras["embedded"])
    assert {"pgserver", "pytest", "pytest-cov"} <= requirements(
        extras["test"])


def loaded(*modules):
    """Which heavy third-party modules importing `modules` loads."""
    code = (f"import sys; import {', '.join(modules)}; "
            "print(' '.join(sorted(m for m in ('waitress', 'dulwich', "
            "'pgserver', 'storm', 'psycopg2', 'zope.security', 'pyramid', "
            "'prometheus_client') "
            "if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], check=True,
                          capture_output=True, text=True)
    return set(done.stdout.split())


def test_an_embedding_application_loads_no_program():
    assert loaded("codeimport", "codeimport.registration",
                  "codeimport.database") \
        == {"storm", "psycopg2", "zope.security"}


def test_the_service_loads_no_worker_or_embedded_server():
    assert not loaded("codeimport.xmlrpc.app") & {"dulwich", "pgserver"}


def test_an_import_machine_and_the_puller_load_no_dulwich():
    assert "dulwich" not in loaded(
        "codeimport.scripts.dispatch", "codeimport.scripts.monitor",
        "codeimport.scripts.importworker", "codeimport.worker.importworker",
        "codeimport.worker.sources.git", "codeimport.scripts.puller",
        "codeimport.puller.mirror")


def test_an_import_machine_loads_no_database():
    assert not loaded("codeimport.scripts.dispatch",
                      "codeimport.scripts.monitor") \
        & {"storm", "psycopg2", "zope.security", "waitress", "pgserver",
           "pyramid", "prometheus_client"}


def test_the_wire_package_stands_alone():
    heavy = loaded("codeimport.wire.client", "codeimport.wire.faults",
                   "codeimport.wire.interfaces", "codeimport.wire.remote")
    assert heavy == set()
    code = ("import sys, codeimport.wire.client; print(sorted(m for m in "
            "sys.modules if m.startswith('codeimport.xmlrpc')"
            " or m.startswith('codeimport.model')))")
    done = subprocess.run([sys.executable, "-c", code], check=True,
                          capture_output=True, text=True)
    assert done.stdout.strip() == "[]"
