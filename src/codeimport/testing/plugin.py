"""The pytest plugin: the ``codeimport`` fixture for host projects too.

Installed through the ``pytest11`` entry point, so any project that
installs codeimport gets it.  Doctest text files (``*.rst``) receive the
same object as the global name ``codeimport``.
"""

from __future__ import annotations

import pytest

from codeimport.testing.fixture import CodeImportFixture
from codeimport.testing.fixture import TestDatabase
from codeimport.testing.server import stop_shared_servers
from codeimport.testing.server import xmlrpc_test_server

__all__ = ["codeimport", "codeimport_database", "codeimport_xmlrpc_server"]


@pytest.fixture(scope="session")
def codeimport_database():
    """The session's test database (fails loudly if none can be had)."""
    try:
        test_database = TestDatabase()
    except Exception as error:
        pytest.fail(f"No PostgreSQL database for the tests: {error}",
                    pytrace=False)
    yield test_database
    # The XML-RPC service holds connections to the database: stop it first.
    stop_shared_servers()
    test_database.close()


@pytest.fixture
def codeimport(codeimport_database):
    """A fresh, empty, configured codeimport world for one test."""
    codeimport_database.reset()
    fixture = CodeImportFixture(codeimport_database).setUp()
    yield fixture
    fixture.tearDown()


@pytest.fixture
def codeimport_xmlrpc_server(codeimport):
    """The real XML-RPC service on the test database (`XMLRPCTestServer`):
    ``scheduler_url`` and ``authserver_url`` carry its credentials.

    One server serves the whole session; like the ``codeimport`` store it
    sees an empty database at the start of each test.
    """
    return xmlrpc_test_server(codeimport)


@pytest.fixture(autouse=True)
def _codeimport_doctest_namespace(request, doctest_namespace):
    """Give ``*.rst`` doctests the ``codeimport`` object."""
    if type(request.node).__name__ != "DoctestItem":
        yield
        return
    if not str(request.node.fspath).endswith(".rst"):
        yield
        return
    fixture = request.getfixturevalue("codeimport")
    doctest_namespace["codeimport"] = fixture
    yield
