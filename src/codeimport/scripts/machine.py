"""`codeimport machine`: set an import machine online, offline or quiescing.
"""

from __future__ import annotations

from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.errors import CodeImportError
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.session import lookup_person
from codeimport.scripts.session import operator_transaction

__all__ = ["main"]

PROG = "codeimport machine"
ROLE = "importd"
_Reason = CodeImportMachineOfflineReason
#: The reasons an operator may give.  WATCHDOG is the watchdog's own,
#: which a live dispatcher takes as "set me ONLINE again".
REASONS = tuple(item.name for item in _Reason.items
                if item is not _Reason.WATCHDOG)


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Change an import machine's state.  online: OFFLINE "
        "or QUIESCING -> ONLINE (it takes jobs again).  offline: ONLINE or "
        "QUIESCING -> OFFLINE (it takes no jobs; its running jobs are left "
        "to finish or to be reclaimed).  quiesce: ONLINE -> QUIESCING (it "
        "finishes its jobs, takes no more, then goes OFFLINE by itself; "
        "needs --by).  Each change is recorded as a machine event.  Runs "
        "as database role importd.")
    add_database_options(parser)
    parser.add_argument("action", choices=("online", "offline", "quiesce"))
    parser.add_argument("hostname", metavar="HOSTNAME")
    parser.add_argument("--by", metavar="PERSON",
                        help="who makes the change (required to quiesce)")
    parser.add_argument("--message", metavar="M",
                        help="why, for the audit trail")
    parser.add_argument("--reason", choices=REASONS, default=None,
                        help="offline only: the recorded reason (default: "
                        "STOPPED)")
    parser.add_argument("--create", action="store_true",
                        help="online only: register HOSTNAME if it is new")
    return parser


def _check(parser: ArgumentParser, options) -> None:
    if options.reason is not None and options.action != "offline":
        parser.error("--reason is only for offline")
    if options.create and options.action != "online":
        parser.error("--create is only for online")
    if options.action == "quiesce" and options.by is None:
        parser.error("quiesce needs --by PERSON")


def _main(argv) -> int:
    parser = _make_parser()
    options = parser.parse_args(argv)
    _check(parser, options)
    dsn = resolve_dsn(options)
    settings = load_settings(options.settings_file)
    with operator_transaction(dsn, ROLE, settings) as utilities:
        user = None
        if options.by is not None:
            user = lookup_person(utilities, options.by)
        machine = utilities.machines.getByHostname(options.hostname)
        created = machine is None and options.create
        if created:
            machine = utilities.machines.new(options.hostname)
        elif machine is None:
            known = ", ".join(m.hostname for m in utilities.machines.getAll())
            raise CodeImportError(
                f"No machine called {options.hostname!r} (known: "
                f"{known or 'none'}; use online --create to register it).")
        before = machine.state
        if options.action == "online":
            machine.setOnline(user, options.message)
        elif options.action == "offline":
            reason = _Reason.items[options.reason or "STOPPED"]
            machine.setOffline(reason, user, options.message)
        else:
            machine.setQuiescing(user, options.message)
        after = machine.state
    if created:
        print(f"{options.hostname}: registered")
    print(f"{options.hostname}: {before.name} -> {after.name}")
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
