"""`codeimport imports` and `codeimport show`: what the imports are doing.

Read-only; run as database role ``webapp``, through the same library
calls as the web interface (`ICodeImportListing`, the import's results
and audit trail).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone

from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.errors import CodeImportError
from codeimport.interfaces.listing import LISTING_FILTERS
from codeimport.interfaces.listing import LISTING_SORTS
from codeimport.redact import redact
from codeimport.scripts.jsonout import dumps
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import positive
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.requestimport import find_code_import
from codeimport.scripts.session import operator_transaction
from codeimport.scripts.status import CELL_WIDTH
from codeimport.scripts.status import event_data_text
from codeimport.scripts.status import format_age
from codeimport.scripts.status import format_duration
from codeimport.scripts.status import format_time
from codeimport.scripts.status import table
from codeimport.text import printable

__all__ = ["describe", "find_import", "main_imports", "main_show"]

ROLE = "webapp"
#: The widest detail or log line `show` prints.
DETAIL_WIDTH = 200
_KINDS = tuple(item.name for item in RevisionControlSystems.items)
_STATUSES = tuple(item.name for item in CodeImportReviewStatus.items)


def _imports_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport imports",
        description="List imports: target, source kind and URL, review "
        "status, last result and when, next due, consecutive failures and "
        "the time since the last success.  Read-only; runs as database "
        "role webapp.")
    add_database_options(parser)
    parser.add_argument("--filter", choices=LISTING_FILTERS,
                        help="only FAILING, running or never-succeeded "
                        "imports")
    parser.add_argument("--search", metavar="TEXT",
                        help="part of the target's name or the source URL")
    parser.add_argument("--kind", choices=_KINDS, help="the source kind")
    parser.add_argument("--status", choices=_STATUSES,
                        help="the review status")
    parser.add_argument("--sort", choices=LISTING_SORTS, default="name",
                        help="(default: %(default)s)")
    parser.add_argument("--limit", type=positive(int, allow_zero=True),
                        default=None, metavar="N")
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of a table")
    return parser


def _summary_dict(row) -> dict:
    return {
        "id": row.id, "unique_name": row.unique_name, "owner": row.owner,
        "project": row.project, "name": row.name, "rcs_type": row.rcs_type,
        "source": row.source, "review_status": row.review_status,
        "job_state": row.job_state, "next_due": row.next_due,
        "last_status": row.last_status, "last_finished": row.last_finished,
        "consecutive_failures": row.consecutive_failures,
        "date_last_successful": row.date_last_successful,
        "freshness_seconds": row.freshness,
    }


def _imports(argv) -> int:
    options = _imports_parser().parse_args(argv)
    dsn = resolve_dsn(options)
    with operator_transaction(dsn, ROLE, load_settings(
            options.settings_file)) as utilities:
        rows = utilities.listing.search(
            text=options.search or None, filter=options.filter,
            rcs_type=(RevisionControlSystems.items[options.kind]
                      if options.kind else None),
            review_status=(CodeImportReviewStatus.items[options.status]
                           if options.status else None),
            sort=options.sort, limit=options.limit)
    if options.json:
        print(dumps([_summary_dict(row) for row in rows]))
        return 0
    if not rows:
        print("No imports match.")
        return 0
    lines = table(
        ("ID", "IMPORT", "SOURCE", "REVIEW", "LAST RESULT", "NEXT DUE",
         "FAILURES", "LAST SUCCESS"),
        [(row.id, row.unique_name, f"{row.rcs_type.name} {row.source}",
          row.review_status.name,
          (f"{row.last_status.name} {format_age(row.now, row.last_finished)}"
           if row.last_status else "-"),
          ("running" if row.job_state is not None
           and row.job_state.name == "RUNNING"
           else format_time(row.next_due)),
          row.consecutive_failures,
          format_age(row.now, row.date_last_successful))
         for row in rows])
    # `table` shows names and URLs harmlessly.
    print("\n".join(line[2:] for line in lines))
    return 0


def find_import(utilities, name: str):
    """The import called `name`: its id, or its target's unique name.

    :raises CodeImportError: when there is none.
    """
    if name.isdigit():
        try:
            return utilities.code_imports.get(int(name))
        except LookupError:
            raise CodeImportError(f"No code import has id {name}.") from None
    return find_code_import(utilities, name)


def describe(utilities, code_import, now) -> dict:
    """Everything `show` prints about an import, as plain data."""
    job = code_import.import_job
    results = list(code_import.results)
    events = utilities.events.getEventsForCodeImport(code_import)
    last = code_import.date_last_successful

    def name_of(person):
        return None if person is None else person.name

    return {
        "id": code_import.id,
        "unique_name": code_import.branch.unique_name,
        "owner": code_import.owner.name,
        "registrant": code_import.registrant.name,
        "rcs_type": code_import.rcs_type,
        "target_rcs_type": code_import.target_rcs_type,
        "source": code_import.getImportDetailsForDisplay(),
        "source_credentials": code_import.has_source_credentials,
        "review_status": code_import.review_status,
        "update_interval": code_import.effective_update_interval,
        "date_created": code_import.date_created,
        "date_last_successful": last,
        "freshness_seconds": None if last is None else now - last,
        "consecutive_failures": code_import.consecutive_failure_count,
        "job": None if job is None else {
            "id": job.id, "state": job.state, "date_due": job.date_due,
            "requesting_user": name_of(job.requesting_user),
            "machine": None if job.machine is None else job.machine.hostname,
            "date_started": job.date_started, "heartbeat": job.heartbeat,
            "logtail": redact(job.logtail or ""),
        },
        "results": [{
            "id": r.id, "status": r.status,
            "date_job_started": r.date_job_started,
            "date_job_finished": r.date_job_finished,
            "duration_seconds": r.job_duration,
            "machine": None if r.machine is None else r.machine.hostname,
            "requesting_user": name_of(r.requesting_user),
            "log_excerpt": redact(r.log_excerpt or ""),
            "log_file": None if r.log_file is None else r.log_file.filename,
        } for r in results],
        "events": [{
            "id": e.id, "date_created": e.date_created,
            "event_type": e.event_type, "person": name_of(e.person),
            "machine": None if e.machine is None else e.machine.hostname,
            "data": {key.name: value if value is None else redact(value)
                     for key, value in e.items()},
        } for e in events],
    }


def _show_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport show",
        description="Show one import: its details, current job (with the "
        "log tail), results (newest first) and audit trail (oldest "
        "first).  IMPORT is the target's unique name "
        "(~owner/project/name) or the import's id.  Read-only; runs as "
        "database role webapp.")
    add_database_options(parser)
    parser.add_argument("code_import", metavar="IMPORT")
    parser.add_argument("--log", metavar="RESULT_ID", type=positive(int),
                        help="print the full log of that result instead")
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of text")
    return parser


def _render(info: dict, now) -> str:
    """`info` as text; every value from users or sources is shown by
    `printable`."""
    out = [f"{printable(info['unique_name'], CELL_WIDTH)} "
           f"(import {info['id']})"]
    freshness = (format_age(now, info["date_last_successful"])
                 if info["date_last_successful"] else "never")
    details = (
        ("source", f"{info['rcs_type'].name} {info['source']}"
                   + (" (with stored credentials)"
                      if info["source_credentials"] else "")),
        ("target", info["target_rcs_type"].name),
        ("owner", info["owner"]), ("registrant", info["registrant"]),
        ("review status", info["review_status"].name),
        ("update interval", format_duration(info["update_interval"])),
        ("last success", freshness),
        ("consecutive failures", info["consecutive_failures"]))
    out += [f"  {label}: {printable(value, DETAIL_WIDTH)}"
            for label, value in details]
    job = info["job"]
    out += ["", "Job:"]
    if job is None:
        out.append("  none")
    else:
        out.append(f"  {job['id']} {job['state'].name}, due "
                   f"{format_time(job['date_due'])}"
                   + (f", requested by {job['requesting_user']}"
                      if job["requesting_user"] else ""))
        if job["machine"]:
            out.append(f"  on {printable(job['machine'], CELL_WIDTH)} "
                       f"since {format_time(job['date_started'])}, "
                       f"heartbeat {format_age(now, job['heartbeat'])}")
            out += ["  | " + printable(line, DETAIL_WIDTH) for line in
                    (job["logtail"] or "").splitlines()]
    out += ["", f"Results ({len(info['results'])}):"]
    out += table(("ID", "FINISHED", "STATUS", "TOOK", "MACHINE", "LOG"), [
        (r["id"], format_time(r["date_job_finished"]), r["status"].name,
         format_duration(r["duration_seconds"]), r["machine"] or "-",
         r["log_file"] or "-") for r in info["results"]]) if info[
        "results"] else ["  none"]
    out += ["", f"Events ({len(info['events'])}):"]
    for e in info["events"]:
        who = f" by {e['person']}" if e["person"] else ""
        where = (f" on {printable(e['machine'], CELL_WIDTH)}"
                 if e["machine"] else "")
        out.append(f"  {format_time(e['date_created'])} "
                   f"{e['event_type'].name}{who}{where}"
                   + event_data_text(e["data"]))
    return "\n".join(out)


def _show(argv) -> int:
    options = _show_parser().parse_args(argv)
    dsn = resolve_dsn(options)
    with operator_transaction(dsn, ROLE, load_settings(
            options.settings_file)) as utilities:
        code_import = find_import(utilities, options.code_import)
        if options.log is not None:
            return _print_log(code_import, options.log)
        now = datetime.now(timezone.utc)
        info = describe(utilities, code_import, now)
    print(dumps(info) if options.json else _render(info, now))
    return 0


def _print_log(code_import, result_id: int) -> int:
    for result in code_import.results:
        if result.id == result_id:
            if result.log_file is None:
                raise CodeImportError(f"Result {result_id} has no log file.")
            # Whole lines, each shown harmlessly; "\r" ends a line.
            text = printable(redact(
                result.log_file.read().decode("utf-8", "replace")),
                multiline=True)
            print(text, end="" if text.endswith("\n") else "\n")
            return 0
    raise CodeImportError(
        f"{code_import.branch.unique_name} has no result {result_id}.")


def main_imports(argv=None) -> int:
    return run("codeimport imports", _imports, argv)


def main_show(argv=None) -> int:
    return run("codeimport show", _show, argv)
