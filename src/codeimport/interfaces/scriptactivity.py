"""Records of successful script runs, for monitoring."""

from __future__ import annotations

from zope.interface import Interface
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import TextLine

__all__ = ["IScriptActivity", "IScriptActivitySet"]


class IScriptActivity(Interface):
    """One successful run of a named script on a host."""

    id = Int(title="ID", readonly=True, required=True)
    name = TextLine(title="Script name", readonly=True, required=True)
    hostname = TextLine(title="Host name", readonly=True, required=True)
    date_started = Datetime(title="Started", readonly=True, required=True)
    date_completed = Datetime(
        title="Completed", readonly=True, required=True
    )


class IScriptActivitySet(Interface):
    """Record and query script runs."""

    def recordSuccess(name, date_started, date_completed, hostname=None):
        """Record a successful run and return the `IScriptActivity`.

        :param hostname: defaults to this machine's host name.
        :raises CodeImportValidationError: if a date is naive or the run
            finished before it started.
        """

    def getLastActivity(name):
        """Return the run of `name` that started last, or None."""
