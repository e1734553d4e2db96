"""The service's record that machines can reach the database through it.

A `ReachabilityRecorder` thread in every service process writes the one
row of ``codeimportservice`` every third of ``service_outage_after``
(`codeimport.model.rules.RECORD_REACHABLE`).  The watchdog and
``getJobForMachine`` read it back (`rules.silent`): while the row is
older than ``service_outage_after`` (the service, or its database, is
away) no job or machine counts as silent, and after such a gap they get
their whole limits again from the moment the service wrote once more.
The thread has its own connection, so a busy or stalled request cannot
hold it up, and it outlives any number of database outages: a failed
write is logged once and tried again at the next turn.
"""

from __future__ import annotations

import logging
import threading

from codeimport import database
from codeimport.model import rules

__all__ = ["ReachabilityRecorder"]

log = logging.getLogger("codeimport.xmlrpc")


class ReachabilityRecorder:
    """Writes the service's reachability row until `stop` is called.

    :param dsn: the service's DSN (with its time limits).
    :param settings: `codeimport.settings.Settings`; its
        ``service_outage_after`` sets the pace.
    """

    def __init__(self, dsn: str, settings):
        self._service_dsn = dsn
        self._outage = settings.service_outage_after
        self.interval = self._outage / 3
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> ReachabilityRecorder:
        """Write once now (in the thread) and then every `interval`."""
        self._thread = threading.Thread(
            target=self._loop, name="reachability", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (at worker exit)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        store = None
        statement, layout = rules.positional(rules.RECORD_REACHABLE)
        parameters = layout({"outage": self._outage})
        while not self._stopping.is_set():
            try:
                if store is None:
                    store = database.make_store(self._service_dsn,
                                                role="importd")
                ended_outage = store.execute(
                    statement, parameters).get_one()[0]
                store.commit()
            except Exception as error:
                if not self._failing:
                    log.warning("cannot record that the service reaches "
                                "the database: %s", _first_line(error))
                self._failing = True
                store = _discard(store)
            else:
                if ended_outage:
                    log.info("the service reaches the database again "
                             "after an outage: running jobs and machines "
                             "get their whole heartbeat limits from now")
                self._failing = False
            self._stopping.wait(self.interval)
        _discard(store)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _discard(store) -> None:
    """Close `store` whatever state it is in; return None."""
    if store is not None:
        try:
            store.close()
        except Exception:  # a broken connection: nothing to close
            log.debug("closing the reachability store failed",
                      exc_info=True)
    return None
