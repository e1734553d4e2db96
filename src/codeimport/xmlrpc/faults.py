"""XML-RPC faults with stable codes, one class per wire error.

Codes 270 and 360 keep the original's values so existing workers and
pullers keep working; the 9xx codes are this project's own.
"""

from __future__ import annotations

import xmlrpc.client

__all__ = [
    "FAULT_CLASSES",
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
    "MalformedRequest",
    "NoSuchMachine",
    "UnknownOfflineReason",
]


class CodeImportFault(xmlrpc.client.Fault):
    """Base for faults whose string is built from a template."""

    error_code: int = 0
    template: str = ""

    def __init__(self, **kwargs):
        super().__init__(self.error_code, self.template % kwargs)


class NoBranchWithID(CodeImportFault):
    """There is no branch with the given id."""

    error_code = 270
    template = "No branch with ID %(branch_id)s"


class NoSuchCodeImportJob(CodeImportFault):
    """There is no job with the given id (finished, reclaimed or never)."""

    error_code = 360
    template = "Job %(job_id)s not found."


class UnknownStatusName(CodeImportFault):
    """The status name does not name a `CodeImportResultStatus` item."""

    error_code = 901
    template = "Unknown result status: %(name)r"


class InvalidJobStateFault(CodeImportFault):
    """The job exists but is not in a state that allows the call."""

    error_code = 902
    template = "%(message)s"


class UnknownBranchTypeFault(CodeImportFault):
    """A branch type name does not name a `BranchType` item."""

    error_code = 903
    template = "Unknown branch type: %(name)r"


class InvalidArguments(CodeImportFault):
    """The call had the wrong number or types of arguments."""

    error_code = 904
    template = "%(message)s"


class UnknownMethod(CodeImportFault):
    """The endpoint has no method of that name."""

    error_code = 905
    template = "Unknown method: %(name)r"


class BranchTypeFault(CodeImportFault):
    """The branch's type does not allow the requested mirror operation."""

    error_code = 906
    template = "%(message)s"


class NoSuchMachine(CodeImportFault):
    """No import machine has the given host name."""

    error_code = 907
    template = "No machine called %(hostname)r."


class UnknownOfflineReason(CodeImportFault):
    """The reason name does not name a `CodeImportMachineOfflineReason`."""

    error_code = 908
    template = "Unknown offline reason: %(name)r"


class InvalidMachineStateFault(CodeImportFault):
    """The machine is not in a state that allows the call."""

    error_code = 909
    template = "%(message)s"


class MalformedRequest(CodeImportFault):
    """The request body is not an XML-RPC method call."""

    error_code = 910
    template = "Malformed XML-RPC request: %(message)s"


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
        InternalError,
    )
}
