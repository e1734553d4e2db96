"""`codeimport watchdog`: reclaim stale jobs, take silent machines offline.

Each round is one transaction as database role ``importd``: it runs the
library's watchdog (`ICodeImportWatchdog.run`), commits and logs one
line with what it did.  A failed round is rolled back and logged, and
the next round runs as usual.  SIGTERM and SIGINT end the loop after the
current round.
"""

from __future__ import annotations

import logging

from codeimport import database
from codeimport.registration import build_utilities
from codeimport.scripts.daemon import StopSignals
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import first_line
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import positive
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.options import setup_logging

__all__ = ["main", "run_round"]

PROG = "codeimport watchdog"
DEFAULT_INTERVAL = 60.0


def run_round(store, utilities, logger: logging.Logger) -> bool:
    """Do one watchdog round in its own transaction; True if it worked."""
    try:
        report = utilities.watchdog.run()
        store.commit()
    except Exception as error:
        logger.error("round failed, rolled back: %s", first_line(error))
        logger.debug("round failed", exc_info=True)
        try:
            store.rollback()
        except Exception:  # the connection is gone; Storm reconnects
            logger.debug("rollback failed", exc_info=True)
        return False
    logger.info("%s", report)
    return True


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Periodically reclaim RUNNING jobs whose heartbeat is "
        "older than maximum_heartbeat_interval (each gets a RECLAIMED "
        "result and a new job due now) and set ONLINE or QUIESCING "
        "machines that have not polled for machine_heartbeat_limit "
        "OFFLINE with reason WATCHDOG.  Silence counts only while the "
        "scheduler service reaches the database (service_outage_after): "
        "give it the service's settings file.  Runs as database role "
        "importd.  Stops cleanly on SIGTERM or SIGINT.")
    add_database_options(parser)
    parser.add_argument(
        "--interval", type=positive(float), default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help="time between rounds (default: %(default)s)")
    parser.add_argument(
        "--once", action="store_true",
        help="run one round and exit (status 1 if it failed)")
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="log tracebacks of failed rounds")
    return parser


def _main(argv) -> int:
    options = _make_parser().parse_args(argv)
    dsn = resolve_dsn(options)
    settings = load_settings(options.settings_file)
    logger = setup_logging("codeimport.watchdog", verbose=options.verbose)
    store = database.make_store(dsn, role="importd")
    try:
        # Fail at once, with one line, when the database is unusable.
        database.require_schema(store)
        store.rollback()
        utilities = build_utilities(lambda: store, settings)
        if options.once:
            return 0 if run_round(store, utilities, logger) else 1
        logger.info(
            "started: a round every %gs, jobs stale after %ds, machines "
            "after %ds", options.interval,
            settings.maximum_heartbeat_interval,
            settings.machine_heartbeat_limit)
        with StopSignals() as stop:
            while not stop.requested:
                run_round(store, utilities, logger)
                stop.wait(options.interval)
            logger.info("stopped (%s)", stop.signal_name)
        return 0
    finally:
        store.close()


def main(argv=None) -> int:
    return run(PROG, _main, argv)
