"""``--json`` output: plain JSON for what the listing commands print.

Times are ISO 8601 strings in UTC, durations seconds, enumeration items
their names, so the output can be read by any program.
"""

from __future__ import annotations

import json
from datetime import datetime
from datetime import timedelta

from lazr.enum import DBItem
from lazr.enum import Item

__all__ = ["dumps", "plain"]


def plain(value):
    """`value` as JSON-ready data."""
    if isinstance(value, (DBItem, Item)):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def dumps(value) -> str:
    return json.dumps(plain(value), indent=2, sort_keys=True)
