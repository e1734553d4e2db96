"""What the demo prints: live events, results, the audit trail."""

from __future__ import annotations

from codeimport.model.event import CodeImportEvent

__all__ = ["describe_event", "EventFeed", "results_table"]


def describe_event(event) -> str:
    words = [f"{event.event_type.name:<8}"]
    if event.code_import is not None:
        words.append(event.code_import.branch.unique_name)
    if event.machine is not None:
        words.append(event.machine.hostname)
    if event.person is not None:
        words.append(f"by {event.person.name}")
    data = [f"{key.name}={value}" for key, value in event.items()
            if key.name in ("OFFLINE_REASON", "RECLAIMED_JOB_ID")]
    return " ".join(words + data)


class EventFeed:
    """Prints each audit-trail event once, as it appears."""

    def __init__(self, store, out):
        self._store = store
        self._out = out
        self._last_id = 0

    def poll(self) -> None:
        for event in self._store.find(
            CodeImportEvent, CodeImportEvent.id > self._last_id
        ).order_by(CodeImportEvent.id):
            stamp = event.date_created.strftime("%H:%M:%S")
            print(f"  {stamp}  {describe_event(event)}", file=self._out)
            self._last_id = event.id


def results_table(rows, header=("import", "result", "took", "target")):
    """Render rows of four cells as an aligned table under `header`."""
    rows = [header] + [tuple(str(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  " + "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths)))
        if number == 0:
            lines.append("  " + "  ".join("-" * width for width in widths))
    return "\n".join(lines)
