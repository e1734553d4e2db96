"""Small helpers shared by the core unit tests (not fixtures).

Time in these tests is the database transaction's time: a test that does
not commit sees one "now" throughout, so dates are compared exactly.
Explicit datetimes are written through `set_fields` (trusted, then
flushed) or with SQL, never produced by sleeping.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone

from zope.security.proxy import removeSecurityProxy

__all__ = [
    "UTC",
    "db_now",
    "event_data",
    "make_stale",
    "set_fields",
    "utc",
]

UTC = timezone.utc


def utc(*args) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def db_now(store) -> datetime:
    """Return the current transaction's time."""
    return store.execute("SELECT CURRENT_TIMESTAMP").get_one()[0]


def set_fields(store, obj, **fields) -> None:
    """Set fields that are read-only to everybody, then flush."""
    naked = removeSecurityProxy(obj)
    for name, value in fields.items():
        setattr(naked, name, value)
    store.flush()


def make_stale(store, job, seconds: int) -> None:
    """Make `job`'s heartbeat `seconds` older than the transaction time."""
    store.flush()
    store.execute(
        "UPDATE codeimportjob SET heartbeat = CURRENT_TIMESTAMP"
        " - ? * interval '1 second' WHERE id = ?",
        (seconds, removeSecurityProxy(job).id),
    )
    store.invalidate()


def event_data(event) -> dict:
    """Return an event's data as {data type name: value}."""
    items = removeSecurityProxy(event).items()
    return {key.name: value for key, value in items}


def hours(n) -> timedelta:
    return timedelta(hours=n)
