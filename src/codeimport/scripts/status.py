"""`codeimport status`: what the import system is doing, as plain tables.

Read-only; runs as database role ``importd``.  Ages ("12s ago") are
measured against the database's clock, like every timestamp here.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from codeimport import database
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.model import rules
from codeimport.redact import redact
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import positive
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.settings import Settings
from codeimport.text import printable

__all__ = ["StatusReport", "collect", "format_age", "main", "render"]

PROG = "codeimport status"
ROLE = "importd"
LOG_TAIL_WIDTH = 60
#: The widest cell of a table (see `table`).
CELL_WIDTH = 80
PULLER_NAME = "branch-puller"

_RUNNING = CodeImportJobState.RUNNING.value
_PENDING = CodeImportJobState.PENDING.value


@dataclass
class StatusReport:
    """The rows `render` shows; `now` is the database's time.

    Heartbeats older than the ``*_stale_after`` limits are marked: the
    watchdog acts on them at its next round.  Like the watchdog, it
    counts silence only from the end of the last outage
    (`outage_ended`), and none while the service is `service_away`
    (`codeimport.model.rules.silent`).
    """

    now: datetime
    job_stale_after: timedelta = timedelta(seconds=300)
    machine_stale_after: timedelta = timedelta(seconds=900)
    outage_ended: datetime | None = None
    service_away: bool = False
    machines: list = field(default_factory=list)
    running: list = field(default_factory=list)
    due_now: int = 0
    due_now_requested: int = 0
    due_later: int = 0
    next_due: datetime | None = None
    results: list = field(default_factory=list)
    puller: tuple | None = None


def collect(store, results_limit: int = 10,
            settings: Settings | None = None) -> StatusReport:
    """Read everything `render` shows, in one transaction."""
    execute = store.execute
    settings = settings or Settings()
    report = StatusReport(
        now=execute("SELECT CURRENT_TIMESTAMP").get_one()[0],
        job_stale_after=timedelta(
            seconds=settings.maximum_heartbeat_interval),
        machine_stale_after=timedelta(
            seconds=settings.machine_heartbeat_limit))
    statement, layout = rules.positional(
        "SELECT r = 'infinity', CASE WHEN isfinite(r) THEN r END"
        f" FROM (SELECT {rules.reachable_since()} AS r) reachable")
    report.service_away, report.outage_ended = execute(
        statement, layout(rules.silence_values(settings))).get_one()
    report.machines = [
        (hostname, CodeImportMachineState.items[state].name, heartbeat, jobs)
        for hostname, state, heartbeat, jobs in execute(
            "SELECT m.hostname, m.state, m.heartbeat,"
            " (SELECT count(*) FROM codeimportjob j"
            "  WHERE j.machine = m.id AND j.state = ?)"
            " FROM codeimportmachine m ORDER BY m.hostname", (_RUNNING,))
    ]
    report.running = list(execute(
        "SELECT j.id, b.unique_name, m.hostname, j.date_started,"
        " j.heartbeat, j.logtail"
        " FROM codeimportjob j JOIN codeimport c ON c.id = j.code_import"
        " JOIN branch b ON b.id = c.branch"
        " LEFT JOIN codeimportmachine m ON m.id = j.machine"
        " WHERE j.state = ? ORDER BY j.date_started, j.id", (_RUNNING,)))
    (report.due_now, report.due_now_requested, report.due_later,
     report.next_due) = execute(
        "SELECT count(*) FILTER (WHERE date_due <= CURRENT_TIMESTAMP),"
        " count(*) FILTER (WHERE date_due <= CURRENT_TIMESTAMP"
        "  AND requesting_user IS NOT NULL),"
        " count(*) FILTER (WHERE date_due > CURRENT_TIMESTAMP),"
        " min(date_due) FILTER (WHERE date_due > CURRENT_TIMESTAMP)"
        " FROM codeimportjob WHERE state = ?", (_PENDING,)).get_one()
    report.results = [
        (name, CodeImportResultStatus.items[status].name, finished,
         finished - started if started is not None else None)
        for name, status, finished, started in execute(
            "SELECT b.unique_name, r.status, r.date_created,"
            " r.date_job_started"
            " FROM codeimportresult r JOIN codeimport c"
            " ON c.id = r.code_import JOIN branch b ON b.id = c.branch"
            " ORDER BY r.date_created DESC, r.id DESC LIMIT ?",
            (results_limit,))
    ]
    report.puller = execute(
        "SELECT hostname, date_started, date_completed FROM scriptactivity"
        " WHERE name = ? ORDER BY date_started DESC, id DESC LIMIT 1",
        (PULLER_NAME,)).get_one()
    return report


def format_duration(delta: timedelta) -> str:
    """Render a duration compactly: 42s, 5m 03s, 2h 05m, 3d 04h."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_age(now: datetime, then: datetime | None) -> str:
    """How long before `now` `then` was: "12s ago", or "never"."""
    if then is None:
        return "never"
    return format_duration(now - then) + " ago"


def format_heartbeat(now: datetime, then: datetime | None,
                     stale_after: timedelta, live: bool,
                     report: StatusReport | None = None) -> str:
    """`format_age`, marked "(stale)" when a live thing went silent (by
    `report`'s outages, if given)."""
    text = format_age(now, then)
    if report is not None and report.service_away:
        return text
    since = then
    if (report is not None and report.outage_ended is not None
            and then is not None):
        since = max(then, report.outage_ended)
    if live and since is not None and now - since > stale_after:
        text += " (stale)"
    return text


def format_time(when: datetime | None) -> str:
    return "-" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


def last_line(logtail: str | None) -> str:
    """The last non-blank line of a log tail, shortened to fit a table."""
    lines = [line for line in redact(logtail or "").splitlines()
             if line.strip()]
    if not lines:
        return ""
    return printable(lines[-1].strip(), LOG_TAIL_WIDTH)


def event_data_text(data: dict) -> str:
    """An event's data as ": KEY=value, ...", or "" for none; values
    (operators' messages, URLs) are shown by `printable`."""
    if not data:
        return ""
    return ": " + ", ".join(f"{key}={printable(value, CELL_WIDTH)}"
                            for key, value in data.items())


def table(headers: tuple, rows: list) -> list[str]:
    """Lay out `rows` under `headers` in left-aligned columns.

    Cells hold user data (host names, import names, URLs, log lines):
    each is shown by `printable`, at most `CELL_WIDTH` characters, so no
    cell can break a row or the terminal.
    """
    cells = [tuple(headers)] + [
        tuple(printable(cell, CELL_WIDTH) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        "  " + "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in cells
    ]


def render(report: StatusReport) -> str:
    """Return the report as text, one section per topic."""
    now = report.now
    out = [f"Machines ({len(report.machines)})"]
    if report.machines:
        out += table(("HOSTNAME", "STATE", "HEARTBEAT", "JOBS"), [
            (host, state, format_heartbeat(
                now, beat, report.machine_stale_after, state != "OFFLINE",
                report),
             jobs)
            for host, state, beat, jobs in report.machines])
    else:
        out.append("  none")
    out += ["", f"Running jobs ({len(report.running)})"]
    if report.running:
        out += table(
            ("JOB", "IMPORT", "MACHINE", "STARTED", "HEARTBEAT", "LOG TAIL"),
            [(job_id, name, host or "-", format_time(started),
              format_heartbeat(now, beat, report.job_stale_after, True,
                               report),
              last_line(logtail))
             for job_id, name, host, started, beat, logtail
             in report.running])
    else:
        out.append("  none")
    later = f"{report.due_later} later"
    if report.next_due is not None:
        later += f" (next in {format_duration(report.next_due - now)})"
    out += ["", f"Pending jobs: {report.due_now} due now "
            f"({report.due_now_requested} requested), {later}"]
    out += ["", f"Latest results ({len(report.results)})"]
    if report.results:
        out += table(("IMPORT", "STATUS", "FINISHED", "DURATION"), [
            (name, status, format_time(finished),
             "-" if took is None else format_duration(took))
            for name, status, finished, took in report.results])
    else:
        out.append("  none")
    out.append("")
    if report.puller is None:
        out.append("Branch puller: no run recorded")
    else:
        host, started, completed = report.puller
        out.append(
            f"Branch puller: last run on {printable(host, CELL_WIDTH)} "
            "finished "
            f"{format_age(now, completed)}, took "
            f"{format_duration(completed - started)}")
    return "\n".join(out)


def as_json(report: StatusReport) -> str:
    """The report as JSON (see `codeimport.scripts.jsonout`)."""
    from codeimport.scripts.jsonout import dumps

    puller = None
    if report.puller is not None:
        host, started, completed = report.puller
        puller = {"hostname": host, "date_started": started,
                  "date_completed": completed}
    return dumps({
        "now": report.now,
        "machines": [
            {"hostname": h, "state": s, "heartbeat": b, "running_jobs": j}
            for h, s, b, j in report.machines],
        "running": [
            {"job": i, "import": n, "machine": m, "date_started": d,
             "heartbeat": b, "log_tail": t}
            for i, n, m, d, b, t in report.running],
        "service": {"away": report.service_away,
                    "outage_ended": report.outage_ended},
        "pending": {"due_now": report.due_now,
                    "due_now_requested": report.due_now_requested,
                    "due_later": report.due_later,
                    "next_due": report.next_due},
        "results": [
            {"import": n, "status": s, "date_finished": f,
             "duration_seconds": d}
            for n, s, f, d in report.results],
        "puller": puller,
    })


def _main(argv) -> int:
    parser = ArgumentParser(
        prog=PROG,
        description="Show import machines (state, last heartbeat, running "
        "jobs), running jobs (machine, start, heartbeat, last log line), "
        "how many pending jobs are due now and later, the latest results "
        "and the branch puller's last run.  Heartbeats the watchdog would "
        "act on are marked (stale), using the limits of --settings-file.  "
        "Read-only; runs as database role importd.")
    add_database_options(parser)
    parser.add_argument(
        "--results", type=positive(int, allow_zero=True), default=10,
        metavar="N",
        help="how many latest results to show (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of tables")
    options = parser.parse_args(argv)
    dsn = resolve_dsn(options)
    settings = load_settings(options.settings_file)
    store = database.make_store(dsn, role=ROLE)
    try:
        database.require_schema(store)
        report = collect(store, options.results, settings)
    finally:
        store.rollback()
        store.close()
    print(as_json(report) if options.json else render(report))
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
