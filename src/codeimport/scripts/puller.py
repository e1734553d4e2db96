"""`codeimport puller`: mirror the branches that are due.

Talks only to the authserver (XML-RPC), never to the database.  Without
``--loop`` it pulls until nothing is due, records the run and exits;
with ``--loop`` it does that every ``--interval`` seconds until SIGTERM
or SIGINT, which also cut a mirror in progress short (that branch is
reported failed and requested again).
"""

from __future__ import annotations

import os
import socket

from codeimport.errors import CodeImportError
from codeimport.puller.mirror import Mirrorer
from codeimport.puller.puller import Puller
from codeimport.scripts.daemon import StopSignals
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import first_line
from codeimport.scripts.options import positive
from codeimport.scripts.options import run
from codeimport.scripts.options import setup_logging
from codeimport.targetstore import check_store
from codeimport.wire.client import DEFAULT_TIMEOUT
from codeimport.wire.client import BranchStatusClient

__all__ = ["main"]

PROG = "codeimport puller"
URL_VARIABLE = "CODEIMPORT_AUTHSERVER_URL"
BRANCH_TYPES = ("MIRRORED", "IMPORTED")


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Mirror branches that are due into the mirror store, "
        "one bare Git repository per branch at <mirror store>/<owner>/"
        "<project>/<name>, and report each result to the authserver "
        "(mirrorComplete with the tip sha, or mirrorFailed with the "
        "reason).  MIRRORED branches are fetched from their http, https or "
        "git URL; IMPORTED branches from the import workers' store.  A run "
        "that ends normally is recorded as script activity "
        "'branch-puller'.  Uses no database.")
    add = parser.add_argument
    add("--authserver-url", default=os.environ.get(URL_VARIABLE),
        metavar="URL",
        help=f"the /authserver endpoint, credentials included (default: "
        f"${URL_VARIABLE}, which keeps the password out of ps)")
    add("--mirror-store", required=True, metavar="DIR",
        help="where the mirrors are written (must exist)")
    add("--import-store", metavar="DIR",
        help="where the import workers write; required to pull IMPORTED "
        "branches")
    add("--branch-type", action="append", choices=BRANCH_TYPES,
        dest="branch_types", metavar="TYPE",
        help="MIRRORED or IMPORTED; repeat for both (default: both)")
    add("--loop", action="store_true",
        help="keep pulling, a run every --interval seconds")
    add("--interval", type=positive(float), default=60.0,
        metavar="SECONDS", help="with --loop: the time between runs "
        "(default: %(default)s)")
    add("--max-branches", type=positive(int), metavar="N",
        help="pull at most N branches per run")
    add("--allow-file-urls", action="store_true",
        help="also mirror file:// URLs and local paths (demos and tests)")
    add("--exclude-host", action="append", default=[], metavar="HOST",
        dest="excluded_hosts",
        help="never mirror from HOST or its subdomains (repeatable)")
    add("--hostname", default=socket.gethostname(),
        help="this host's name in the run record (default: %(default)s)")
    add("--timeout", type=positive(float), default=DEFAULT_TIMEOUT,
        metavar="SECONDS", help="XML-RPC timeout (default: %(default)s)")
    add("-v", "--verbose", action="store_true",
        help="also log each mirror's fetch output")
    return parser


def _directory(path: str, what: str, write: bool) -> str:
    check_store(path, what, write=write)
    return os.path.realpath(path)


def _build(options):
    """Check the options; return (client, mirrorer, branch types)."""
    if not options.authserver_url:
        raise CodeImportError(
            f"No authserver: use --authserver-url or set {URL_VARIABLE}.")
    types = list(dict.fromkeys(options.branch_types or BRANCH_TYPES))
    mirror_store = _directory(options.mirror_store, "mirror store", True)
    import_store = None
    if options.import_store is not None:
        import_store = _directory(options.import_store, "import store",
                                  False)
        if import_store == mirror_store:
            raise CodeImportError(
                "--import-store and --mirror-store must be different "
                "directories.")
    elif "IMPORTED" in types:
        raise CodeImportError(
            "--import-store is required to pull IMPORTED branches.")
    try:
        client = BranchStatusClient(options.authserver_url, options.timeout)
    except ValueError as error:
        raise CodeImportError(f"--authserver-url: {error}") from None
    mirrorer = Mirrorer(mirror_store, import_store, options.allow_file_urls,
                        options.excluded_hosts)
    return client, mirrorer, types


def _pull(puller, options, logger) -> bool:
    """One run; True if it ended normally (whatever the mirrors did)."""
    try:
        report = puller.run(options.max_branches)
    except (OSError, CodeImportError) as error:
        logger.error("run failed, not recorded: %s", first_line(error))
        return False
    logger.info("%s%s", report, "" if report.recorded else " (stopped)")
    return True


def _main(argv) -> int:
    options = _make_parser().parse_args(argv)
    client, mirrorer, types = _build(options)
    logger = setup_logging("codeimport.puller", verbose=options.verbose)
    with StopSignals() as stop:
        puller = Puller(client, mirrorer, types, options.hostname, stop)
        if not options.loop:
            ended = _pull(puller, options, logger)
            if stop.requested:
                logger.info("stopped (%s)", stop.signal_name)
            return 0 if ended else 1
        logger.info("started: pulling %s every %gs from %s",
                    "+".join(types), options.interval, client.url)
        while not stop.requested:
            _pull(puller, options, logger)
            stop.wait(options.interval)
        logger.info("stopped (%s)", stop.signal_name)
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
