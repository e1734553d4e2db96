"""`NewEvents`: show the audit trail written since a point in time."""

from __future__ import annotations

from codeimport.model.event import CodeImportEvent

__all__ = ["NewEvents"]


class NewEvents:
    """Remembers the newest event at creation; lists those added since.

    ``summary()`` renders one line per new event: the event type, then
    the import's target name, the machine's host name and the person's
    name, each only when present.
    """

    def __init__(self, store):
        self._store = store
        store.flush()
        self._since = store.execute(
            "SELECT COALESCE(max(id), 0) FROM codeimportevent").get_one()[0]

    def __iter__(self):
        self._store.flush()
        return iter(self._store.find(
            CodeImportEvent, CodeImportEvent.id > self._since
        ).order_by(CodeImportEvent.date_created, CodeImportEvent.id))

    def summary(self) -> str:
        """Return one line per new event, joined by newlines."""
        lines = []
        for event in self:
            words = [event.event_type.name]
            if event.code_import is not None:
                words.append(event.code_import.branch.unique_name)
            if event.machine is not None:
                words.append(event.machine.hostname)
            if event.person is not None:
                words.append(event.person.name)
            lines.append(" ".join(words))
        return "\n".join(lines)
