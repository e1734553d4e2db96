"""The scheduling rules, each written once, as SQL.

The queue's statements (`codeimport.model.queue`) and the records'
queries build their SQL from these pieces, so a rule changed here
changes everywhere it applies.  Enumeration values are written into the
SQL rather than passed: a prepared statement's generic plan can then
still use the partial indexes whose predicates name them.
"""

from __future__ import annotations

import functools
import re

from codeimport.enums import BranchType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportResultStatus
from codeimport.settings import Settings

__all__ = [
    "NEVER_MIRRORED",
    "PENDING",
    "RUNNING",
    "SUCCESSES",
    "consecutive_failures",
    "default_interval",
    "default_interval_values",
    "due_after",
    "positional",
    "stale_job_condition",
    "under_worker_limit",
]

RUNNING = CodeImportJobState.RUNNING.value
PENDING = CodeImportJobState.PENDING.value
SUCCESSES = ", ".join(
    str(status.value) for status in CodeImportResultStatus.successes)
NEVER_MIRRORED = f"{BranchType.HOSTED.value}, {BranchType.REMOTE.value}"


def consecutive_failures(code_import):
    """How many results of import `code_import` (an SQL expression)
    follow its newest success, counted by id as in the original."""
    return (
        "(SELECT count(*) FROM codeimportresult r"
        f" WHERE r.code_import = {code_import} AND r.id > COALESCE(("
        "  SELECT max(s.id) FROM codeimportresult s"
        f"  WHERE s.code_import = {code_import}"
        f"  AND s.status IN ({SUCCESSES})), 0))")


def stale_job_condition(table="codeimportjob", limit="?"):
    """A RUNNING job of `table` whose heartbeat is older than `limit`
    seconds (the maximum heartbeat interval)."""
    return (f"{table}.state = {RUNNING} AND {table}.heartbeat"
            f" < CURRENT_TIMESTAMP - {limit} * interval '1 second'")


def under_worker_limit(machine, limit):
    """Machine `machine` runs fewer than `limit` jobs (SQL expressions).

    Read after the machine's row lock is held: under READ COMMITTED a
    later statement then sees the jobs a caller it waited for claimed.
    """
    return (f"(SELECT count(*) FROM codeimportjob WHERE machine = {machine}"
            f" AND state = {RUNNING}) < {limit}")


def default_interval(rcs_type):
    """The seconds of the default update interval for source kind
    `rcs_type` (an SQL expression), from `Settings.defaultInterval`'s
    own table; takes the parameters `default_interval_values` gives."""
    cases = " ".join(
        f"WHEN {rcs.value} THEN $interval_{rcs.name.lower()}::float8"
        for rcs in Settings.INTERVAL_SETTINGS)
    return (f"CASE {rcs_type} {cases}"
            " ELSE $interval_other::float8 END")


def default_interval_values(settings):
    """The parameters of `default_interval`, by name."""
    return dict(_interval_values(settings))


@functools.lru_cache(maxsize=16)
def _interval_values(settings):
    # Settings are frozen: one computation per configuration, not one
    # per finish.
    values = {f"interval_{rcs.name.lower()}": settings.defaultInterval(
        rcs).total_seconds() for rcs in Settings.INTERVAL_SETTINGS}
    values["interval_other"] = settings.defaultInterval(None).total_seconds()
    return tuple(values.items())


def effective_interval(code_import):
    """The seconds of the effective update interval of the import row
    `code_import` (a table alias): its own, else the default."""
    return (f"COALESCE(EXTRACT(EPOCH FROM {code_import}.update_interval),"
            f" {default_interval(f'{code_import}.rcs_type')})")


def due_after(start, seconds):
    """When a job is next due: `seconds` after `start`, never in the
    past (SQL expressions)."""
    return (f"GREATEST(CURRENT_TIMESTAMP, {start}"
            f" + make_interval(secs => ({seconds})::float8))")


def latest_start(code_import, newer_than_now=False):
    """When the newest run of import `code_import` started, by result
    date; with `newer_than_now`, only results dated after now count."""
    newer = " AND r.date_created > CURRENT_TIMESTAMP" if newer_than_now \
        else ""
    return (
        "(SELECT r.date_job_started FROM codeimportresult r"
        f" WHERE r.code_import = {code_import}{newer}"
        " ORDER BY r.date_created DESC, r.id DESC LIMIT 1)")


_NAME = re.compile(r"\$([a-z_]+)")


def positional(statement):
    """Turn `statement`'s ``$name`` parameters into Storm's ``?``.

    :return: the statement and a function that lays out a dict of
        values, by name, in the order the ``?`` appear.
    """
    names = _NAME.findall(statement)

    def layout(values):
        return tuple(values[name] for name in names)

    return _NAME.sub("?", statement), layout
