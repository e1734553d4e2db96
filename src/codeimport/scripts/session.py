"""One database transaction for an operator command, and name look-ups.

An operator command opens a store as the least-privileged database role
that can do its work, builds the trusted (unproxied) utilities on it,
and either commits everything it did or, on any error, nothing.
"""

from __future__ import annotations

import contextlib

from codeimport import database
from codeimport.errors import CodeImportError
from codeimport.registration import build_utilities
from codeimport.settings import Settings

__all__ = ["lookup_person", "operator_transaction"]


@contextlib.contextmanager
def operator_transaction(dsn: str, role: str, settings: Settings):
    """Yield utilities acting as database `role`; commit if the block
    succeeds, roll back if it raises."""
    store = database.make_store(dsn, role=role)
    try:
        database.require_schema(store)
        yield build_utilities(lambda: store, settings)
        store.commit()
    except BaseException:
        store.rollback()
        raise
    finally:
        store.close()


def lookup_person(utilities, name: str, what: str = "person"):
    """Return the person or team called `name`.

    :raises CodeImportError: with one clear line when there is none.
    """
    person = utilities.persons.getByName(name)
    if person is None:
        raise CodeImportError(f"No {what} called {name!r}.")
    return person
