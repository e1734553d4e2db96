"""The import worker: parse a job's arguments and run the right importer.

The argument list is the contract with the scheduler (BEHAVIOUR §5.6)::

    TARGET_ID RCS TARGET_RCS URL_OR_CVSROOT [--cvs-module M]
        [--stacked-on URL] [--exclude-host HOST]... [--revision-limit N]
        [--source-credentials-file FILE]

``--revision-limit`` caps the revisions one run converts (the rest is
left for the next run, which is due at once after SUCCESS_PARTIAL).
``--source-credentials-file`` is added by the monitor, never by the
scheduler: a file of mode 0600 holding the private source's user name
and password (`codeimport.sourcecredentials`), which the importer hands
to its tool its own way (never in an argument or the log).

An importer is chosen by ``(RCS, TARGET_RCS)`` from a plain dict (see
`default_importers`); its `Importer.run` returns a `WorkerExitCode`,
which becomes the worker's exit status and, through the monitor, the
job's result.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from codeimport.access import AccessPolicy
from codeimport.access import ForbiddenURL
from codeimport.errors import CodeImportError
from codeimport.errors import CodeImportValidationError
from codeimport.exitcodes import WorkerExitCode
from codeimport.scripts.options import positive
from codeimport.sourcecredentials import SourceCredentials
from codeimport.sourcekinds import SOURCE_KINDS
from codeimport.sourcekinds import check_source_url

__all__ = [
    "ArgumentError",
    "ImportContext",
    "ImportRequest",
    "Importer",
    "RCS_TYPES",
    "TARGET_RCS_TYPES",
    "default_importers",
    "parse_import_arguments",
    "run_import",
    "stdout_writer",
]

RCS_TYPES = ("bzr", "bzr-svn", "cvs", "git", "hg")
TARGET_RCS_TYPES = ("bzr", "git")


class ArgumentError(CodeImportError, ValueError):
    """The worker's arguments do not follow the contract."""


@dataclass(frozen=True)
class ImportRequest:
    """One import, as described by the scheduler's argument list."""

    target_id: str
    rcs: str
    target_rcs: str
    url: str
    cvs_module: str | None = None
    stacked_on: str | None = None
    exclude_hosts: tuple[str, ...] = ()
    revision_limit: int | None = None
    credentials_file: str | None = None


@dataclass
class ImportContext:
    """What an importer gets from the machine it runs on.

    :ivar policy: decides which source URLs may be read.
    :ivar target_store: directory holding the target repositories.
    :ivar write: writes progress text; it becomes the job's log.
    :ivar network_env: environment variables that make the programs an
        importer runs reach the network the policy's way (proxies).
    :ivar authors_file: the operator's map of source user names to Git
        identities (`codeimport.worker.authors`), or None.
    :ivar credentials: the private source's `SourceCredentials`, or None.
    :ivar egress: the running `codeimport.worker.egress.EgressProxy`
        whose settings `network_env` holds, or None; when it refused a
        connection, the run's result is FAILURE_FORBIDDEN.
    """

    policy: AccessPolicy
    target_store: str
    write: Callable[[str], None]
    network_env: dict[str, str] = field(default_factory=dict)
    authors_file: str | None = None
    credentials: SourceCredentials | None = None
    egress: object | None = None

    @property
    def egressRefused(self) -> bool:
        """Whether the egress proxy refused a connection of this run."""
        return self.egress is not None and self.egress.refused

    def networkEnvironment(self) -> dict[str, str]:
        """Variables for the programs an importer runs (see `network_env`)."""
        return dict(self.network_env)

    def say(self, line: str) -> None:
        """Write one progress line."""
        self.write(line + "\n")


class Importer:
    """Base class of importers: one source kind into one target kind.

    Subclasses implement `run`.  Errors an importer expects (a missing
    source, a broken one) are turned into exit codes by the importer
    itself; anything it raises is an unexpected failure (exit code 1).
    """

    def __init__(self, request: ImportRequest, context: ImportContext):
        self.request = request
        self.context = context

    def run(self) -> int:
        """Do the import and return a `WorkerExitCode` value."""
        raise NotImplementedError


def default_importers() -> dict[tuple[str, str], type[Importer]]:
    """The importers this package ships, keyed by (rcs, target_rcs).

    Built on each call, so that callers may extend their own copy.
    """
    # Imported here: parsing arguments needs none of the converters.
    from codeimport.worker.sources.bzr import BzrImporter
    from codeimport.worker.sources.cvs import CVSImporter
    from codeimport.worker.sources.git import GitImporter
    from codeimport.worker.sources.hg import HgImporter
    from codeimport.worker.sources.svn import SvnImporter

    return {("git", "git"): GitImporter,
            ("bzr-svn", "git"): SvnImporter,
            ("bzr", "git"): BzrImporter,
            ("cvs", "git"): CVSImporter,
            ("hg", "git"): HgImporter}


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` that raises `ArgumentError` instead of exiting."""

    def error(self, message):
        raise ArgumentError(message)


def _make_parser() -> _Parser:
    parser = _Parser(prog="import arguments", add_help=False)
    parser.add_argument("target_id")
    parser.add_argument("rcs", choices=RCS_TYPES)
    parser.add_argument("target_rcs", choices=TARGET_RCS_TYPES)
    parser.add_argument("url")
    parser.add_argument("--cvs-module")
    parser.add_argument("--stacked-on")
    parser.add_argument(
        "--exclude-host", action="append", default=[], dest="exclude_hosts"
    )
    parser.add_argument("--revision-limit", type=positive(int))
    parser.add_argument("--source-credentials-file")
    return parser


def parse_import_arguments(arguments: list[str]) -> ImportRequest:
    """Turn the scheduler's argument list into an `ImportRequest`.

    :raises ArgumentError: when the list breaks the contract: unknown
        types, a missing CVS module, or a non-numeric Bazaar target id.
    """
    options = _make_parser().parse_args(list(arguments))
    if options.rcs == "cvs" and not options.cvs_module:
        raise ArgumentError("a cvs import needs --cvs-module")
    if options.target_rcs == "bzr" and not options.target_id.isdigit():
        raise ArgumentError(
            f"a bzr target id must be a branch id, not {options.target_id!r}"
        )
    return ImportRequest(
        target_id=options.target_id,
        rcs=options.rcs,
        target_rcs=options.target_rcs,
        url=options.url,
        cvs_module=options.cvs_module,
        stacked_on=options.stacked_on,
        exclude_hosts=tuple(options.exclude_hosts),
        revision_limit=options.revision_limit,
        credentials_file=options.source_credentials_file,
    )


def run_import(
    request: ImportRequest,
    context: ImportContext,
    importers: Mapping[tuple[str, str], type[Importer]] | None = None,
) -> int:
    """Run the importer for `request` and return its exit code.

    An (rcs, target_rcs) pair with no importer gives
    FAILURE_UNSUPPORTED_FEATURE, and so does a URL the kind cannot be
    read from (`codeimport.sourcekinds.check_source_url`, the rule
    registration applies too); a source the policy refuses gives
    FAILURE_FORBIDDEN before the importer starts.
    """
    if importers is None:
        importers = default_importers()
    factory = importers.get((request.rcs, request.target_rcs))
    if factory is None:
        context.say(
            f"Imports from {request.rcs} into {request.target_rcs} "
            "are not supported on this machine."
        )
        return WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE
    # A CVSROOT is not a URL; a CVS importer checks it itself.
    if request.rcs != "cvs":
        try:
            context.policy.check(request.url)
        except ForbiddenURL as error:
            context.say(str(error))
            return WorkerExitCode.FAILURE_FORBIDDEN
    if request.rcs in SOURCE_KINDS:
        # The same rule registration applies (`codeimport.sourcekinds`).
        try:
            check_source_url(request.rcs, request.url,
                             local=context.policy.allow_local)
        except CodeImportValidationError as error:
            context.say(str(error))
            return WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE
    return factory(request, context).run()


def stdout_writer(text: str) -> None:
    """Write progress to stdout at once: the monitor reads it live."""
    sys.stdout.write(text)
    sys.stdout.flush()
