"""The watchdog: recover from machines and jobs that went silent."""

from __future__ import annotations

from zope.interface import Interface

__all__ = ["ICodeImportWatchdog"]


class ICodeImportWatchdog(Interface):
    """Reclaims stale jobs and takes silent machines offline."""

    def run():
        """Do one round and return a `WatchdogReport`.

        Every RUNNING job with a stale heartbeat is reclaimed, and every
        ONLINE or QUIESCING machine whose heartbeat is older than the
        machine heartbeat limit goes OFFLINE with reason WATCHDOG.  Both
        limits count from the end of the scheduler service's last
        outage, if later, and nothing is stale while the service is away
        (`codeimport.model.rules.silent`).  Safe to run concurrently
        with itself and with the scheduler.
        """
