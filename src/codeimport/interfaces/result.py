"""The history of finished and reclaimed job runs."""

from __future__ import annotations

from zope.interface import Attribute
from zope.interface import Interface
from zope.schema import Choice
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import Text

from codeimport.enums import CodeImportResultStatus

__all__ = [
    "ICodeImportResult",
    "ICodeImportResultSet",
    "ICodeImportResultSetView",
    "ICodeImportResultSetWriter",
]


class ICodeImportResult(Interface):
    """The outcome of one job run.  Results are never changed."""

    id = Int(title="ID", readonly=True, required=True)
    date_created = Datetime(
        title="Date created", readonly=True, required=True,
        description="When the run finished.",
    )
    code_import = Attribute("The `ICodeImport` that ran.")
    machine = Attribute("The `ICodeImportMachine` it ran on.")
    requesting_user = Attribute(
        "The `IPerson` who asked for the run; None if it was scheduled."
    )
    log_excerpt = Text(
        title="Log excerpt", readonly=True, required=False,
        description="The last lines of output, copied from the job.",
    )
    log_file = Attribute("The full log as an `ILibraryFileAlias`, or None.")
    status = Choice(
        title="Status", vocabulary=CodeImportResultStatus, readonly=True,
        required=True,
    )
    date_job_started = Datetime(
        title="Started", readonly=True, required=True,
        description="When the run started.",
    )
    date_job_finished = Datetime(
        title="Finished", readonly=True, required=True,
        description="When the run finished (the same as date_created).",
    )
    job_duration = Attribute("date_job_finished - date_job_started.")


class ICodeImportResultSetView(Interface):
    """Read results."""

    def getResultsForImport(code_import):
        """Return the results of `code_import`, newest start first."""


class ICodeImportResultSetWriter(Interface):
    """Write results; normally done by the job workflow."""

    def new(code_import, machine, requesting_user, log_excerpt, log_file,
            status, date_job_started, date_job_finished=None):
        """Create and return a result.

        :param date_job_finished: defaults to the transaction time.
        """


class ICodeImportResultSet(
    ICodeImportResultSetView, ICodeImportResultSetWriter
):
    """The results of all imports."""
