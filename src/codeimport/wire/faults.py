"""XML-RPC faults with stable codes: the one table of the wire's errors.

Each fault class is a row: its code, its name, and the domain errors
(`codeimport.errors`) it stands for, with the attributes of the error
its text is built from.  The server answers a domain error with
`fault_for` (the most specific row along the error's MRO); a client
raises for a code the domain error `error_for` gives.  Codes 270 and 360
keep the original's values so existing workers and pullers keep
working; the 9xx codes are this project's own.
"""

from __future__ import annotations

import xmlrpc.client

from codeimport import errors

__all__ = [
    "FAULT_CLASSES",
    "error_for",
    "fault_for",
    "InvalidArguments",
    "InvalidJobStateFault",
    "NoBranchWithID",
    "NoSuchCodeImportJob",
    "UnknownBranchTypeFault",
    "UnknownMethod",
    "UnknownStatusName",
    "InternalError",
    "BranchTypeFault",
    "InvalidMachineStateFault",
    "MachineAccessDeniedFault",
    "MalformedRequest",
    "NoSuchMachine",
    "UnknownOfflineReason",
]


class CodeImportFault(xmlrpc.client.Fault):
    """Base for faults whose string is built from a template."""

    error_code: int = 0
    template: str = ""
    #: The domain errors this fault stands for.
    domain_errors: tuple = ()
    #: Template field -> attribute of the domain error; "message" is the
    #: error's text.
    fields: dict = {}

    def __init__(self, **kwargs):
        super().__init__(self.error_code, self.template % kwargs)

    @classmethod
    def fromError(cls, error):
        """This fault, for domain `error`."""
        return cls(**{
            field: str(error) if attribute == "message"
            else getattr(error, attribute)
            for field, attribute in cls.fields.items()})


class NoBranchWithID(CodeImportFault):
    """There is no branch with the given id."""

    error_code = 270
    template = "No branch with ID %(branch_id)s"
    domain_errors = (errors.NoSuchBranch,)
    fields = {"branch_id": "branch_id"}


class NoSuchCodeImportJob(CodeImportFault):
    """There is no job with the given id (finished, reclaimed or never)."""

    error_code = 360
    template = "Job %(job_id)s not found."
    domain_errors = (errors.NoSuchCodeImportJob,)
    fields = {"job_id": "job_id"}


class UnknownStatusName(CodeImportFault):
    """The status name does not name a `CodeImportResultStatus` item."""

    error_code = 901
    template = "Unknown result status: %(name)r"
    domain_errors = (errors.UnknownResultStatus,)
    fields = {"name": "name"}


class InvalidJobStateFault(CodeImportFault):
    """The job exists but is not in a state that allows the call."""

    error_code = 902
    template = "%(message)s"
    domain_errors = (errors.InvalidJobState,)
    fields = {"message": "message"}


class UnknownBranchTypeFault(CodeImportFault):
    """A branch type name does not name a `BranchType` item."""

    error_code = 903
    template = "Unknown branch type: %(name)r"
    domain_errors = (errors.UnknownBranchType,)
    fields = {"name": "name"}


class InvalidArguments(CodeImportFault):
    """The call had the wrong number or types of arguments."""

    error_code = 904
    template = "%(message)s"
    domain_errors = (errors.CodeImportValidationError,
                     errors.InvalidEventArgument)
    fields = {"message": "message"}


class UnknownMethod(CodeImportFault):
    """The endpoint has no method of that name."""

    error_code = 905
    template = "Unknown method: %(name)r"


class BranchTypeFault(CodeImportFault):
    """The branch's type does not allow the requested mirror operation."""

    error_code = 906
    template = "%(message)s"
    domain_errors = (errors.BranchTypeError,)
    fields = {"message": "message"}


class NoSuchMachine(CodeImportFault):
    """No import machine has the given host name."""

    error_code = 907
    template = "No machine called %(hostname)r."
    domain_errors = (errors.NoSuchCodeImportMachine,)
    fields = {"hostname": "hostname"}


class UnknownOfflineReason(CodeImportFault):
    """The reason name does not name a `CodeImportMachineOfflineReason`."""

    error_code = 908
    template = "Unknown offline reason: %(name)r"
    domain_errors = (errors.UnknownOfflineReason,)
    fields = {"name": "name"}


class InvalidMachineStateFault(CodeImportFault):
    """The machine is not in a state that allows the call."""

    error_code = 909
    template = "%(message)s"
    domain_errors = (errors.InvalidMachineState,)
    fields = {"message": "message"}


class MalformedRequest(CodeImportFault):
    """The request body is not an XML-RPC method call."""

    error_code = 910
    template = "Malformed XML-RPC request: %(message)s"


class MachineAccessDeniedFault(CodeImportFault):
    """The credential may not act for the machine the call is about."""

    error_code = 911
    template = "%(message)s"
    domain_errors = (errors.MachineAccessDenied,)
    fields = {"message": "message"}


class InternalError(CodeImportFault):
    """Something unexpected went wrong; the server logged the details."""

    error_code = 999
    template = "Internal error: %(message)s"


FAULT_CLASSES = {
    cls.error_code: cls
    for cls in (
        NoBranchWithID,
        NoSuchCodeImportJob,
        UnknownStatusName,
        InvalidJobStateFault,
        UnknownBranchTypeFault,
        InvalidArguments,
        UnknownMethod,
        BranchTypeFault,
        NoSuchMachine,
        UnknownOfflineReason,
        InvalidMachineStateFault,
        MalformedRequest,
        MachineAccessDeniedFault,
        InternalError,
    )
}


def fault_for(error):
    """The fault answering domain `error`, or None if no row stands for
    it (a bug: the server answers InternalError)."""
    for klass in type(error).__mro__:
        fault_class = _BY_ERROR.get(klass)
        if fault_class is not None:
            return fault_class.fromError(error)
    return None


def error_for(code):
    """The domain error fault `code` stands for, or None: a code with no
    domain error, or several unrelated ones, which a client cannot tell
    apart (it maps to their common base if one of them is that)."""
    fault_class = FAULT_CLASSES.get(code)
    if fault_class is None:
        return None
    classes = fault_class.domain_errors
    general = [base for base in classes
               if all(issubclass(other, base) for other in classes)]
    return general[0] if len(general) == 1 else None


_BY_ERROR = {error: fault_class for fault_class in FAULT_CLASSES.values()
             for error in fault_class.domain_errors}
