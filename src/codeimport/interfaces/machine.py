"""Import machines: the hosts that run code import jobs."""

from __future__ import annotations

from zope.interface import Attribute
from zope.interface import Interface
from zope.schema import Choice
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import TextLine

from codeimport.enums import CodeImportMachineState

__all__ = [
    "ICodeImportMachine",
    "ICodeImportMachineEdit",
    "ICodeImportMachineScheduler",
    "ICodeImportMachineSet",
    "ICodeImportMachineSetEdit",
    "ICodeImportMachineSetView",
    "ICodeImportMachineView",
]


class ICodeImportMachineView(Interface):
    """What import operators may read of a machine."""

    id = Int(title="ID", readonly=True, required=True)
    date_created = Datetime(title="Date created", readonly=True)
    hostname = TextLine(
        title="Host name", readonly=True, required=True,
        description="The machine's unique host name.",
    )
    state = Choice(
        title="State", vocabulary=CodeImportMachineState, readonly=True,
        required=True, default=CodeImportMachineState.OFFLINE,
        description="Whether the machine accepts jobs.",
    )
    heartbeat = Datetime(
        title="Heartbeat", readonly=True, required=False,
        description="When the controller daemon last said it was running.",
    )
    current_jobs = Attribute(
        "The jobs running on this machine, by (date_started, id)."
    )
    events = Attribute(
        "The machine's events, newest first (date_created, id descending)."
    )
    event_count = Attribute("How many events the machine has.")

    def getEvents(offset=0, limit=None):
        """A page of `events`, read from the database alone.

        :param offset: how many of the newest events to skip.
        :param limit: the most events to return; None for all the rest.
        :return: a list of events, newest first, as `events` orders them.
        """
    offline_reason = Attribute(
        "Why an OFFLINE machine is offline: the "
        "`CodeImportMachineOfflineReason` of its newest OFFLINE event, or "
        "None when it is not OFFLINE (or never went offline)."
    )


class ICodeImportMachineScheduler(Interface):
    """What the scheduler asks of a machine."""

    def shouldLookForJob(worker_limit):
        """Return whether the machine should be given another job.

        An OFFLINE machine gets False and is not touched.  Otherwise the
        heartbeat is set to now; a QUIESCING machine gets False and goes
        OFFLINE (QUIESCED) once it runs no job; an ONLINE machine gets
        True while it runs fewer than `worker_limit` jobs.
        """


class ICodeImportMachineEdit(Interface):
    """State changes, each of which writes one `ICodeImportEvent`."""

    def setOnline(user=None, message=None):
        """Mark an OFFLINE or QUIESCING machine ONLINE.

        :raises InvalidMachineState: "State of machine <hostname> was
            <STATE>." from any other state.
        :postcondition: an ONLINE event exists.
        """

    def setOffline(reason, user=None, message=None):
        """Mark an ONLINE or QUIESCING machine OFFLINE.

        :param reason: a `CodeImportMachineOfflineReason`.
        :raises InvalidMachineState: from any other state.
        :postcondition: an OFFLINE event with OFFLINE_REASON exists.
        """

    def setQuiescing(user=None, message=None):
        """Ask an ONLINE machine to finish its jobs and then go OFFLINE.

        :param user: who asked.  None means the machine's own dispatcher
            asked, through the scheduler (`ICodeImportScheduler`
            ``setMachineQuiescing``), as for its ONLINE and OFFLINE
            events; the original always named a person.
        :raises InvalidMachineState: from any other state.
        :postcondition: a QUIESCE event exists, with `user` as its
            person.
        """


class ICodeImportMachine(
    ICodeImportMachineView, ICodeImportMachineScheduler, ICodeImportMachineEdit
):
    """A machine that runs imports.  Fields change only through methods."""


class ICodeImportMachineSetView(Interface):
    """Find machines."""

    def getAll():
        """Return every machine, ordered by host name."""

    def getByHostname(hostname):
        """Return the machine with this host name, or None."""


class ICodeImportMachineSetEdit(Interface):
    """Register machines."""

    def new(hostname, state=CodeImportMachineState.OFFLINE):
        """Create a machine, OFFLINE or (with an ONLINE event) ONLINE.

        :raises InvalidMachineState: for any other state.
        :raises CodeImportValidationError: for an empty or taken host name.
        """


class ICodeImportMachineSet(
    ICodeImportMachineSetView, ICodeImportMachineSetEdit
):
    """The set of import machines."""
