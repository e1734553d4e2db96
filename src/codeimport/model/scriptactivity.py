"""Records of successful script runs."""

from __future__ import annotations

import socket

from storm.expr import Desc
from storm.locals import Int
from storm.locals import Storm
from storm.locals import Unicode
from zope.interface import implementer

from codeimport.errors import CodeImportValidationError
from codeimport.interfaces.scriptactivity import IScriptActivity
from codeimport.interfaces.scriptactivity import IScriptActivitySet
from codeimport.model.columns import UTCDateTime
from codeimport.model.context import StoreUtility

__all__ = ["ScriptActivity", "ScriptActivitySet"]


@implementer(IScriptActivity)
class ScriptActivity(Storm):
    """See `IScriptActivity`."""

    __storm_table__ = "scriptactivity"
    id = Int(primary=True)
    name = Unicode()
    hostname = Unicode()
    date_started = UTCDateTime()
    date_completed = UTCDateTime()

    def __init__(self, name, hostname, date_started, date_completed):
        self.name = name
        self.hostname = hostname
        self.date_started = date_started
        self.date_completed = date_completed

    def __repr__(self):
        return f"<ScriptActivity {self.name} on {self.hostname}>"


@implementer(IScriptActivitySet)
class ScriptActivitySet(StoreUtility):
    """See `IScriptActivitySet`."""

    def recordSuccess(self, name, date_started, date_completed,
                      hostname=None):
        """See `IScriptActivitySet`."""
        for label, value in (("date_started", date_started),
                             ("date_completed", date_completed)):
            if getattr(value, "tzinfo", None) is None:
                raise CodeImportValidationError(
                    f"{label} must be a timezone-aware datetime."
                )
        if date_completed < date_started:
            raise CodeImportValidationError(
                "date_completed is before date_started."
            )
        if not name:
            raise CodeImportValidationError("A script name is required.")
        if hostname is None:
            hostname = socket.gethostname()
        activity = ScriptActivity(name, hostname, date_started,
                                  date_completed)
        store = self._store
        store.add(activity)
        store.flush()
        return activity

    def getLastActivity(self, name):
        """See `IScriptActivitySet`."""
        return self._store.find(ScriptActivity, name=name).order_by(
            Desc(ScriptActivity.date_started), Desc(ScriptActivity.id)
        ).first()
