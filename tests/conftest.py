"""Fixtures shared by the tests of the web interface and the operators'
command line (defined in `webhelpers`), and one kept by every test."""

import sys

import pytest
from webhelpers import app  # noqa: F401
from webhelpers import web_application  # noqa: F401
from webhelpers import world  # noqa: F401


@pytest.fixture(autouse=True)
def _tracer_kept():
    """A test that sets a trace function must put back the one it found:
    under ``make test`` that is coverage's, and losing it silently stops
    measuring every later test."""
    before = sys.gettrace()
    yield
    assert sys.gettrace() is before, "the test left sys.settrace changed"
