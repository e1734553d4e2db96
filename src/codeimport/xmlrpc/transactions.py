"""Per-thread stores and one retried transaction per request.

Each service thread gets its own Storm store per endpoint (stores are not
thread-safe), opened lazily on the thread's first request and kept for
the next ones.  `run_in_transaction` runs one call and commits it before
the caller answers; serialization failures, deadlocks and dropped
connections are retried a bounded number of times, after which the
caller learns that the database is unavailable.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import psycopg2.extensions
from storm.exceptions import DisconnectionError

from codeimport import database
from codeimport.registration import build_utilities
from codeimport.sqlstate import sqlstate

__all__ = [
    "DatabaseUnavailable",
    "ThreadStores",
    "is_retryable",
    "run_in_transaction",
    "service_dsn",
]

log = logging.getLogger("codeimport.xmlrpc")

# SQLSTATEs worth running the whole transaction again for.
_RETRY_SQLSTATES = frozenset({
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
})
# SQLSTATEs meaning "busy": the statement already waited its limit.
_BUSY_SQLSTATES = frozenset({
    "57014",  # query_canceled (statement_timeout)
    "55P03",  # lock_not_available (lock_timeout)
    "53300",  # too_many_connections
    "57P03",  # cannot_connect_now (starting up or shutting down)
})


class DatabaseUnavailable(Exception):
    """The database did not complete the request, even after retries."""


def service_dsn(dsn: str, application_name: str,
                statement_timeout: float | None = None) -> str:
    """Return `dsn` naming the service, with connection and statement
    time limits.

    The options travel in the DSN, so they survive reconnections.

    :param statement_timeout: seconds a statement (lock waits included)
        may take before PostgreSQL cancels it; None for no limit.
    """
    params = psycopg2.extensions.parse_dsn(dsn)
    params.setdefault("application_name", application_name)
    # A database host that has vanished must not hold a thread for long.
    params.setdefault("connect_timeout", "10")
    if statement_timeout is not None:
        milliseconds = max(1, int(statement_timeout * 1000))
        options = params.get("options", "")
        params["options"] = (
            f"{options} -c statement_timeout={milliseconds}".strip())
    return psycopg2.extensions.make_dsn(**params)


class ThreadStores:
    """One store per thread, on `dsn`, acting as database `role`.

    `utilities` are built once around `get`, so the same (thread-safe)
    utility objects serve every thread, each on its own store.
    """

    def __init__(self, dsn: str, role: str | None, settings=None):
        self._service_dsn = dsn
        self._role = database.role_name(role)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all = []
        self.utilities = build_utilities(self.get, settings)

    def get(self):
        """Return the calling thread's store, opening it if needed.

        :raises DatabaseUnavailable: when it cannot be opened.
        """
        store = getattr(self._local, "store", None)
        if store is None:
            try:
                store = database.make_store(self._service_dsn,
                                            role=self._role)
            except Exception as error:
                # Down, or out of connections ("too many clients"): the
                # caller answers 503, as for a connection lost later.
                lines = str(error).strip().splitlines()
                raise DatabaseUnavailable(
                    lines[0] if lines else type(error).__name__) from None
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def close(self) -> None:
        """Close every thread's store (at shutdown)."""
        with self._lock:
            stores, self._all = self._all, []
        for store in stores:
            try:
                store.close()
            except Exception:  # pragma: no cover - best effort at exit
                log.debug("closing a store failed", exc_info=True)
        self._local = threading.local()


def is_retryable(error: BaseException) -> bool:
    """Whether running the transaction again may succeed."""
    return (isinstance(error, DisconnectionError)
            or sqlstate(error) in _RETRY_SQLSTATES)


def _is_busy(error: BaseException) -> bool:
    return sqlstate(error) in _BUSY_SQLSTATES


def _rollback(store) -> None:
    try:
        store.rollback()
    except Exception:
        # A broken connection: Storm reconnects on the next statement.
        log.debug("rollback failed", exc_info=True)


def run_in_transaction(store, function, *, attempts: int = 4,
                       backoff: float = 0.05):
    """Call `function()` and commit; return its result.

    Any exception rolls the transaction back and propagates, except that
    retryable database errors run `function` again, up to `attempts`
    times in all, after a short randomised back-off.

    :raises DatabaseUnavailable: when every attempt failed with a
        retryable error, or PostgreSQL reported that it is busy.
    """
    for attempt in range(1, attempts + 1):
        try:
            result = function()
            store.commit()
            return result
        except Exception as error:
            _rollback(store)
            if _is_busy(error):
                raise DatabaseUnavailable(str(error).strip()) from error
            if not is_retryable(error):
                raise
            if attempt == attempts:
                raise DatabaseUnavailable(
                    f"gave up after {attempts} attempts: "
                    f"{str(error).strip()}") from error
            log.info("retrying a transaction (attempt %d): %s",
                     attempt, str(error).strip())
            time.sleep(backoff * 2 ** (attempt - 1) * random.uniform(1, 2))
