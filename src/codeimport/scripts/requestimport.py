"""`codeimport request-import`: ask for an import to run as soon as possible.
"""

from __future__ import annotations

from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import CodeImportAlreadyRunning
from codeimport.errors import CodeImportError
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.session import lookup_person
from codeimport.scripts.session import operator_transaction
from codeimport.text import printable

__all__ = ["find_code_import", "main"]

PROG = "codeimport request-import"
ROLE = "importd"


def find_code_import(utilities, unique_name: str):
    """Return the import whose target is called `unique_name`.

    :raises CodeImportError: when there is no such import.
    """
    branch = utilities.branches.getByUniqueName(unique_name)
    code_import = (
        None if branch is None else utilities.code_imports.getByBranch(branch))
    if code_import is None:
        raise CodeImportError(f"No code import targets {unique_name}.")
    return code_import


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Request the pending job of the import that targets "
        "UNIQUE_NAME (e.g. ~vcs-imports/gnome-terminal/import): it becomes "
        "due now and goes ahead of unrequested jobs.  The import must be "
        "REVIEWED and not running (a running import is refused, naming "
        "its machine).  Requesting an import that is already "
        "requested changes nothing.  Runs as database role importd.")
    add_database_options(parser)
    parser.add_argument("unique_name", metavar="UNIQUE_NAME")
    parser.add_argument("--by", required=True, metavar="PERSON",
                        help="who asks (recorded in the audit trail)")
    return parser


def _main(argv) -> int:
    options = _make_parser().parse_args(argv)
    dsn = resolve_dsn(options)
    settings = load_settings(options.settings_file)
    with operator_transaction(dsn, ROLE, settings) as utilities:
        code_import = find_code_import(utilities, options.unique_name)
        requester = lookup_person(utilities, options.by)
        try:
            code_import.requestImport(
                requester, error_if_already_requested=True)
        except CodeImportAlreadyRequested as error:
            print(f"{options.unique_name}: already requested by "
                  f"{error.requesting_user.name}; nothing changed")
            return 0
        except CodeImportAlreadyRunning as error:
            job = code_import.import_job
            reason = str(error).rstrip(".")
            raise CodeImportError(
                f"{options.unique_name}: {reason} (job {job.id} on "
                f"{printable(job.machine.hostname)}, started "
                f"{job.date_started:%Y-%m-%d %H:%M:%S} UTC); nothing "
                "changed") from None
        except CodeImportError as error:
            raise CodeImportError(f"{options.unique_name}: {error}") from None
        done = (f"{options.unique_name}: job {code_import.import_job.id} "
                f"requested by {requester.name}, due now")
    print(done)
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
