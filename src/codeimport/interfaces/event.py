"""The audit trail: one event per change to an import, job or machine."""

from __future__ import annotations

from zope.interface import Attribute
from zope.interface import Interface
from zope.schema import Choice
from zope.schema import Datetime
from zope.schema import Int

from codeimport.enums import CodeImportEventType

__all__ = [
    "ICodeImportEvent",
    "ICodeImportEventSet",
    "ICodeImportEventSetView",
    "ICodeImportEventSetWriter",
    "ICodeImportEventToken",
]


class ICodeImportEvent(Interface):
    """One entry of the audit trail.  Events are never changed."""

    id = Int(title="ID", readonly=True, required=True)
    date_created = Datetime(
        title="Date created", readonly=True, required=True,
        description="When the event happened (transaction time).",
    )
    event_type = Choice(
        title="Event type", vocabulary=CodeImportEventType, readonly=True,
        required=True,
    )
    code_import = Attribute("The `ICodeImport` concerned, or None.")
    person = Attribute("The `IPerson` who caused it, or None.")
    machine = Attribute("The `ICodeImportMachine` concerned, or None.")

    def items():
        """Return the extra data as (CodeImportEventDataType, str) pairs.

        Values may be None.  The order is by data type value.
        """


class ICodeImportEventToken(Interface):
    """A snapshot of an import taken by `beginModify`."""

    items = Attribute("The snapshot: a list of (data type, value) pairs.")


class ICodeImportEventSetView(Interface):
    """Read the audit trail."""

    def getAll():
        """Return every event ordered by (date_created, id)."""

    def getEventsForCodeImport(code_import):
        """Return the events of `code_import` ordered by (date_created, id).
        """


class ICodeImportEventSetWriter(Interface):
    """Append to the audit trail.  Every required argument is checked.

    Each creator raises `InvalidEventArgument` ("<name> must not be
    None") when a required argument is None.
    """

    def newCreate(code_import, person):
        """Record that `person` registered `code_import`, with a snapshot."""

    def beginModify(code_import):
        """Return an `ICodeImportEventToken` snapshot of `code_import`."""

    def newModify(code_import, person, token):
        """Record what changed since `token`; return the event or None.

        :param person: may be None for automatic changes.
        :raises InvalidEventArgument: if the token is of another import.
        """

    def newRequest(code_import, person):
        """Record that `person` asked for `code_import` to run."""

    def newOnline(machine, user=None, message=None):
        """Record that `machine` came online."""

    def newOffline(machine, reason, user=None, message=None):
        """Record that `machine` went offline for `reason`.

        :raises InvalidEventArgument: unless `reason` is a
            `CodeImportMachineOfflineReason`.
        """

    def newQuiesce(machine, user=None, message=None):
        """Record that `user` (None: the machine itself) asked `machine`
        to quiesce."""

    def newStart(code_import, machine):
        """Record that `machine` started a job of `code_import`."""

    def newFinish(code_import, machine):
        """Record that a job of `code_import` finished on `machine`."""

    def newKill(code_import, machine):
        """Record that termination of a running job was requested."""

    def newReclaim(code_import, machine, job_id):
        """Record that job `job_id` (an int) was reclaimed."""


class ICodeImportEventSet(ICodeImportEventSetView, ICodeImportEventSetWriter):
    """The audit trail of code imports and machines."""
