"""The watchdog: reclaim stale jobs, take silent machines offline."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from zope.interface import implementer

from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.interfaces.watchdog import ICodeImportWatchdog
from codeimport.model import rules
from codeimport.model.context import StoreUtility
from codeimport.model.machine import CodeImportMachine

__all__ = ["CodeImportWatchdog", "WatchdogReport"]

# ONLINE or QUIESCING machines that stopped polling, by the jobs' rule
# of silence (so an outage of the service or the database does not
# count against them either).
_SILENT_MACHINES = rules.positional(
    "SELECT id FROM codeimportmachine WHERE state IN"
    f" ({CodeImportMachineState.ONLINE.value},"
    f" {CodeImportMachineState.QUIESCING.value})"
    f" AND {rules.silent('COALESCE(heartbeat, date_created)')}"
    " ORDER BY hostname FOR UPDATE SKIP LOCKED")


@dataclass
class WatchdogReport:
    """What one watchdog round did."""

    reclaimed_job_ids: list = field(default_factory=list)
    offline_hostnames: list = field(default_factory=list)

    def __str__(self):
        jobs, hosts = self.reclaimed_job_ids, self.offline_hostnames
        return (
            f"reclaimed {len(jobs)} job(s)"
            + (f" {jobs}" if jobs else "")
            + f", took {len(hosts)} machine(s) offline"
            + (f" {hosts}" if hosts else "")
        )


@implementer(ICodeImportWatchdog)
class CodeImportWatchdog(StoreUtility):
    """See `ICodeImportWatchdog`."""

    def __init__(self, get_store, settings, workflow):
        super().__init__(get_store, settings)
        self._workflow = workflow

    def run(self):
        """See `ICodeImportWatchdog`.

        Rows another caller holds are skipped, not waited for: whoever
        holds them is already dealing with them.
        """
        report = WatchdogReport()
        report.reclaimed_job_ids = self._workflow.reclaimStaleJobs()
        store = self._store
        statement, layout = _SILENT_MACHINES
        rows = store.execute(statement, layout(rules.silence_values(
            self._settings, self._settings.machine_heartbeat_limit)))
        for (machine_id,) in list(rows):
            machine = store.get(CodeImportMachine, machine_id)
            machine.setOffline(CodeImportMachineOfflineReason.WATCHDOG)
            report.offline_hostnames.append(machine.hostname)
        return report
