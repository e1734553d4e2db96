"""The pytest plugin: the ``codeimport`` fixture for host projects too.

Installed through the ``pytest11`` entry point, so any project that
installs codeimport gets it.  Doctest text files (``*.rst``) receive the
same object as the global name ``codeimport``.
"""

from __future__ import annotations

import pytest

from codeimport.testing.fixture import CodeImportFixture
from codeimport.testing.fixture import TestDatabase

__all__ = ["codeimport", "codeimport_database"]


@pytest.fixture(scope="session")
def codeimport_database():
    """The session's test database (fails loudly if none can be had)."""
    try:
        test_database = TestDatabase()
    except Exception as error:
        pytest.fail(f"No PostgreSQL database for the tests: {error}",
                    pytrace=False)
    yield test_database
    test_database.close()


@pytest.fixture
def codeimport(codeimport_database):
    """A fresh, empty, configured codeimport world for one test."""
    codeimport_database.reset()
    fixture = CodeImportFixture(codeimport_database).setUp()
    yield fixture
    fixture.tearDown()


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
