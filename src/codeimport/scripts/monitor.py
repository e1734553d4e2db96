"""``codeimport monitor``: run one code-import job and report its result.

Usage::

    codeimport monitor JOB_ID --scheduler-url URL [--heartbeat-interval 30]
        [--inactivity-timeout 3600] [--access-policy default|anything]
        [--allowed-source-networks CIDR,...]
        [--target-store DIR] [--authors-file FILE] [--log-file PATH]
        [--spool-dir DIR]

The scheduler URL may also come from ``$CODEIMPORT_SCHEDULER_URL``, which
keeps its password out of process listings; the dispatcher passes it that
way.  SIGTERM or SIGINT kill the worker and hand the job back to the
scheduler (``reclaimJobID``: a RECLAIMED result and a new job due now),
so the job is not lost and the import is not backed off.

Exit status: 0 when the result was reported (whatever it was), the job
was handed back or it no longer exists, 1 when neither the result nor
the hand-back could be reported, 2 for bad options or when the scheduler
refused the machine's credential (the worker is killed at once).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from codeimport.access import POLICY_NAMES
from codeimport.scripts.importworker import STORE_VARIABLE
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import networks_option
from codeimport.scripts.options import positive
from codeimport.scripts.options import setup_logging
from codeimport.wire.client import SchedulerClient
from codeimport.worker.monitor import WorkerMonitor
from codeimport.worker.spool import Spool

__all__ = [
    "default_worker_command",
    "main",
    "worker_environment",
]

URL_VARIABLE = "CODEIMPORT_SCHEDULER_URL"


def default_worker_command(
    access_policy: str = "default", target_store: str | None = None,
    authors_file: str | None = None, allowed_source_networks: str = "",
) -> Callable[[list[str]], list[str]]:
    """Return a builder of the import worker's command line.

    The worker runs without -v: its output is the job's log, which users
    see, so an unexpected error leaves one line there, not a traceback
    with this machine's paths.
    """

    def build(arguments: list[str]) -> list[str]:
        command = [sys.executable, "-m", "codeimport.cli", "importworker"]
        command += ["--access-policy", access_policy]
        if target_store:
            command += ["--target-store", target_store]
        if authors_file:
            command += ["--authors-file", authors_file]
        if allowed_source_networks:
            command += ["--allowed-source-networks", allowed_source_networks]
        return command + ["--"] + arguments

    return build


def worker_environment() -> dict[str, str]:
    """The worker's environment: ours, unbuffered, without the secret URL."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop(URL_VARIABLE, None)
    return env


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="codeimport monitor",
        description="Run one code-import job and report its result.",
    )
    parser.add_argument("job_id", type=int, help="the job to run")
    parser.add_argument(
        "--scheduler-url",
        default=os.environ.get(URL_VARIABLE),
        help=f"scheduler endpoint (default: ${URL_VARIABLE})",
    )
    parser.add_argument(
        "--heartbeat-interval", type=positive(float), default=30.0
    )
    parser.add_argument(
        "--inactivity-timeout",
        type=positive(float),
        default=3600.0,
        help="kill a worker silent for this many seconds (%(default)s)",
    )
    parser.add_argument(
        "--retry-timeout",
        type=positive(float),
        default=600.0,
        help="keep retrying an unreachable scheduler this long (%(default)s)",
    )
    parser.add_argument(
        "--access-policy", choices=POLICY_NAMES, default="default"
    )
    parser.add_argument("--target-store", help="passed on to the worker")
    parser.add_argument(
        "--spool-dir",
        help="keep the result here until the scheduler has it (the "
        "dispatcher reports what is left)")
    parser.add_argument("--authors-file", help="passed on to the worker")
    parser.add_argument("--allowed-source-networks", default="",
                        metavar="CIDR,...", type=networks_option,
                        help="passed on to the worker")
    parser.add_argument("--log-file", help="where this monitor logs")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _make_parser()
    try:
        options = parser.parse_args(argv)
        if not options.scheduler_url:
            parser.error(f"--scheduler-url or ${URL_VARIABLE} is required")
        try:
            client = SchedulerClient(options.scheduler_url)
        except ValueError as error:
            parser.error(str(error))
        try:
            setup_logging(log_file=options.log_file, verbose=options.verbose)
        except OSError as error:
            parser.error(f"cannot open the log file: {error}")
        try:
            spool = Spool(options.spool_dir) if options.spool_dir else None
        except OSError as error:
            parser.error(f"cannot use the spool directory: {error}")
    except SystemExit as exit:
        # argparse has printed the usage and the error (or the help).
        return int(exit.code or 0)
    monitor = WorkerMonitor(
        options.job_id,
        client,
        default_worker_command(options.access_policy, options.target_store,
                               options.authors_file,
                               options.allowed_source_networks),
        heartbeat_interval=options.heartbeat_interval,
        inactivity_timeout=options.inactivity_timeout,
        retry_timeout=options.retry_timeout,
        env=worker_environment(),
        spool=spool,
        target_store=(options.target_store
                      or os.environ.get(STORE_VARIABLE)),
    )
    previous = {
        signum: signal.signal(signum, lambda *_: monitor.interrupt())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return monitor.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
