"""`codeimport suspend|resume|invalidate|retry IMPORT`: an import's review
status, as the web interface's buttons change it.

suspend, resume and invalidate set the review status (SUSPENDED,
REVIEWED, INVALID) with `ICodeImport.updateFromData`; retry makes a
FAILING import REVIEWED and requests a run (`tryFailingImportAgain`).
Each change is recorded in the audit trail.  Runs as database role
``webapp``.
"""

from __future__ import annotations

from codeimport.enums import CodeImportReviewStatus
from codeimport.scripts.imports import find_import
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.session import lookup_person
from codeimport.scripts.session import operator_transaction

__all__ = ["ACTIONS", "main", "main_invalidate", "main_resume",
           "main_retry", "main_suspend"]

ROLE = "webapp"
# command -> (the review status it sets, or None for retry; help)
ACTIONS = {
    "suspend": (CodeImportReviewStatus.SUSPENDED,
                "stop running an import (SUSPENDED); its pending job goes"),
    "resume": (CodeImportReviewStatus.REVIEWED,
               "run an import again (REVIEWED); it gets a job"),
    "invalidate": (CodeImportReviewStatus.INVALID,
                   "mark an import INVALID; its pending job goes"),
    "retry": (None, "make a FAILING import REVIEWED and request a run"),
}


def _parser(command: str) -> ArgumentParser:
    status, text = ACTIONS[command]
    parser = ArgumentParser(
        prog=f"codeimport {command}",
        description=f"{text[0].upper()}{text[1:]}.  IMPORT is the target's "
        "unique name (~owner/project/name) or the import's id.  Recorded "
        "in the audit trail; runs as database role webapp.")
    add_database_options(parser)
    parser.add_argument("code_import", metavar="IMPORT")
    parser.add_argument(
        "--by", metavar="PERSON", required=status is None,
        help="who makes the change (recorded in the audit trail)"
        + ("" if status is None else "; none means the system"))
    return parser


def _body(command: str):
    def body(argv) -> int:
        options = _parser(command).parse_args(argv)
        dsn = resolve_dsn(options)
        status = ACTIONS[command][0]
        with operator_transaction(dsn, ROLE, load_settings(
                options.settings_file)) as utilities:
            code_import = find_import(utilities, options.code_import)
            user = None
            if options.by is not None:
                user = lookup_person(utilities, options.by)
            name = code_import.branch.unique_name
            before = code_import.review_status
            if status is None:
                code_import.tryFailingImportAgain(user)
                done = (f"{name}: {before.name} -> REVIEWED, job "
                        f"{code_import.import_job.id} requested by "
                        f"{user.name}")
            elif before == status:
                done = f"{name}: already {status.name}; nothing changed"
            else:
                code_import.updateFromData({"review_status": status}, user)
                done = f"{name}: {before.name} -> {status.name}"
        print(done)
        return 0
    return body


def main(command: str, argv=None) -> int:
    return run(f"codeimport {command}", _body(command), argv)


def main_suspend(argv=None) -> int:
    return main("suspend", argv)


def main_resume(argv=None) -> int:
    return main("resume", argv)


def main_invalidate(argv=None) -> int:
    return main("invalidate", argv)


def main_retry(argv=None) -> int:
    return main("retry", argv)
