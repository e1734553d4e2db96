"""Domain errors: every one is a `CodeImportError`."""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "BranchCreatorNotMemberOfOwnerTeam",
    "BranchTypeError",
    "CodeImportAlreadyRequested",
    "CodeImportAlreadyRunning",
    "CodeImportError",
    "CodeImportInvalidTargetType",
    "CodeImportNotInReviewedState",
    "CodeImportValidationError",
    "ConfigurationError",
    "InvalidEventArgument",
    "InvalidJobState",
    "InvalidMachineState",
    "InvalidReviewStatus",
    "MachineAccessDenied",
    "NoSuchBranch",
    "NoSuchCodeImport",
    "NoSuchCodeImportJob",
    "NoSuchCodeImportMachine",
    "NoSuchPerson",
    "UnknownBranchType",
    "UnknownOfflineReason",
    "UnknownResultStatus",
]


class CodeImportError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigurationError(CodeImportError, ValueError):
    """A setting is missing or has a value that cannot be used."""


class CodeImportValidationError(CodeImportError, ValueError):
    """Import details (URL, CVSROOT, module ...) were rejected."""


class InvalidJobState(CodeImportError, ValueError):
    """A workflow step was asked of a job or import in the wrong state.

    The message is the original's text, for example "The CodeImportJob
    associated with ~vcs-imports/gnome-terminal/import is RUNNING.".
    """


class InvalidReviewStatus(InvalidJobState):
    """A workflow step needs a different review status of the import."""


class CodeImportAlreadyRequested(InvalidJobState):
    """Somebody already asked for this import to run.

    `requesting_user` is the person who asked first.
    """

    def __init__(self, message, requesting_user):
        super().__init__(message)
        self.requesting_user = requesting_user


class CodeImportAlreadyRunning(InvalidJobState):
    """An update was requested for an import whose job is running."""

    def __init__(self, message="This code import is already running."):
        super().__init__(message)


class CodeImportNotInReviewedState(InvalidJobState):
    """An update was requested for an import that is not REVIEWED."""

    def __init__(self, review_status):
        super().__init__(
            f"This code import is {review_status.name}, and must be "
            "Reviewed for you to call requestImport."
        )
        self.review_status = review_status


class InvalidMachineState(CodeImportError, ValueError):
    """A machine transition was asked from a state that does not allow it."""


class InvalidEventArgument(CodeImportError, ValueError):
    """An audit-trail creator was given a missing or wrong argument."""


class AccessDenied(CodeImportError, ValueError):
    """The service refused the caller: a wrong or unknown credential, or
    one not allowed to do what it asked (`codeimport.xmlrpc.authorization`).

    Deliberately not a `PermissionError`, which is an `OSError`: callers
    retry OSErrors as connection failures, and retrying cannot help here.
    """


class MachineAccessDenied(AccessDenied):
    """The credential may not act for the machine a call is about."""


class CodeImportInvalidTargetType(CodeImportError, TypeError):
    """The requested target kind cannot receive this import."""


class NoSuchCodeImportJob(CodeImportError, LookupError):
    """No job has this id (it may have finished or been reclaimed)."""

    def __init__(self, job_id):
        super().__init__(f"Job {job_id} not found.")
        self.job_id = job_id


class NoSuchCodeImport(CodeImportError, LookupError):
    """No code import has this id."""

    def __init__(self, code_import_id):
        super().__init__(f"No code import with ID {code_import_id}")
        self.code_import_id = code_import_id


class NoSuchCodeImportMachine(CodeImportError, LookupError):
    """No import machine has this host name."""

    def __init__(self, hostname):
        super().__init__(f"No machine called {hostname!r}.")
        self.hostname = hostname


class NoSuchBranch(CodeImportError, LookupError):
    """No branch has this id."""

    def __init__(self, branch_id):
        super().__init__(f"No branch with ID {branch_id}")
        self.branch_id = branch_id


class NoSuchPerson(CodeImportError, LookupError):
    """No person or team has this name, id or email address."""

    def __init__(self, who):
        super().__init__(f"No person with id {who}.")
        self.who = who


class BranchTypeError(CodeImportError, TypeError):
    """A mirror operation was asked of a branch of the wrong type."""

    def __init__(self, unique_name, branch_type):
        super().__init__(
            f"Branch {unique_name} is {branch_type.name} and is never "
            "mirrored."
        )
        self.unique_name = unique_name
        self.branch_type = branch_type


class UnknownBranchType(CodeImportError, ValueError):
    """A branch type name does not name a `BranchType`."""

    def __init__(self, name):
        super().__init__(f"Unknown branch type: {name!r}")
        self.name = name


class UnknownOfflineReason(CodeImportError, ValueError):
    """A reason name does not name a `CodeImportMachineOfflineReason`."""

    def __init__(self, name):
        super().__init__(f"Unknown offline reason: {name!r}")
        self.name = name


class UnknownResultStatus(CodeImportError, ValueError):
    """A status name does not name a `CodeImportResultStatus`."""

    def __init__(self, name):
        super().__init__(f"Unknown result status: {name!r}")
        self.name = name


class BranchCreatorNotMemberOfOwnerTeam(CodeImportValidationError):
    """The registrant may not create branches for the chosen owner."""

    def __init__(self, registrant, owner):
        super().__init__(
            f"{registrant.name} is not a member of {owner.name}."
        )
