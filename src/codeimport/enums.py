"""Enumerations stored in the database, with the original's values."""

from __future__ import annotations

from lazr.enum import DBEnumeratedType
from lazr.enum import DBItem
from lazr.enum import EnumeratedType
from lazr.enum import Item

from codeimport.exitcodes import WorkerExitCode  # noqa: F401 (re-exported)

__all__ = [
    "BranchType",
    "CodeImportEventDataType",
    "CodeImportEventType",
    "CodeImportJobState",
    "CodeImportMachineOfflineReason",
    "CodeImportMachineState",
    "CodeImportResultStatus",
    "CodeImportReviewStatus",
    "NON_CVS_RCS_TYPES",
    "RevisionControlSystems",
    "TargetRevisionControlSystems",
    "WorkerExitCode",
]


class RevisionControlSystems(DBEnumeratedType):
    """The version-control system an import reads from."""

    CVS = DBItem(1, "Concurrent Versions System", "Imported from CVS.")
    SVN = DBItem(2, "Subversion via CSCVS", "Legacy; no longer creatable.")
    BZR_SVN = DBItem(3, "Subversion via bzr-svn", "Imported from Subversion.")
    GIT = DBItem(4, "Git", "Imported from Git.")
    HG = DBItem(5, "Mercurial", "Imported from Mercurial.")
    BZR = DBItem(6, "Bazaar", "Mirrored from a Bazaar branch.")


NON_CVS_RCS_TYPES = (
    RevisionControlSystems.BZR_SVN,
    RevisionControlSystems.GIT,
    RevisionControlSystems.BZR,
    RevisionControlSystems.HG,
)


class TargetRevisionControlSystems(EnumeratedType):
    """The kind of repository an import writes into."""

    BZR = Item("Bazaar", "Import into a Bazaar branch.")
    GIT = Item("Git", "Import into a Git repository.")


class CodeImportReviewStatus(DBEnumeratedType):
    """Whether an import has been approved for processing."""

    NEW = DBItem(1, "Pending Review", "Filed, not yet reviewed.")
    INVALID = DBItem(10, "Invalid", "Will not be processed.")
    REVIEWED = DBItem(20, "Reviewed", "Approved and processed.")
    SUSPENDED = DBItem(30, "Suspended", "Approved but not processed.")
    FAILING = DBItem(40, "Failed", "Failed too often; no longer attempted.")


class CodeImportJobState(DBEnumeratedType):
    """Where a job is in its life cycle."""

    PENDING = DBItem(10, "Pending", "Waiting for its due date or a request.")
    SCHEDULED = DBItem(
        20, "Scheduled", "Assigned to a machine but not yet running; unused."
    )
    RUNNING = DBItem(30, "Running", "Running on a machine.")


class CodeImportMachineState(DBEnumeratedType):
    """Whether an import machine accepts jobs."""

    OFFLINE = DBItem(10, "Offline", "The controller daemon is not running.")
    ONLINE = DBItem(20, "Online", "Running and accepting jobs.")
    QUIESCING = DBItem(
        30, "Quiescing", "Finishing its jobs before going offline."
    )


class CodeImportMachineOfflineReason(DBEnumeratedType):
    """Why a machine went offline."""

    STOPPED = DBItem(
        110, "Stopped", "The daemon shut down, interrupting jobs."
    )
    QUIESCED = DBItem(120, "Quiesced", "Shut down after finishing its jobs.")
    WATCHDOG = DBItem(
        210, "Watchdog", "The watchdog found a stale machine heartbeat."
    )


class CodeImportEventType(DBEnumeratedType):
    """The kinds of entry in the audit trail."""

    CREATE = DBItem(110, "Import Created", "An import was registered.")
    MODIFY = DBItem(120, "Import Modified", "An import's details changed.")
    DELETE = DBItem(130, "Import Deleted", "An import was deleted.")
    START = DBItem(210, "Job Started", "A machine started a job.")
    FINISH = DBItem(220, "Job Finished", "A job finished.")
    PUBLISH = DBItem(230, "Import First Published", "First publication.")
    RECLAIM = DBItem(
        240, "Job Reclaimed Automatically", "A stale job was reclaimed."
    )
    REQUEST = DBItem(310, "Update Requested", "Someone asked for a run.")
    KILL = DBItem(320, "Termination Requested", "Someone asked for a kill.")
    ONLINE = DBItem(410, "Machine Online", "A machine came online.")
    OFFLINE = DBItem(420, "Machine Offline", "A machine went offline.")
    QUIESCE = DBItem(430, "Quiescing Requested", "A machine began quiescing.")


class CodeImportEventDataType(DBEnumeratedType):
    """The keys of the extra data attached to an event."""

    MESSAGE = DBItem(10, "Message", "User-provided message.")
    CODE_IMPORT = DBItem(110, "Code Import", "Id of the code import.")
    OWNER = DBItem(120, "Owner", "Id of the owner.")
    OLD_OWNER = DBItem(121, "Previous Owner", "Id of the previous owner.")
    REVIEW_STATUS = DBItem(130, "Review Status", "Review status name.")
    OLD_REVIEW_STATUS = DBItem(131, "Previous Review Status", "Old status.")
    ASSIGNEE = DBItem(140, "Assignee", "Id of the assignee.")
    OLD_ASSIGNEE = DBItem(141, "Previous Assignee", "Old assignee id.")
    UPDATE_INTERVAL = DBItem(210, "Update Interval", "User-set interval.")
    OLD_UPDATE_INTERVAL = DBItem(211, "Previous Update Interval", "Old one.")
    CVS_ROOT = DBItem(220, "CVSROOT", "CVSROOT of the source.")
    CVS_MODULE = DBItem(221, "CVS module", "CVS module of the source.")
    OLD_CVS_ROOT = DBItem(222, "Previous CVSROOT", "Old CVSROOT.")
    OLD_CVS_MODULE = DBItem(223, "Previous CVS module", "Old CVS module.")
    SVN_BRANCH_URL = DBItem(230, "Subversion URL", "Legacy.")
    OLD_SVN_BRANCH_URL = DBItem(231, "Previous Subversion URL", "Legacy.")
    GIT_REPO_URL = DBItem(237, "Git URL", "Legacy.")
    OLD_GIT_REPO_URL = DBItem(238, "Previous Git URL", "Legacy.")
    URL = DBItem(240, "Foreign URL", "URL of the source.")
    OLD_URL = DBItem(241, "Previous Foreign URL", "Old URL of the source.")
    SOURCE_CREDENTIALS = DBItem(
        250, "Source Credentials",
        "When the private source's credentials were set (never them).")
    OLD_SOURCE_CREDENTIALS = DBItem(
        251, "Previous Source Credentials", "When the old ones were set.")
    OFFLINE_REASON = DBItem(410, "Offline Reason", "Why a machine stopped.")
    RECLAIMED_JOB_ID = DBItem(510, "Reclaimed Job Id", "Id of the old job.")


class CodeImportResultStatus(DBEnumeratedType):
    """How a job run ended."""

    SUCCESS = DBItem(100, "Success", "New revisions were imported.")
    SUCCESS_NOCHANGE = DBItem(
        110, "Success with no changes", "Nothing new to import."
    )
    SUCCESS_PARTIAL = DBItem(
        120, "Partial Success", "Some revisions imported; run again now."
    )
    FAILURE = DBItem(200, "Failure", "Generic failure.")
    INTERNAL_FAILURE = DBItem(210, "Internal Failure", "Our own problem.")
    FAILURE_INVALID = DBItem(
        220, "Foreign branch invalid", "The source is missing or unreadable."
    )
    FAILURE_UNSUPPORTED_FEATURE = DBItem(
        230, "Unsupported feature", "The importer cannot handle the source."
    )
    FAILURE_FORBIDDEN = DBItem(
        240, "Forbidden URL", "The URL is excluded or its scheme refused."
    )
    FAILURE_REMOTE_BROKEN = DBItem(
        250, "Broken remote branch", "The source exists but is corrupt."
    )
    RECLAIMED = DBItem(310, "Job reclaimed", "Its heartbeat went stale.")
    KILLED = DBItem(320, "Job killed", "Someone stopped it.")


CodeImportResultStatus.successes = [
    CodeImportResultStatus.SUCCESS,
    CodeImportResultStatus.SUCCESS_NOCHANGE,
    CodeImportResultStatus.SUCCESS_PARTIAL,
]


class BranchType(DBEnumeratedType):
    """How a branch's content reaches us."""

    HOSTED = DBItem(1, "Hosted", "Pushed to us directly.")
    MIRRORED = DBItem(2, "Mirrored", "Pulled from a remote location.")
    IMPORTED = DBItem(3, "Imported", "Written by a code import.")
    REMOTE = DBItem(4, "Remote", "Registered only; never pulled.")
