"""`codeimport source-credentials IMPORT`: set or remove the credentials
of a private source.

``--source-username USER --source-password-file FILE`` (``-`` reads
standard input; for CVS the user is the CVSROOT's) replaces them,
``--remove`` removes them.  Like registration, this stores them apart
from the URL (`codeimport.sourcecredentials`), never shows them, and
records in the audit trail only that they changed.  Runs as database
role ``webapp``.
"""

from __future__ import annotations

from codeimport.scripts.imports import find_import
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.session import lookup_person
from codeimport.scripts.session import operator_transaction
from codeimport.sourcecredentials import SourceCredentials
from codeimport.sourcecredentials import password_from_file

__all__ = ["main"]

PROG = "codeimport source-credentials"
ROLE = "webapp"


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Set or remove the credentials of a private source.  "
        "IMPORT is the target's unique name (~owner/project/name) or the "
        "import's id.  Runs as database role webapp.")
    add_database_options(parser)
    parser.add_argument("code_import", metavar="IMPORT")
    change = parser.add_mutually_exclusive_group(required=True)
    change.add_argument("--source-password-file", metavar="FILE",
                        help="a file holding the password or token (its "
                        "first line; '-' reads standard input)")
    change.add_argument("--remove", action="store_true",
                        help="remove the stored credentials")
    parser.add_argument("--source-username", metavar="USER",
                        help="the user name (for CVS, the CVSROOT's user)")
    parser.add_argument("--by", metavar="PERSON",
                        help="who makes the change (the audit trail); "
                        "none means the system")
    return parser


def _main(argv) -> int:
    parser = _make_parser()
    options = parser.parse_args(argv)
    if options.remove and options.source_username is not None:
        parser.error("--remove takes no --source-username")
    if options.source_password_file and options.source_username is None:
        parser.error("--source-password-file needs --source-username")
    credentials = None
    if not options.remove:
        credentials = SourceCredentials(
            options.source_username,
            password_from_file(options.source_password_file))
    dsn = resolve_dsn(options)
    with operator_transaction(dsn, ROLE, load_settings(
            options.settings_file)) as utilities:
        code_import = find_import(utilities, options.code_import)
        user = None
        if options.by is not None:
            user = lookup_person(utilities, options.by)
        had = code_import.has_source_credentials
        code_import.updateFromData({"credentials": credentials}, user)
        name = code_import.branch.unique_name
    if credentials is not None:
        print(f"{name}: source credentials {'replaced' if had else 'set'}")
    else:
        print(f"{name}: source credentials "
              f"{'removed' if had else 'absent; nothing changed'}")
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
