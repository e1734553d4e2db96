"""`codeimport add-import`: register a code import of any source kind.

Exactly one source: ``--git-url``, ``--svn-url``, ``--hg-url``,
``--bzr-url``, or ``--cvs-root ROOT --cvs-module MODULE``.  The URL is
checked by the same rule the import worker applies
(`codeimport.sourcekinds.check_source_url`), so nothing is registered
that no worker could import.  The import is created REVIEWED, so its
first job is due at once.  Runs as database role ``webapp``, the only
role that may create branches, imports (and, with ``--create-owner``,
people).

A private source's credentials go either in its URL
(``https://user:pass@host/repo``, ``:pserver:user:pass@host/path``) or,
better, as ``--source-username USER --source-password-file FILE``
(``-`` for standard input), which keeps the password out of process
listings and shell history.  Either way they are stored apart from the
URL (`codeimport.sourcecredentials`).
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
from codeimport.sourcecredentials import SourceCredentials
from codeimport.sourcecredentials import password_from_file

__all__ = ["main"]

PROG = "codeimport add-import"
_RCS = RevisionControlSystems
# (option, name for people, source type); CVS has --cvs-root instead.
_URL_OPTIONS = (("--git-url", "Git"), ("--svn-url", "Subversion"),
                ("--hg-url", "Mercurial"), ("--bzr-url", "Bazaar"))
_URL_TYPES = {"git_url": _RCS.GIT, "svn_url": _RCS.BZR_SVN,
              "hg_url": _RCS.HG, "bzr_url": _RCS.BZR}
ROLE = "webapp"


def _make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Register an import of one source (Git, Subversion, "
        "Mercurial, Bazaar or CVS) into the target ~OWNER/PROJECT/NAME "
        "and print that unique name.  The "
        "import is approved (REVIEWED) and its first job is due now.  "
        "Runs as database role webapp (it creates a branch, an import "
        "and its job).")
    add_database_options(parser)
    parser.add_argument("--owner", required=True, metavar="NAME",
                        help="the person or team that owns the target")
    parser.add_argument("--project", required=True, metavar="P")
    parser.add_argument("--name", required=True, metavar="N",
                        help="the target branch's name")
    source = parser.add_mutually_exclusive_group(required=True)
    for option, label in _URL_OPTIONS:
        source.add_argument(option, metavar="URL",
                            help=f"a {label} source (see README: Source "
                            "kinds for the URLs each kind accepts)")
    source.add_argument("--cvs-root", metavar="ROOT",
                        help="a CVS source's CVSROOT (:pserver:user@host"
                        "[:port]/path); needs --cvs-module")
    parser.add_argument("--cvs-module", metavar="MODULE",
                        help="the CVS module to import (with --cvs-root)")
    parser.add_argument("--target", default="git", metavar="git",
                        help="the target kind: git, the only one (every "
                        "import is converted into a Git repository)")
    parser.add_argument("--registrant", metavar="NAME",
                        help="who registers it (default: the owner); must "
                        "be a member of the owner team")
    parser.add_argument("--create-owner", action="store_true",
                        help="create the owner as a person if missing")
    parser.add_argument("--source-username", metavar="USER",
                        help="the user name for a private source (for "
                        "CVS, the CVSROOT's user); needs "
                        "--source-password-file")
    parser.add_argument("--source-password-file", metavar="FILE",
                        help="a file holding the source's password or "
                        "token (its first line; '-' reads standard "
                        "input); never give a password on the command "
                        "line")
    return parser


def _credentials(parser, options, source):
    """The `SourceCredentials` the options give, or None."""
    if options.source_password_file is None:
        if options.source_username is not None:
            parser.error("--source-username needs --source-password-file")
        return None
    username = options.source_username
    if username is None:
        if source["rcs_type"] != _RCS.CVS:
            parser.error("--source-password-file needs --source-username")
        username = _cvs_user(source["cvs_root"])
        if username is None:
            parser.error("a CVS password needs a CVSROOT that names the "
                         "user (:pserver:user@host/path)")
    return SourceCredentials(
        username, password_from_file(options.source_password_file))


def _cvs_user(root: str) -> str | None:
    head, _, rest = root.rpartition("@")
    if not head.startswith(":") or head.count(":") < 2:
        return None
    return head.split(":")[2] or None


def _source(parser, options) -> dict:
    """The source type and details the options give."""
    if options.cvs_root is not None:
        if not options.cvs_module:
            parser.error("--cvs-root needs --cvs-module")
        return {"rcs_type": _RCS.CVS, "cvs_root": options.cvs_root,
                "cvs_module": options.cvs_module}
    if options.cvs_module is not None:
        parser.error("--cvs-module goes with --cvs-root only")
    for name, rcs_type in _URL_TYPES.items():
        url = getattr(options, name)
        if url is not None:
            return {"rcs_type": rcs_type, "url": url}
    parser.error("give one source option")  # argparse requires one


def _main(argv) -> int:
    parser = _make_parser()
    options = parser.parse_args(argv)
    source = _source(parser, options)
    if options.target != "git":
        # The library keeps Bazaar targets for the seeds' API, but no
        # worker writes one: registering it would only make an import
        # that fails on every run.
        parser.error(f"--target {options.target}: only Git targets exist "
                     "(every import is converted into Git)")
    credentials = _credentials(parser, options, source)
    dsn = resolve_dsn(options)
    settings = load_settings(options.settings_file)
    target = TargetRevisionControlSystems.GIT
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
            source.pop("rcs_type"), target, owner=owner,
            credentials=credentials, **source)
        unique_name = code_import.branch.unique_name
    print(unique_name)
    return 0


def main(argv=None) -> int:
    return run(PROG, _main, argv)
