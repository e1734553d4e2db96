"""`codeimport add-import`: register a Git code import.

The import is created REVIEWED, so its first job is due at once.  Runs
as database role ``webapp``, the only role that may create branches,
imports (and, with ``--create-owner``, people).
"""

from __future__ import annotations

from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportError
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import add_database_options
from codeimport.scripts.options import load_settings
from codeimport.scripts.options import resolve_dsn
from codeimport.scripts.options import run
from codeimport.scripts.session import lookup_person
from codeimport.scripts.session import operator_transaction

__all__ = ["main"]

PROG = "codeimport add-import"
ROLE = "webapp"


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Register an import of the Git repository at URL into "
        "the target ~OWNER/PROJECT/NAME and print that unique name.  The "
        "import is approved (REVIEWED) and its first job is due now.  "
        "Runs as database role webapp (it creates a branch, an import "
        "and its job).")
    add_database_options(parser)
    parser.add_argument("--owner", required=True, metavar="NAME",
                        help="the person or team that owns the target")
    parser.add_argument("--project", required=True, metavar="P")
    parser.add_argument("--name", required=True, metavar="N",
                        help="the target branch's name")
    parser.add_argument("--git-url", required=True, metavar="URL",
                        help="the source repository; its scheme must be "
                        "in the allowed_url_schemes setting")
    parser.add_argument("--target", choices=("git", "bzr"), default="git",
                        help="the target kind (default: %(default)s)")
    parser.add_argument("--registrant", metavar="NAME",
                        help="who registers it (default: the owner); must "
                        "be a member of the owner team")
    parser.add_argument("--create-owner", action="store_true",
                        help="create the owner as a person if missing")
    return parser


def _main(argv) -> int:
    options = _make_parser().parse_args(argv)
    dsn = resolve_dsn(options)
    settings = load_settings(options.settings_file)
    target = TargetRevisionControlSystems.items[options.target.upper()]
    with operator_transaction(dsn, ROLE, settings) as utilities:
        owner = utilities.persons.getByName(options.owner)
        if owner is None:
            if not options.create_owner:
                raise CodeImportError(
                    f"No owner called {options.owner!r} (use "
                    "--create-owner to create a person of that name).")
            owner = utilities.persons.new(options.owner)
        registrant = owner
        if options.registrant is not None:
            registrant = lookup_person(
                utilities, options.registrant, "registrant")
        code_import = utilities.code_imports.new(
            registrant, options.project, options.name,
            RevisionControlSystems.GIT, target, url=options.git_url,
            owner=owner)
        unique_name = code_import.branch.unique_name
    print(unique_name)
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
