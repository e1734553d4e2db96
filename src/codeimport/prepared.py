"""Server-side prepared statements for the scheduler's hot paths.

A claim, a finish and a heartbeat are each one fixed statement run
thousands of times a minute.  PostgreSQL parses and plans a statement
sent as text every time; the finish alone spends about half a
millisecond of server CPU planning its data-modifying CTEs.  A
statement registered here with `prepared` is instead sent once per
database connection as ``PREPARE`` and then run as ``EXECUTE``, which
skips both.

Registration returns the statement unchanged, so model code keeps
calling ``store.execute(STATEMENT, params)`` and reads the same whether
or not statements are prepared; Storm's tracers also still see the
statement's own text.  `codeimport.model._storm.PreparingConnection`
(the connection class of `codeimport.database.CodeImportPostgres`)
swaps in the ``EXECUTE`` just before the statement reaches psycopg2,
preparing it first on a connection that has not seen it.  A prepared
statement outlives transactions and rollbacks; a new connection (Storm
reconnects after a lost one) starts with none, and prepares again.

Preparing is on by default.  Turn it off (``prepare=False`` for
`codeimport.database.make_store`, or ``CODEIMPORT_PREPARED_STATEMENTS=off``
in the environment) when the database is reached through a pooler in
transaction mode, such as PgBouncer, where consecutive transactions may
run on different server sessions that have not seen the ``PREPARE``.

Statements prepared here name their columns rather than ``*``: a cached
plan whose result columns change (a schema patch adding one while the
services run) fails until the connection is dropped.
"""

from __future__ import annotations

import itertools
import os

from storm.database import convert_param_marks

from codeimport.errors import ConfigurationError

__all__ = [
    "PREPARE_VARIABLE",
    "prepared",
    "prepared_forms",
    "preparing_by_default",
    "registered",
]

PREPARE_VARIABLE = "CODEIMPORT_PREPARED_STATEMENTS"
_SWITCH = {"on": True, "yes": True, "1": True, "true": True,
           "off": False, "no": False, "0": False, "false": False}


class _Statement:
    """One registered statement, in the two forms it is sent in."""

    def __init__(self, name, text):
        numbers = itertools.count(1)
        body = _replace_marks(text, lambda: f"${next(numbers)}")
        count = next(numbers) - 1
        self.prepare = f"PREPARE {name} AS {body}"
        self.execute = (f"EXECUTE {name}({', '.join(['%s'] * count)})"
                        if count else f"EXECUTE {name}")


def _replace_marks(text, replacement):
    """Replace each ``%s`` mark outside string literals."""
    parts = text.split("'")
    for index in range(0, len(parts), 2):
        pieces = parts[index].split("%s")
        parts[index] = pieces[0] + "".join(
            replacement() + piece for piece in pieces[1:])
    return "'".join(parts)


# Keyed by the statement as psycopg2 receives it ("%s" marks): that is
# what the connection sees.
_REGISTRY: dict[str, _Statement] = {}
_names = itertools.count(1)


def prepared(statement: str) -> str:
    """Register `statement` (Storm's ``?`` marks) to be prepared once per
    connection, and return it unchanged."""
    if "%" in statement:
        # The PREPARE is sent without parameters, so psycopg2 would not
        # unescape a "%%"; no hot statement needs one.
        raise ValueError("A prepared statement cannot contain '%'.")
    text = convert_param_marks(statement, "?", "%s")
    if text not in _REGISTRY:
        _REGISTRY[text] = _Statement(f"codeimport_{next(_names)}", text)
    return statement


def prepared_forms(statement: str) -> tuple[str, str]:
    """The ``PREPARE`` and ``EXECUTE`` texts of a registered `statement`,
    for a client that talks to PostgreSQL without Storm (psycopg2's
    ``%s`` marks in the ``EXECUTE``)."""
    entry = _REGISTRY[convert_param_marks(statement, "?", "%s")]
    return entry.prepare, entry.execute


def preparing_by_default(environ=None) -> bool:
    """Whether stores prepare statements when not told: on, unless
    ``CODEIMPORT_PREPARED_STATEMENTS`` says off."""
    environ = os.environ if environ is None else environ
    value = environ.get(PREPARE_VARIABLE, "on").strip().lower()
    try:
        return _SWITCH[value]
    except KeyError:
        raise ConfigurationError(
            f"{PREPARE_VARIABLE} must be on or off, not {value!r}."
        ) from None


def registered(statement: str):
    """The registered statement psycopg2 receives as `statement` (``%s``
    marks), with its ``prepare`` and ``execute`` texts, or None."""
    return _REGISTRY.get(statement)
