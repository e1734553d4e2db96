"""Prometheus metrics: the system's state, read from the database at
each scrape, and the scheduler service's call latencies.

`DatabaseCollector` reads everything in one short transaction per
scrape; its labels are bounded (states, statuses, review statuses,
machine host names), and freshness is a histogram, not one series per
import.  `ServiceMetrics` times every XML-RPC call by method name (only
the endpoint's own methods, so the label is bounded too).

``codeimport serve`` may run several processes (``--workers``, forked
by `codeimport.scripts.httpserver`): it points
``PROMETHEUS_MULTIPROC_DIR`` at a private directory before its workers
start, so each worker's latencies are written there and every scrape
adds them up, whichever worker answers.  prometheus_client is imported
only when metrics are built, after that variable is set.
"""

from __future__ import annotations

import os

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus

__all__ = [
    "CONTENT_TYPE", "DatabaseCollector", "FRESHNESS_BUCKETS",
    "LATENCY_BUCKETS", "MULTIPROC_VARIABLE", "PULLER_NAME",
    "ServiceMetrics", "render",
]

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PULLER_NAME = "branch-puller"
#: Seconds since the last success: an hour to a month.
FRESHNESS_BUCKETS = (3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
                     7 * 86400, 30 * 86400)
HEARTBEAT_BUCKETS = (30, 60, 120, 300, 600, 1800)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: A pending job due for longer than this is overdue.
OVERDUE_AFTER = 3600


def _histogram(values, buckets):
    """(cumulative bucket counts, sum) of `values`, for a histogram."""
    counts = [sum(1 for v in values if v <= bound) for bound in buckets]
    return ([(str(float(b)), c) for b, c in zip(buckets, counts)]
            + [("+Inf", len(values))], float(sum(values)))


class DatabaseCollector:
    """A prometheus_client collector reading the database at each scrape.

    :param get_store: returns the calling thread's Storm store (any role
        that reads the code import tables: importd, webapp).
    """

    def __init__(self, get_store, overdue_after: int = OVERDUE_AFTER):
        self._get_store = get_store
        self._overdue_after = overdue_after

    def collect(self):
        store = self._get_store()
        try:
            families = list(self._families(store))
        finally:
            store.rollback()
        return families

    def _families(self, store):
        from prometheus_client.core import CounterMetricFamily
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.core import HistogramMetricFamily

        execute = store.execute
        jobs = GaugeMetricFamily(
            "codeimport_jobs", "Jobs by state.", labels=["state"])
        counted = dict(execute(
            "SELECT state, count(*) FROM codeimportjob GROUP BY state"))
        for state in (CodeImportJobState.PENDING, CodeImportJobState.RUNNING):
            jobs.add_metric([state.name], counted.get(state.value, 0))
        yield jobs

        due, overdue, oldest = execute(
            "SELECT count(*) FILTER (WHERE date_due <= CURRENT_TIMESTAMP),"
            " count(*) FILTER (WHERE date_due <= CURRENT_TIMESTAMP"
            "  - make_interval(secs => ?)),"
            " COALESCE(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP - min(date_due)"
            "  FILTER (WHERE date_due <= CURRENT_TIMESTAMP)), 0)"
            " FROM codeimportjob WHERE state = ?",
            (self._overdue_after, CodeImportJobState.PENDING.value)).get_one()
        yield GaugeMetricFamily(
            "codeimport_pending_jobs_due",
            "Pending jobs whose due time has passed.", value=due)
        yield GaugeMetricFamily(
            "codeimport_pending_jobs_overdue",
            f"Pending jobs due for more than {self._overdue_after} s.",
            value=overdue)
        yield GaugeMetricFamily(
            "codeimport_pending_jobs_oldest_due_seconds",
            "How long the longest-waiting due job has been due.",
            value=float(oldest))

        results = CounterMetricFamily(
            "codeimport_results", "Results recorded, by status.",
            labels=["status"])
        counted = dict(execute(
            "SELECT status, count(*) FROM codeimportresult GROUP BY status"))
        for status in CodeImportResultStatus.items:
            results.add_metric([status.name], counted.get(status.value, 0))
        yield results

        ages = [float(age) for (age,) in execute(
            "SELECT EXTRACT(EPOCH FROM CURRENT_TIMESTAMP - heartbeat)"
            " FROM codeimportjob WHERE state = ?",
            (CodeImportJobState.RUNNING.value,))]
        buckets, total = _histogram(ages, HEARTBEAT_BUCKETS)
        yield HistogramMetricFamily(
            "codeimport_running_job_heartbeat_age_seconds",
            "Time since each running job's last heartbeat.",
            buckets=buckets, sum_value=total)
        yield GaugeMetricFamily(
            "codeimport_running_job_heartbeat_age_max_seconds",
            "The oldest heartbeat of a running job (0 with none).",
            value=max(ages, default=0.0))

        machines = GaugeMetricFamily(
            "codeimport_machines", "Import machines by state.",
            labels=["state"])
        state_of = GaugeMetricFamily(
            "codeimport_machine_state",
            "1 for each machine's current state (and offline reason).",
            labels=["hostname", "state", "reason"])
        heartbeat = GaugeMetricFamily(
            "codeimport_machine_heartbeat_age_seconds",
            "Time since each machine last asked for work.",
            labels=["hostname"])
        by_state = dict.fromkeys(CodeImportMachineState.items, 0)
        for hostname, state, age, reason in execute(
                "SELECT m.hostname, m.state,"
                " EXTRACT(EPOCH FROM CURRENT_TIMESTAMP - m.heartbeat),"
                " (SELECT d.data_value FROM codeimportevent e"
                "  JOIN codeimporteventdata d ON d.event = e.id"
                "  WHERE e.machine = m.id AND d.data_type = ?"
                "  ORDER BY e.date_created DESC, e.id DESC LIMIT 1)"
                " FROM codeimportmachine m ORDER BY m.hostname",
                (_OFFLINE_REASON,)):
            state = CodeImportMachineState.items[state]
            by_state[state] += 1
            if state != CodeImportMachineState.OFFLINE:
                reason = ""
            elif reason not in _REASONS:
                reason = "UNKNOWN" if reason else ""
            state_of.add_metric([hostname, state.name, reason], 1)
            if age is not None:
                heartbeat.add_metric([hostname], float(age))
        for state, number in by_state.items():
            machines.add_metric([state.name], number)
        yield machines
        yield state_of
        yield heartbeat

        imports = GaugeMetricFamily(
            "codeimport_imports", "Imports by review status.",
            labels=["review_status"])
        counted = dict(execute(
            "SELECT review_status, count(*) FROM codeimport"
            " GROUP BY review_status"))
        for status in CodeImportReviewStatus.items:
            imports.add_metric([status.name], counted.get(status.value, 0))
        yield imports

        rows = list(execute(
            "SELECT EXTRACT(EPOCH FROM CURRENT_TIMESTAMP"
            " - date_last_successful) FROM codeimport"
            " WHERE review_status = ? AND date_last_successful IS NOT NULL",
            (CodeImportReviewStatus.REVIEWED.value,)))
        freshness = [float(age) for (age,) in rows]
        buckets, total = _histogram(freshness, FRESHNESS_BUCKETS)
        yield HistogramMetricFamily(
            "codeimport_import_freshness_seconds",
            "Time since each REVIEWED import's last successful run.",
            buckets=buckets, sum_value=total)
        yield GaugeMetricFamily(
            "codeimport_import_freshness_max_seconds",
            "The stalest REVIEWED import's time since its last success.",
            value=max(freshness, default=0.0))
        never = execute(
            "SELECT count(*) FROM codeimport WHERE review_status = ?"
            " AND date_last_successful IS NULL",
            (CodeImportReviewStatus.REVIEWED.value,)).get_one()[0]
        yield GaugeMetricFamily(
            "codeimport_imports_never_succeeded",
            "REVIEWED imports with no successful run yet.", value=never)

        last = execute(
            "SELECT EXTRACT(EPOCH FROM date_completed),"
            " EXTRACT(EPOCH FROM date_completed - date_started)"
            " FROM scriptactivity WHERE name = ?"
            " ORDER BY date_started DESC, id DESC LIMIT 1",
            (PULLER_NAME,)).get_one()
        if last is not None:
            yield GaugeMetricFamily(
                "codeimport_puller_last_run_timestamp_seconds",
                "When the branch puller's last run finished (Unix time).",
                value=float(last[0]))
            yield GaugeMetricFamily(
                "codeimport_puller_last_run_duration_seconds",
                "How long the branch puller's last run took.",
                value=float(last[1]))


_OFFLINE_REASON = CodeImportEventDataType.OFFLINE_REASON.value
_REASONS = {item.name for item in CodeImportMachineOfflineReason.items}


class ServiceMetrics:
    """The XML-RPC service's own metrics: call latency by method.

    Build it in the process that serves (after the service forks), so that
    in multi-process mode each worker writes its own file.
    """

    def __init__(self, methods):
        from prometheus_client import CollectorRegistry
        from prometheus_client import Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self._methods = frozenset(methods)
        self.calls = Histogram(
            "codeimport_xmlrpc_call_seconds",
            "Time to answer an XML-RPC call, by method (getJobForMachine "
            "is the claim, finishJobID the finish).",
            ["method"], buckets=LATENCY_BUCKETS, registry=self.registry)

    def observe(self, method: str, seconds: float) -> None:
        label = method if method in self._methods else "other"
        self.calls.labels(label).observe(seconds)


def render(collector: DatabaseCollector,
           service: ServiceMetrics | None = None) -> bytes:
    """The text exposition of `collector` and `service`'s metrics (all
    processes' when in multi-process mode)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client import generate_latest
    from prometheus_client import multiprocess

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    if service is not None:
        if os.environ.get(MULTIPROC_VARIABLE):
            multiprocess.MultiProcessCollector(registry)
        else:
            registry.register(_Forward(service.registry))
    return generate_latest(registry)


class _Forward:
    """Collects another registry's metrics (one process)."""

    def __init__(self, registry):
        self._registry = registry

    def collect(self):
        return self._registry.collect()
