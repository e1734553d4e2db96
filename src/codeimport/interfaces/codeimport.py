"""Code imports: one foreign repository kept in sync with one target."""

from __future__ import annotations

from zope.interface import Attribute
from zope.interface import Interface
from zope.schema import Choice
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import TextLine
from zope.schema import Timedelta

from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems

__all__ = [
    "ICodeImport",
    "ICodeImportEdit",
    "ICodeImportModerate",
    "ICodeImportRequest",
    "ICodeImportSet",
    "ICodeImportSetEdit",
    "ICodeImportSetModerate",
    "ICodeImportSetView",
    "ICodeImportView",
]


class ICodeImportView(Interface):
    """What anyone may read of an import."""

    id = Int(title="ID", readonly=True, required=True)
    date_created = Datetime(title="Date created", readonly=True)
    branch = Attribute("The target `IBranch`.")
    target = Attribute("The target `IBranch` (the same as `branch`).")
    registrant = Attribute("The `IPerson` who registered the import.")
    owner = Attribute("The `IPerson` owning the import.")
    assignee = Attribute("The `IPerson` looking after the import, or None.")
    review_status = Choice(
        title="Review status", vocabulary=CodeImportReviewStatus,
        readonly=True, required=True,
        default=CodeImportReviewStatus.REVIEWED,
        description="Only reviewed imports are processed.",
    )
    rcs_type = Choice(
        title="Source type", vocabulary=RevisionControlSystems,
        readonly=True, required=True,
        description="The version-control system of the source.",
    )
    target_rcs_type = Choice(
        title="Target type", vocabulary=TargetRevisionControlSystems,
        readonly=True, required=True,
        description="The kind of repository the import writes.",
    )
    url = TextLine(
        title="URL", readonly=True, required=False,
        description="The source URL (not for CVS); no trailing slash.",
    )
    cvs_root = TextLine(
        title="CVSROOT", readonly=True, required=False,
        description="The CVSROOT of a CVS source.",
    )
    cvs_module = TextLine(
        title="CVS module", readonly=True, required=False,
        description="The module of a CVS source.",
    )
    date_last_successful = Datetime(
        title="Last successful", readonly=True, required=False,
        description="When the last successful run finished.",
    )
    update_interval = Timedelta(
        title="Update interval", readonly=True, required=False,
        description="Time between runs; None means the default for the "
        "source type.",
    )
    effective_update_interval = Timedelta(
        title="Effective update interval", readonly=True, required=True,
        description="update_interval, or the default for the source type.",
    )
    import_job = Attribute("The current `ICodeImportJob`, or None.")
    results = Attribute(
        "The `ICodeImportResult`s, newest start (date_job_started) first."
    )
    consecutive_failure_count = Attribute(
        "How many results were recorded since the last successful one."
    )

    has_source_credentials = Attribute(
        "Whether credentials are kept for a private source.  Neither the "
        "user name (which may be a token) nor the password is readable "
        "here: only the scheduler hands them to the worker of a running "
        "job.")

    def getImportDetailsForDisplay():
        """Return "<cvs_root> <cvs_module>" for CVS, else the URL; with
        any credentials redacted (`codeimport.redact`)."""


class ICodeImportEdit(Interface):
    """What the owner's team, vcs-imports and admins may change."""

    def updateURL(new_url, user):
        """Change the source URL; return the MODIFY event, or None if the
        URL did not change.

        :raises CodeImportValidationError: for a URL that is not allowed.
        """


class ICodeImportRequest(Interface):
    """What any logged-in person may ask of an import."""

    def requestImport(requester, error_if_already_requested=False):
        """Ask for the import to run as soon as possible.

        :raises CodeImportNotInReviewedState: if there is no job.
        :raises CodeImportAlreadyRunning: if the job is running.
        :raises CodeImportAlreadyRequested: if somebody asked already and
            `error_if_already_requested` is true (otherwise nothing happens).
        """

    def tryFailingImportAgain(user):
        """Make a FAILING import REVIEWED again and request a run.

        :raises InvalidReviewStatus: unless the import is FAILING.
        :postcondition: a MODIFY then a REQUEST event exist.
        """


class ICodeImportModerate(Interface):
    """What vcs-imports members and admins may change."""

    def updateFromData(data, user):
        """Change the fields named in `data`; return the MODIFY event or None.

        Becoming REVIEWED creates a job; leaving REVIEWED deletes a
        pending job (a running job is left to finish).

        :param data: a mapping of field names to new values; allowed names
            are review_status, url, cvs_root, cvs_module, update_interval,
            assignee, owner, rcs_type and credentials (a
            `codeimport.sourcecredentials.SourceCredentials`, or None to
            remove them).  Credentials in a new url or cvs_root are split
            off and kept apart, as by `ICodeImportSet.new`; a new url on
            another server (scheme, host, port) or a new cvs_root without
            credentials of its own drops the stored ones.
        :param user: the `IPerson` responsible, or None for the system.
        :raises CodeImportValidationError: for unknown names or bad values.
        """


class ICodeImport(
    ICodeImportView, ICodeImportEdit, ICodeImportRequest, ICodeImportModerate
):
    """A code import.  Every field is read-only; methods write events."""


class ICodeImportSetView(Interface):
    """Find imports."""

    def get(code_import_id):
        """Return the import with this id.

        :raises NoSuchCodeImport: if there is none.
        """

    def getByBranch(branch):
        """Return the import targeting `branch`, or None."""

    def getByURL(url, target_rcs_type):
        """Return the import of `url` into that target kind, or None."""

    def getByCVSDetails(cvs_root, cvs_module):
        """Return the import of that CVS module, or None."""

    def search(review_status=None, rcs_type=None, target_rcs_type=None):
        """Return the imports matching every filter given, by id."""


class ICodeImportSetEdit(Interface):
    """Register imports."""

    def new(registrant, project, branch_name, rcs_type, target_rcs_type,
            url=None, cvs_root=None, cvs_module=None, review_status=None,
            owner=None, credentials=None):
        """Register an import, its target branch, a CREATE event and, when
        REVIEWED (the default), a job due now.

        Credentials for a private source come in the URL
        (``https://user:pass@host/...``; for CVS ``:pserver:user:pass@...``)
        or as `credentials` (a `SourceCredentials`), not both; they are
        stored apart (`has_source_credentials`), never in url or cvs_root.

        :raises CodeImportValidationError: for missing, extra or invalid
            source details or credentials (also for credentials on a
            scheme that takes none: git, bzr), or a source already
            imported.
        :raises CodeImportInvalidTargetType: for a non-Git source with a
            Git target.
        """


class ICodeImportSetModerate(Interface):
    """Delete imports."""

    def delete(code_import):
        """Delete the import, its job, results and events."""


class ICodeImportSet(ICodeImportSetView, ICodeImportSetEdit,
                     ICodeImportSetModerate):
    """The set of code imports."""
