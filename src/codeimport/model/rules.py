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
    "RECORD_REACHABLE",
    "SUCCESSES",
    "consecutive_failures",
    "default_interval",
    "default_interval_values",
    "due_after",
    "positional",
    "reachable_since",
    "requests_mirror",
    "silence_values",
    "silent",
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


# -- silence and outages -------------------------------------------------
#
# Machines reach the database only through the scheduler service, so a
# job's heartbeat (or a machine's poll) stops when the database or the
# service is away, however healthy the job.  The service writes one row
# of ``codeimportservice`` every third of ``service_outage_after``
# (`RECORD_REACHABLE`, run by `codeimport.xmlrpc.reachability`); a write
# that finds the previous one older than ``service_outage_after`` ends
# an outage and moves ``date_reachable_since`` to now.  Silence is then
# measured from the later of the heartbeat and that moment, and while
# the service has not written for ``service_outage_after`` nothing is
# silent at all (`reachable_since` is +infinity).  With no row (no
# service has ever recorded anything: the library used on its own)
# heartbeats alone count, as in the original.

#: The service's write: an upsert of the one row, in one statement; it
#: answers whether it ended an outage.
RECORD_REACHABLE = (
    "INSERT INTO codeimportservice"
    " (id, date_last_seen, date_reachable_since)"
    " VALUES (1, CURRENT_TIMESTAMP, '-infinity')"
    " ON CONFLICT (id) DO UPDATE SET"
    " date_reachable_since = CASE WHEN codeimportservice.date_last_seen"
    "  < CURRENT_TIMESTAMP - $outage * interval '1 second'"
    "  THEN CURRENT_TIMESTAMP"
    "  ELSE codeimportservice.date_reachable_since END,"
    " date_last_seen = GREATEST(codeimportservice.date_last_seen,"
    "  CURRENT_TIMESTAMP)"
    " RETURNING date_reachable_since = CURRENT_TIMESTAMP")


def reachable_since(outage="$outage"):
    """When the machines' way to the database last came back (an SQL
    timestamp): ``-infinity`` when no service records it, ``infinity``
    while the service has not written for `outage` seconds."""
    return (
        "COALESCE((SELECT CASE WHEN s.date_last_seen"
        f" >= CURRENT_TIMESTAMP - {outage} * interval '1 second'"
        " THEN s.date_reachable_since ELSE 'infinity' END"
        " FROM codeimportservice s WHERE s.id = 1),"
        " '-infinity'::timestamptz)")


def silent(heartbeat, limit="$heartbeat", outage="$outage"):
    """`heartbeat` (an SQL timestamp) is older than `limit` seconds, and
    so is the end of the last outage (see above)."""
    threshold = f"CURRENT_TIMESTAMP - {limit} * interval '1 second'"
    return (f"({heartbeat} < {threshold}"
            f" AND {reachable_since(outage)} < {threshold})")


def stale_job_condition(table="codeimportjob", limit="$heartbeat",
                        outage="$outage"):
    """A RUNNING job of `table` that has been `silent` for `limit`
    seconds (the maximum heartbeat interval)."""
    return (f"{table}.state = {RUNNING}"
            f" AND {silent(f'{table}.heartbeat', limit, outage)}")


def silence_values(settings, limit=None):
    """The parameters of `silent` and `stale_job_condition`, by name:
    `limit` (default: the maximum heartbeat interval) and the outage
    threshold."""
    if limit is None:
        limit = settings.maximum_heartbeat_interval
    return {"heartbeat": limit, "outage": settings.service_outage_after}


def requests_mirror(status, target_changed=None):
    """Whether a result asks for its branch to be mirrored: when the
    machine says the target's published refs changed (whatever the
    status: a SUCCESS_NOCHANGE after a run whose result was lost still
    changed what was last reported); when it does not say (an older
    machine), after SUCCESS, as in the original."""
    if target_changed is None:
        return status == CodeImportResultStatus.SUCCESS
    return bool(target_changed)


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
