"""Import machines."""

from __future__ import annotations

from storm.expr import Desc
from storm.locals import Int
from storm.locals import Storm
from storm.locals import Unicode
from storm.store import Store
from zope.interface import implementer

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidMachineState
from codeimport.interfaces.machine import ICodeImportMachine
from codeimport.interfaces.machine import ICodeImportMachineSet
from codeimport.model.columns import DBEnum
from codeimport.model.columns import UTCDateTime
from codeimport.model.context import StoreUtility
from codeimport.model.context import context_of
from codeimport.model.event import CodeImportEvent
from codeimport.model.job import CodeImportJob
from codeimport.validators import validate_hostname

__all__ = ["CodeImportMachine", "CodeImportMachineSet"]

_State = CodeImportMachineState


@implementer(ICodeImportMachine)
class CodeImportMachine(Storm):
    """See `ICodeImportMachine`."""

    __storm_table__ = "codeimportmachine"
    __storm_order__ = "hostname"
    id = Int(primary=True)
    date_created = UTCDateTime()
    hostname = Unicode()
    state = DBEnum(enum=CodeImportMachineState, default=_State.OFFLINE)
    heartbeat = UTCDateTime()

    def __init__(self, hostname, state=_State.OFFLINE):
        self.hostname = hostname
        self.state = state

    def __repr__(self):
        return f"<CodeImportMachine {self.hostname} {self.state.name}>"

    @property
    def current_jobs(self):
        """See `ICodeImportMachine`."""
        return list(
            Store.of(self)
            .find(CodeImportJob, machine_id=self.id)
            .order_by(CodeImportJob.date_started, CodeImportJob.id)
        )

    def _events(self):
        return Store.of(self).find(CodeImportEvent, machine_id=self.id)

    @property
    def events(self):
        """See `ICodeImportMachine`."""
        return self.getEvents()

    @property
    def event_count(self):
        """See `ICodeImportMachine`."""
        return self._events().count()

    def getEvents(self, offset=0, limit=None):
        """See `ICodeImportMachine`."""
        events = self._events().order_by(
            Desc(CodeImportEvent.date_created), Desc(CodeImportEvent.id))
        end = None if limit is None else offset + limit
        return list(events[offset:end])

    def setOnline(self, user=None, message=None):
        """See `ICodeImportMachine`."""
        context_of(self).machines.setOnline(self, user, message)

    def setOffline(self, reason, user=None, message=None):
        """See `ICodeImportMachine`."""
        context_of(self).machines.setOffline(self, reason, user, message)

    def setQuiescing(self, user=None, message=None):
        """See `ICodeImportMachine`."""
        context_of(self).machines.setQuiescing(self, user, message)

    @property
    def offline_reason(self):
        """See `ICodeImportMachine`.

        One indexed query (events by machine and date) for the newest
        OFFLINE event's reason.
        """
        if self.state != _State.OFFLINE:
            return None
        row = Store.of(self).execute(
            "SELECT data.data_value FROM codeimportevent AS event"
            " JOIN codeimporteventdata AS data ON data.event = event.id"
            " AND data.data_type = ?"
            " WHERE event.machine = ? AND event.entry_type = ?"
            " ORDER BY event.date_created DESC, event.id DESC LIMIT 1",
            (CodeImportEventDataType.OFFLINE_REASON.value, self.id,
             CodeImportEventType.OFFLINE.value),
        ).get_one()
        if row is None:
            return None
        return CodeImportMachineOfflineReason.items[row[0]]

    def shouldLookForJob(self, worker_limit):
        """See `ICodeImportMachine`."""
        return context_of(self).machines.shouldLookForJob(self, worker_limit)


@implementer(ICodeImportMachineSet)
class CodeImportMachineSet(StoreUtility):
    """See `ICodeImportMachineSet`."""

    def getAll(self):
        """See `ICodeImportMachineSet`."""
        return list(self._store.find(CodeImportMachine))

    def getByHostname(self, hostname):
        """See `ICodeImportMachineSet`."""
        return self._store.find(CodeImportMachine, hostname=hostname).one()

    def new(self, hostname, state=_State.OFFLINE):
        """See `ICodeImportMachineSet`."""
        if state not in (_State.OFFLINE, _State.ONLINE):
            raise InvalidMachineState(
                f"Invalid machine creation state: {state!r}."
            )
        validate_hostname(hostname)
        store = self._store
        if self.getByHostname(hostname) is not None:
            raise CodeImportValidationError(
                f"A machine called {hostname} already exists."
            )
        machine = CodeImportMachine(hostname)
        store.add(machine)
        store.flush()
        if state == _State.ONLINE:
            machine.setOnline()
        return machine

    def getOrCreateOnline(self, hostname):
        """Return the machine called `hostname`, creating it ONLINE.

        Safe when several callers register the same new host at once:
        only one row and one ONLINE event are written.

        :raises CodeImportValidationError: for a bad host name
            (`codeimport.validators.validate_hostname`).
        """
        validate_hostname(hostname)
        store = self._store
        row = store.execute(
            "INSERT INTO codeimportmachine (hostname, state)"
            " VALUES (?, ?) ON CONFLICT (hostname) DO NOTHING RETURNING id",
            (hostname, _State.OFFLINE.value),
        ).get_one()
        machine = self.getByHostname(hostname)
        if row is not None:
            machine.setOnline()
            return machine, True
        return machine, False

    # -- the transitions of a machine (its records delegate here) --------

    def _lockedState(self, machine):
        """Lock `machine`'s row and return its committed state.

        A controller and the watchdog may change a machine at once; the
        row lock makes the second one see the first one's change.
        """
        store = self._store
        row = store.execute(
            "SELECT state FROM codeimportmachine WHERE id = ? FOR UPDATE",
            (machine.id,),
        ).get_one()
        store.invalidate(machine)
        return _State.items[row[0]]

    def _refuse(self, machine, state):
        raise InvalidMachineState(
            f"State of machine {machine.hostname} was {state.name}."
        )

    def setOnline(self, machine, user=None, message=None):
        """`ICodeImportMachine.setOnline` of `machine`."""
        state = self._lockedState(machine)
        if state not in (_State.OFFLINE, _State.QUIESCING):
            self._refuse(machine, state)
        machine.state = _State.ONLINE
        self._context.events.newOnline(machine, user, message)

    def setOffline(self, machine, reason, user=None, message=None):
        """`ICodeImportMachine.setOffline` of `machine`."""
        if reason not in CodeImportMachineOfflineReason:
            raise CodeImportValidationError(
                "reason must be a CodeImportMachineOfflineReason value, "
                f"but was: {reason!r}"
            )
        state = self._lockedState(machine)
        if state not in (_State.ONLINE, _State.QUIESCING):
            self._refuse(machine, state)
        machine.state = _State.OFFLINE
        self._context.events.newOffline(machine, reason, user,
                                        message)

    def setQuiescing(self, machine, user=None, message=None):
        """`ICodeImportMachine.setQuiescing` of `machine`."""
        state = self._lockedState(machine)
        if state != _State.ONLINE:
            self._refuse(machine, state)
        machine.state = _State.QUIESCING
        self._context.events.newQuiesce(machine, user, message)

    def shouldLookForJob(self, machine, worker_limit):
        """`ICodeImportMachine.shouldLookForJob` of `machine`."""
        store = self._store
        # Touch the heartbeat of a live machine; this also locks its row,
        # so concurrent callers for one machine take turns.
        row = store.execute(
            "UPDATE codeimportmachine SET heartbeat = CURRENT_TIMESTAMP"
            " WHERE id = ? AND state <> ? RETURNING state",
            (machine.id, _State.OFFLINE.value),
        ).get_one()
        store.invalidate(machine)
        if row is None:
            return False
        state = _State.items[row[0]]
        # Asked in a second statement, after the lock is ours: under
        # READ COMMITTED it sees the jobs that a caller we waited for
        # has just claimed.
        queue = self._context.queue
        if state == _State.QUIESCING:
            if queue.underWorkerLimit(machine.id, 1):
                self.setOffline(machine,
                                CodeImportMachineOfflineReason.QUIESCED)
            return False
        if state == _State.ONLINE:
            return queue.underWorkerLimit(machine.id, worker_limit)
        raise AssertionError(f"Unknown machine state {state!r}??")
