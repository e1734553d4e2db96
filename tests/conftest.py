"""Fixtures shared by the tests of the web interface and the operators'
command line (defined in `webhelpers`)."""

from webhelpers import app  # noqa: F401
from webhelpers import web_application  # noqa: F401
from webhelpers import world  # noqa: F401
