"""Every use of Storm's private names, in one place.

Two kinds: the connection (`PreparingConnection` runs registered
statements prepared, `SessionPostgres` sets each new session up), and
the object cache, below.

The job queue (`codeimport.model.queue`) writes with one raw statement
per transition instead of a dozen ORM operations.  Storm does not see
those writes, so the objects it holds for the rows they touched must be
refreshed or dropped, and the rows they return are worth turning into
objects directly rather than reading back with another query.

Storm's public API only offers a query (``find(...).cached()``) that
compiles a Python matcher on every call, or invalidating every live
object.  These helpers use the store's own bookkeeping instead; they are
written against Storm 1.3 (``setup.cfg`` pins the range) and
``tests/test_rows.py`` checks each of them against that version.
"""

from __future__ import annotations

import weakref

from storm.databases.postgres import Postgres
from storm.databases.postgres import PostgresConnection
from storm.info import get_cls_info
from storm.info import get_obj_info

from codeimport.prepared import registered
from codeimport.sqlstate import sqlstate

__all__ = [
    "PreparingConnection", "SessionPostgres", "cached", "column_list",
    "column_names", "forget_cached", "forget_deleted", "invalidate_cached",
    "load_row", "run_returning",
]


_DUPLICATE_PREPARED = "42P05"
_NO_SUCH_PREPARED = "26000"


class PreparingConnection(PostgresConnection):
    """Storm's PostgreSQL connection, running registered statements as
    prepared ones when its database says so."""

    def __init__(self, database, event=None):
        super().__init__(database, event)
        # Which statements each raw connection has prepared; keyed
        # weakly, so a connection Storm replaced is forgotten with it.
        self._prepared = weakref.WeakKeyDictionary()

    def _run_execution(self, raw_cursor, args, params, statement):
        entry = registered(args[0]) if self._database.prepare else None
        if entry is None:
            return super()._run_execution(raw_cursor, args, params,
                                          statement)
        done = self._prepared.setdefault(self._raw_connection, set())
        if entry.prepare not in done:
            try:
                self._check_disconnect(raw_cursor.execute, entry.prepare)
            except Exception as error:
                # The session has it already (say, bookkeeping lost to
                # an interrupt): this transaction fails, the next runs.
                if sqlstate(error) == _DUPLICATE_PREPARED:
                    done.add(entry.prepare)
                raise
            done.add(entry.prepare)
        try:
            return super()._run_execution(
                raw_cursor, (entry.execute,) + tuple(args[1:]), params,
                statement)
        except Exception as error:
            # The session lost it (DEALLOCATE, DISCARD ALL): prepare it
            # again next time.
            if sqlstate(error) == _NO_SUCH_PREPARED:
                done.discard(entry.prepare)
            raise


class SessionPostgres(Postgres):
    """Storm's PostgreSQL backend on a libpq DSN taken as it is (URI or
    key=value form, so every libpq option works), with a hook for each
    new session and prepared hot statements."""

    connection_factory = PreparingConnection

    def __init__(self, uri, dsn: str):
        super().__init__(uri)
        self._dsn = dsn

    def _raw_connect(self):
        connection = super()._raw_connect()
        self.setUpSession(connection)
        return connection

    def setUpSession(self, connection) -> None:
        """Called with each new raw psycopg2 connection."""


def cached(store, cls, object_id):
    """Return the object of `cls` with primary key `object_id` if
    `store` holds it in memory, else None; never queries."""
    obj_info = store._alive.get((cls, (object_id,)))
    if obj_info is None:
        return None
    # The store may keep an object's bookkeeping after the object itself
    # was collected (another object still refers to it); Storm then
    # rebuilds the object from it, as every lookup of its own does.
    return store._get_object(obj_info)


def invalidate_cached(store, cls, object_id):
    """Invalidate `store`'s copy of the `cls` row `object_id`, if any,
    so that its next use reloads it from the database."""
    obj = cached(store, cls, object_id)
    if obj is not None:
        store.invalidate(obj)


def load_row(store, cls, result, names, row):
    """Build (or refresh) the `cls` object for a row a raw statement
    returned, as ``find()`` would from a SELECT.

    :param result: the Storm result the row came from.
    :param names: the column names of `row`, in order; it must include
        every column of `cls`.
    """
    invalidate_cached(store, cls, row[names.index("id")])
    values = dict(zip(names, row))
    cls_info = get_cls_info(cls)
    return store._load_object(
        cls_info, result,
        tuple(values[column.name] for column in cls_info.columns))


def column_list(cls, table=None):
    """The columns of `cls` for a SELECT or RETURNING list, in order,
    qualified with `table` if given.

    Statements that build objects with `load_row` name the columns
    rather than use ``*``, so that a prepared statement's result keeps
    its shape when a schema patch adds a column.
    """
    prefix = f"{table}." if table else ""
    return ", ".join(prefix + column.name
                     for column in get_cls_info(cls).columns)


def column_names(result):
    """The column names of a raw Storm `result`, in order."""
    return [description[0]
            for description in result._raw_cursor.description]


def forget_deleted(store, obj):
    """Drop `obj`, whose row a raw statement deleted, from `store`.

    This is the bookkeeping Storm does after flushing a `Store.remove`:
    the object leaves the cache and the store but keeps its values, so
    a caller still holding it can read its id, and a later call with it
    fails as after the ORM path, on the missing row.
    """
    obj_info = get_obj_info(obj)
    if obj_info.get("store") is not store:
        return
    store._set_clean(obj_info)
    store._disable_lazy_resolving(obj_info)
    obj_info.event.emit("removed")
    obj_info.pop("invalidated", None)
    store._disable_change_notification(obj_info)
    store._remove_from_alive(obj_info)
    del obj_info["store"]


def forget_cached(store, cls, object_id):
    """`forget_deleted` for `store`'s copy of the `cls` row `object_id`,
    if it holds one."""
    obj = cached(store, cls, object_id)
    if obj is not None:
        forget_deleted(store, obj)


def run_returning(store, cls, statement, params, skip=0):
    """Run a raw `statement` that returns at most one row: `skip`
    leading values, then the columns of a `cls` row.

    :return: None if it returned no row, else ``(leading values, the
        cls object built from the row)``.
    """
    result = store.execute(statement, params)
    row = result.get_one()
    if row is None:
        return None
    obj = load_row(store, cls, result, column_names(result)[skip:],
                   row[skip:])
    return tuple(row[:skip]), obj
