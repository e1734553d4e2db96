"""`codeimport machines`: the import machines, their state and jobs.

Read-only; runs as database role ``importd``.  Change a machine's state
with `codeimport machine`.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone

from codeimport.scripts.jsonout import dumps
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import positive
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.session import operator_transaction
from codeimport.scripts.status import CELL_WIDTH
from codeimport.scripts.status import event_data_text
from codeimport.scripts.status import format_age
from codeimport.scripts.status import table
from codeimport.text import printable

__all__ = ["main"]

PROG = "codeimport machines"
ROLE = "importd"


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="List import machines: state (with the reason of an "
        "OFFLINE one), last heartbeat and running jobs; --events N adds "
        "each machine's newest events.  Read-only; runs as database role "
        "importd.")
    add_database_options(parser)
    parser.add_argument("--events", type=positive(int, allow_zero=True),
                        default=0, metavar="N",
                        help="show each machine's N newest events")
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of a table")
    return parser


def _describe(machine, events: int) -> dict:
    reason = machine.offline_reason
    return {
        "hostname": machine.hostname, "state": machine.state,
        "offline_reason": reason, "heartbeat": machine.heartbeat,
        "running": [job.code_import.branch.unique_name
                    for job in machine.current_jobs],
        "events": [{
            "date_created": e.date_created, "event_type": e.event_type,
            "person": None if e.person is None else e.person.name,
            "data": {key.name: value for key, value in e.items()},
        } for e in machine.getEvents(0, events)],
    }


def _main(argv) -> int:
    options = _parser().parse_args(argv)
    dsn = resolve_dsn(options)
    with operator_transaction(dsn, ROLE, load_settings(
            options.settings_file)) as utilities:
        machines = [_describe(m, options.events)
                    for m in utilities.machines.getAll()]
    if options.json:
        print(dumps(machines))
        return 0
    if not machines:
        print("No machine has registered yet.")
        return 0
    now = datetime.now(timezone.utc)
    lines = table(("HOSTNAME", "STATE", "HEARTBEAT", "RUNNING"), [
        (m["hostname"], m["state"].name + (
            f" ({m['offline_reason'].name})" if m["offline_reason"] else ""),
         format_age(now, m["heartbeat"]), ", ".join(m["running"]) or "-")
        for m in machines])
    out = [line[2:] for line in lines]
    for m in machines:
        if m["events"]:
            out += ["", f"{printable(m['hostname'], CELL_WIDTH)}:"]
            for e in m["events"]:
                who = f" by {e['person']}" if e["person"] else ""
                out.append(f"  {e['date_created']:%Y-%m-%d %H:%M:%S} "
                           f"{e['event_type'].name}{who}"
                           + event_data_text(e["data"]))
    print("\n".join(out))
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
