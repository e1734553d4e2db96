"""``codeimport dispatch``: the import machine's daemon.

Usage::

    codeimport dispatch --scheduler-url URL [--hostname H] [--max-jobs N]
        [--poll-interval S] [--max-backoff S] [--grace-period S]
        [--access-policy default|anything] [--target-store DIR]
        [--authors-file FILE]
        [--allowed-source-networks CIDR,...] [--settings-file FILE]
        [--log-dir DIR] [--spool-dir DIR] [--quiesce-file PATH]

Asks the scheduler for jobs and runs ``codeimport monitor`` for each; see
`codeimport.worker.dispatcher` for stopping (SIGTERM, SIGINT: running
jobs are handed back), quiescing (SIGUSR1 or the quiesce file) and how
the machine's state, as operators and the watchdog set it, is followed.
The scheduler URL may come from ``$CODEIMPORT_SCHEDULER_URL``; it reaches
the monitors through their environment, never their command line, so its
password stays out of process listings.

Exit status: 0 when stopped or quiesced, 2 for bad options and when the
scheduler refuses the machine for good (a wrong credential, one not
bound to the scheduler or to this host name, a URL that is not a
scheduler's): one line on stderr (and in the log) says why.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys

from codeimport.access import POLICY_NAMES
from codeimport.errors import CodeImportValidationError
from codeimport.errors import ConfigurationError
from codeimport.scripts.importworker import STORE_VARIABLE
from codeimport.scripts.monitor import URL_VARIABLE
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import networks_option
from codeimport.scripts.options import positive
from codeimport.scripts.options import setup_logging
from codeimport.targetstore import StoreUnusable
from codeimport.targetstore import check_store
from codeimport.validators import validate_hostname
from codeimport.wire.client import SchedulerClient
from codeimport.worker.authors import AuthorsFileError
from codeimport.worker.authors import read_authors_file
from codeimport.worker.dispatcher import Dispatcher
from codeimport.worker.dispatcher import SchedulerRefused
from codeimport.worker.dispatcher import spawn_monitor
from codeimport.worker.spool import Spool

__all__ = ["main"]


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport dispatch",
        description="Take code-import jobs from the scheduler and run them.",
    )
    add = parser.add_argument
    add("--scheduler-url", default=os.environ.get(URL_VARIABLE),
        help=f"scheduler endpoint (default: ${URL_VARIABLE})")
    add("--hostname", default=socket.gethostname(),
        help="this machine's name for the scheduler (default: %(default)s)")
    add("--max-jobs", type=positive(int), default=3,
        help="jobs to run at once (default: %(default)s)")
    add("--poll-interval", type=positive(float), default=10.0,
        help="first wait after an empty or failed poll (%(default)s s)")
    add("--max-backoff", type=positive(float), default=300.0,
        help="longest wait between polls (%(default)s s); each poll is "
        "the machine's heartbeat, so keep this well below the "
        "scheduler's machine_heartbeat_limit")
    add("--grace-period", type=positive(float), default=60.0,
        help="on stop, wait this long for jobs to finish (%(default)s s)")
    add("--stop-timeout", type=positive(float), default=30.0,
        help="then wait this long for interrupted jobs to report")
    add("--quiesce-file", help="quiesce when this file exists")
    add("--max-runs", type=positive(int), metavar="N",
        help="take at most N jobs in all, then quiesce: exit once they "
        "have finished (default: no limit)")
    add("--access-policy", choices=POLICY_NAMES, default="default")
    add("--target-store", help="the fleet's shared target store, a "
        f"directory (default: ${STORE_VARIABLE}); passed on to the workers")
    add("--authors-file", help="passed on to the workers: source user "
        "names to Git identities, 'name = Full Name <email>' lines")
    add("--allowed-source-networks", type=networks_option,
        metavar="CIDR,...", help="passed on to the workers: internal "
        "networks sources may be on (default: the settings file's "
        "allowed_source_networks, else none)")
    add("--settings-file", help="an INI file whose [codeimport] section's "
        "allowed_source_networks the workers apply")
    add("--heartbeat-interval", type=positive(float),
        help="passed on to the monitors")
    add("--inactivity-timeout", type=positive(float),
        help="passed on to the monitors")
    add("--log-dir", help="one log file per job here, plus dispatcher.log")
    add("--spool-dir", help="results not reported yet are kept here "
        "(default: LOG_DIR/spool, or ~/.local/state/codeimport/spool-"
        "HOSTNAME without --log-dir)")
    add("-v", "--verbose", action="store_true")
    return parser


def monitor_builder(options):
    """Return spawn(job_id) for the `Dispatcher`, built from `options`."""
    env = dict(os.environ)
    env[URL_VARIABLE] = options.scheduler_url

    def spawn(job_id: int):
        command = [sys.executable, "-m", "codeimport.cli", "monitor",
                   str(job_id), "--access-policy", options.access_policy]
        for name in ("target_store", "authors_file", "heartbeat_interval",
                     "inactivity_timeout", "spool_dir",
                     "allowed_source_networks"):
            value = getattr(options, name)
            if value is not None:
                command += ["--" + name.replace("_", "-"), str(value)]
        log_path = None
        if options.log_dir:
            log_path = os.path.join(
                options.log_dir, f"code-import-worker-{job_id}.log")
            command += ["--log-file", log_path]
        if options.verbose:
            command.append("-v")
        return spawn_monitor(command, env, log_path)

    return spawn


def default_spool_dir(options) -> str:
    """Where results wait to be reported: ``--spool-dir``, else beside
    the logs, else in the user's state directory, per host name."""
    if options.spool_dir:
        return os.path.abspath(options.spool_dir)
    if options.log_dir:
        return os.path.join(os.path.abspath(options.log_dir), "spool")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "codeimport", f"spool-{options.hostname}")


def main(argv: list[str] | None = None) -> int:
    parser = _make_parser()
    try:
        options = parser.parse_args(argv)
        if not options.scheduler_url:
            parser.error(f"--scheduler-url or ${URL_VARIABLE} is required")
        try:
            validate_hostname(options.hostname)
        except CodeImportValidationError as error:
            parser.error(f"--hostname: {error}")
        try:
            client = SchedulerClient(options.scheduler_url)
        except ValueError as error:
            parser.error(str(error))
        if options.authors_file:
            # Refuse a bad file now rather than fail every import later.
            try:
                read_authors_file(options.authors_file)
            except AuthorsFileError as error:
                parser.error(str(error))
            options.authors_file = os.path.abspath(options.authors_file)
        if options.allowed_source_networks is None:
            try:
                settings = load_settings(options.settings_file)
            except ConfigurationError as error:
                parser.error(str(error))
            options.allowed_source_networks = ",".join(
                settings.allowed_source_networks) or None
        # Refuse an unusable store now rather than go ONLINE and fail
        # every job (the monitors and workers inherit the variable).
        options.target_store = store = (
            options.target_store or os.environ.get(STORE_VARIABLE))
        if not store:
            parser.error(f"--target-store or ${STORE_VARIABLE} is required")
        try:
            check_store(store)
        except StoreUnusable as error:
            parser.error(str(error))
        log_file = None
        if options.log_dir:
            if not os.path.isdir(options.log_dir):
                parser.error(f"no such directory: {options.log_dir}")
            log_file = os.path.join(options.log_dir, "dispatcher.log")
        try:
            setup_logging(log_file=log_file, verbose=options.verbose)
        except OSError as error:
            parser.error(f"cannot open the log file: {error}")
        options.spool_dir = default_spool_dir(options)
        try:
            spool = Spool(options.spool_dir)
        except OSError as error:
            parser.error(f"cannot use the spool directory: {error}")
    except SystemExit as exit:
        # argparse has printed the usage and the error (or the help).
        return int(exit.code or 0)
    dispatcher = Dispatcher(
        client,
        options.hostname,
        options.max_jobs,
        monitor_builder(options),
        poll_interval=options.poll_interval,
        max_backoff=options.max_backoff,
        grace_period=options.grace_period,
        stop_timeout=options.stop_timeout,
        quiesce_file=options.quiesce_file,
        max_runs=options.max_runs,
        spool=spool,
    )
    previous = dispatcher.installSignalHandlers()
    try:
        return dispatcher.run()
    except SchedulerRefused as error:
        logging.getLogger("codeimport.dispatcher").error(
            "Stopping: %s", error)
        if log_file is not None:
            # The log is a file: the terminal still hears why.
            print(f"codeimport dispatch: {error}", file=sys.stderr)
        return 2
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
