"""The audit trail."""

from __future__ import annotations

from storm.locals import Int
from storm.locals import Reference
from storm.locals import Storm
from storm.locals import Unicode
from storm.store import Store
from zope.interface import implementer

from codeimport.enums import NON_CVS_RCS_TYPES
from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import RevisionControlSystems
from codeimport.errors import InvalidEventArgument
from codeimport.interfaces.event import ICodeImportEvent
from codeimport.interfaces.event import ICodeImportEventSet
from codeimport.interfaces.event import ICodeImportEventToken
from codeimport.model.columns import DBEnum
from codeimport.model.columns import UTCDateTime
from codeimport.model.constants import UTC_NOW
from codeimport.model.context import StoreUtility
from codeimport.model.sourcecredential import credentials_changed

__all__ = [
    "CodeImportEvent",
    "CodeImportEventData",
    "CodeImportEventSet",
    "CodeImportEventToken",
]

_Type = CodeImportEventType
_Data = CodeImportEventDataType


@implementer(ICodeImportEvent)
class CodeImportEvent(Storm):
    """See `ICodeImportEvent`."""

    __storm_table__ = "codeimportevent"
    id = Int(primary=True)
    date_created = UTCDateTime()
    event_type = DBEnum(name="entry_type", enum=CodeImportEventType)
    code_import_id = Int(name="code_import")
    code_import = Reference(code_import_id, "CodeImport.id")
    person_id = Int(name="person")
    person = Reference(person_id, "Person.id")
    machine_id = Int(name="machine")
    machine = Reference(machine_id, "CodeImportMachine.id")

    def __init__(self, event_type, code_import=None, person=None,
                 machine=None):
        self.event_type = event_type
        # Only what is given goes into the INSERT: the web's role may
        # not name a machine, not even as NULL (roles.cfg).
        if code_import is not None:
            self.code_import = code_import
        if person is not None:
            self.person = person
        if machine is not None:
            self.machine = machine
        self.date_created = UTC_NOW

    def __repr__(self):
        return f"<CodeImportEvent {self.id} {self.event_type.name}>"

    def items(self):
        """See `ICodeImportEvent`."""
        rows = Store.of(self).find(
            CodeImportEventData, event_id=self.id
        ).order_by(CodeImportEventData.data_type)
        return [(row.data_type, row.data_value) for row in rows]


class CodeImportEventData(Storm):
    """One (data type, value) item of an event."""

    __storm_table__ = "codeimporteventdata"
    id = Int(primary=True)
    event_id = Int(name="event")
    data_type = DBEnum(enum=CodeImportEventDataType)
    data_value = Unicode()

    def __init__(self, event, data_type, data_value):
        self.event_id = event.id
        self.data_type = data_type
        self.data_value = data_value


@implementer(ICodeImportEventToken)
class CodeImportEventToken:
    """See `ICodeImportEventToken`."""

    def __init__(self, items):
        self.items = items


def snapshot(code_import):
    """Return the (data type, value) list describing `code_import`."""
    items = [
        (_Data.CODE_IMPORT, str(code_import.id)),
        (_Data.REVIEW_STATUS, code_import.review_status.name),
        (_Data.OWNER, str(code_import.owner_id)),
        (_Data.UPDATE_INTERVAL,
         None if code_import.update_interval is None
         else str(code_import.update_interval)),
        (_Data.ASSIGNEE,
         None if code_import.assignee_id is None
         else str(code_import.assignee_id)),
    ]
    if code_import.rcs_type in NON_CVS_RCS_TYPES:
        items.append((_Data.URL, code_import.url))
    elif code_import.rcs_type == RevisionControlSystems.CVS:
        items.append((_Data.CVS_ROOT, code_import.cvs_root))
        items.append((_Data.CVS_MODULE, code_import.cvs_module))
    else:
        raise InvalidEventArgument(
            f"Unknown RCS type: {code_import.rcs_type}"
        )
    # Credentials show only as when they were set, and only when kept.
    changed = credentials_changed(Store.of(code_import), code_import.id)
    if changed is not None:
        items.append((_Data.SOURCE_CREDENTIALS, f"set {changed}"))
    return items


@implementer(ICodeImportEventSet)
class CodeImportEventSet(StoreUtility):
    """See `ICodeImportEventSet`."""

    @staticmethod
    def checkRequired(**arguments):
        """Raise `InvalidEventArgument` for the first argument that is None.
        """
        for name, value in arguments.items():
            if value is None:
                raise InvalidEventArgument(f"{name} must not be None")

    def _new(self, event_type, code_import=None, person=None, machine=None,
             items=()):
        store = self._store
        event = CodeImportEvent(event_type, code_import, person, machine)
        store.add(event)
        store.flush()
        for data_type, value in items:
            store.add(CodeImportEventData(event, data_type, value))
        return event

    def getAll(self):
        """See `ICodeImportEventSet`."""
        return list(self._store.find(CodeImportEvent).order_by(
            CodeImportEvent.date_created, CodeImportEvent.id))

    def getEventsForCodeImport(self, code_import):
        """See `ICodeImportEventSet`."""
        return list(self._store.find(
            CodeImportEvent, code_import_id=code_import.id
        ).order_by(CodeImportEvent.date_created, CodeImportEvent.id))

    def newCreate(self, code_import, person):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import, person=person)
        return self._new(_Type.CREATE, code_import, person,
                         items=snapshot(code_import))

    def beginModify(self, code_import):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import)
        return CodeImportEventToken(snapshot(code_import))

    def newModify(self, code_import, person, token):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import, token=token)
        # A token handed out through a security proxy holds proxied
        # items; look each key up again so only real items are stored.
        old = {_Data.items[key.value]: value for key, value in token.items}
        new = dict(snapshot(code_import))
        if old[_Data.CODE_IMPORT] != new[_Data.CODE_IMPORT]:
            raise InvalidEventArgument(
                "Token was produced from a different CodeImport object: "
                f"id in token = {old[_Data.CODE_IMPORT]}, "
                f"id of code_import = {new[_Data.CODE_IMPORT]}"
            )
        items = []
        changed = False
        for key in sorted(set(old) | set(new), key=lambda item: item.value):
            items.append((key, new.get(key)))
            if old.get(key) != new.get(key):
                changed = True
                items.append((_Data.items["OLD_" + key.name], old.get(key)))
        if not changed:
            return None
        return self._new(_Type.MODIFY, code_import, person, items=items)

    def newRequest(self, code_import, person):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import, person=person)
        return self._new(_Type.REQUEST, code_import, person,
                         items=[(_Data.CODE_IMPORT, str(code_import.id))])

    def _messageItems(self, message):
        return [(_Data.MESSAGE, message)] if message else []

    def newOnline(self, machine, user=None, message=None):
        """See `ICodeImportEventSet`."""
        self.checkRequired(machine=machine)
        return self._new(_Type.ONLINE, person=user, machine=machine,
                         items=self._messageItems(message))

    def newOffline(self, machine, reason, user=None, message=None):
        """See `ICodeImportEventSet`."""
        self.checkRequired(machine=machine)
        if reason not in CodeImportMachineOfflineReason:
            raise InvalidEventArgument(
                "reason must be a CodeImportMachineOfflineReason value, "
                f"but was: {reason!r}"
            )
        items = [(_Data.OFFLINE_REASON, reason.name)]
        return self._new(_Type.OFFLINE, person=user, machine=machine,
                         items=items + self._messageItems(message))

    def newQuiesce(self, machine, user=None, message=None):
        """See `ICodeImportEventSet`."""
        self.checkRequired(machine=machine)
        return self._new(_Type.QUIESCE, person=user, machine=machine,
                         items=self._messageItems(message))

    def newStart(self, code_import, machine):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import, machine=machine)
        return self._new(_Type.START, code_import, machine=machine)

    def newFinish(self, code_import, machine):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import, machine=machine)
        return self._new(_Type.FINISH, code_import, machine=machine)

    def newKill(self, code_import, machine):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import, machine=machine)
        return self._new(_Type.KILL, code_import, machine=machine)

    def newReclaim(self, code_import, machine, job_id):
        """See `ICodeImportEventSet`."""
        self.checkRequired(code_import=code_import, machine=machine)
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            raise InvalidEventArgument(
                f"job_id must be an int, was: {job_id!r}"
            )
        return self._new(_Type.RECLAIM, code_import, machine=machine,
                         items=[(_Data.RECLAIMED_JOB_ID, str(job_id))])
