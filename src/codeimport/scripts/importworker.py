"""``codeimport importworker``: run one import and exit with its result.

Usage::

    codeimport importworker [--access-policy default|anything]
        [--allowed-source-networks CIDR,...]
        [--target-store DIR] [--authors-file FILE] [-v]
        -- TARGET_ID RCS TARGET_RCS URL [...]

Every connection the import makes goes through an egress proxy this
process runs (`codeimport.worker.egress`), which applies the source
address rule (`codeimport.addresses`) with ``--allowed-source-networks``.

The exit status is a `WorkerExitCode`; the worker monitor turns it into
the job's result.  Progress goes to stdout, which becomes the job's log.
"""

from __future__ import annotations

import os
import sys
import traceback

from codeimport.access import POLICY_NAMES
from codeimport.access import make_policy
from codeimport.errors import CodeImportError
from codeimport.exitcodes import WorkerExitCode
from codeimport.redact import redact
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import networks_option
from codeimport.sourcecredentials import read_file
from codeimport.text import os_error_text
from codeimport.worker.egress import EgressProxy
from codeimport.worker.importworker import ArgumentError
from codeimport.worker.importworker import ImportContext
from codeimport.worker.importworker import parse_import_arguments
from codeimport.worker.importworker import run_import
from codeimport.worker.importworker import stdout_writer

__all__ = ["main"]

PROG = "codeimport importworker"
STORE_VARIABLE = "CODEIMPORT_TARGET_STORE"


class _Parser(ArgumentParser):
    """Bad arguments are the worker's own exit status, not 2."""

    def error(self, message):
        raise ArgumentError(message)


def _make_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        usage=f"{PROG} [options] -- TARGET_ID RCS TARGET_RCS URL [...]",
        description="Run one code import; the exit status is its result.",
    )
    parser.add_argument(
        "--access-policy",
        choices=POLICY_NAMES,
        default="default",
        help="which source URLs may be read (default: %(default)s)",
    )
    parser.add_argument(
        "--allowed-source-networks", default="", metavar="CIDR,...",
        type=networks_option,
        help="internal networks sources may be on (default: none)",
    )
    parser.add_argument(
        "--target-store",
        help=f"directory of target repositories (default: ${STORE_VARIABLE})",
    )
    parser.add_argument(
        "--authors-file",
        help="map source user names to Git identities "
        "('name = Full Name <email>' lines)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print a traceback for unexpected errors (for a run by "
        "hand: the monitor does not ask for one, as the output becomes "
        "the job's log, which users see)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _make_parser()
    try:
        if "--" in argv:
            split = argv.index("--")
            options = parser.parse_args(argv[:split])
            arguments = argv[split + 1 :]
        else:
            options, arguments = parser.parse_known_args(argv)
        request = parse_import_arguments(arguments)
    except ArgumentError as error:
        # Not argparse's usual exit status 2: to the monitor, 2 means
        # "success, nothing changed".
        print(parser.format_usage().rstrip(), file=sys.stderr)
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return WorkerExitCode.FAILURE
    store = options.target_store or os.environ.get(STORE_VARIABLE)
    if not store:
        print(
            f"{PROG}: error: no target store: pass --target-store or set "
            f"{STORE_VARIABLE}",
            file=sys.stderr,
        )
        return WorkerExitCode.FAILURE
    credentials = None
    if request.credentials_file is not None:
        try:
            credentials = read_file(request.credentials_file)
        except CodeImportError as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return WorkerExitCode.FAILURE
    secrets = () if credentials is None else credentials.secrets
    policy = make_policy(options.access_policy, request.exclude_hosts,
                         options.allowed_source_networks)
    egress = EgressProxy(policy.addresses).start()
    context = ImportContext(
        policy=policy,
        target_store=store,
        # Whatever a tool says, the log never shows the password.
        write=lambda text: stdout_writer(redact(text, secrets)),
        network_env=egress.environment(),
        authors_file=options.authors_file,
        credentials=credentials,
        egress=egress,
    )
    try:
        return run_import(request, context)
    except KeyboardInterrupt:
        print("Import interrupted.", file=sys.stderr)
        return WorkerExitCode.FAILURE
    except Exception as error:
        if options.verbose:
            print(redact(traceback.format_exc(), secrets), end="",
                  file=sys.stderr)
        name = type(error).__name__
        # The job's log is shown to users: no paths of this machine.
        text = os_error_text(error) if isinstance(error, OSError) else error
        print(redact(f"{PROG}: error: {name}: {text}", secrets),
              file=sys.stderr)
        return WorkerExitCode.FAILURE
    finally:
        egress.close()
