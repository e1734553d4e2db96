"""Faults as the clients raise them: `RemoteFault` and the domain errors
behind the fault codes.

The server answers a domain error with the fault its row of the wire's
fault table (`codeimport.wire.faults`) names; a client reads the same
table from code to error, so it raises, for fault 902, a
``RemoteInvalidJobState``: a `RemoteFault` that is also an
`codeimport.errors.InvalidJobState`.  Fault 905 is an
`UnknownRemoteMethod`; a fault with no domain error of its own (904,
910, 999, a code several unrelated errors share, a code the client does
not know) is a plain `RemoteFault`.
"""

from __future__ import annotations

import functools
import xmlrpc.client

from codeimport.errors import CodeImportError
from codeimport.wire import faults

__all__ = [
    "RemoteFault",
    "UnknownRemoteMethod",
    "fault_errors",
    "remote_error_class",
    "remote_fault",
]


class RemoteFault(CodeImportError):
    """The endpoint answered a call with an XML-RPC fault.

    A fault that stands for a domain error is raised as a subclass that
    also derives from that error (see `remote_error_class`).  It carries
    the fault's text, not the error's own attributes.
    """

    def __init__(self, method: str, fault_code: int, fault_string: str):
        # Not super(): in a subclass that also derives from a domain
        # error, the next __init__ is the error's, with its own arguments.
        CodeImportError.__init__(
            self, f"{method}: fault {fault_code}: {fault_string}")
        self.method = method
        self.fault_code = fault_code
        self.fault_string = fault_string


class UnknownRemoteMethod(RemoteFault):
    """The endpoint does not offer the method (fault 905)."""


def fault_errors() -> dict[int, type[CodeImportError]]:
    """Map each fault code to the domain error it stands for (the wire's
    fault table, `codeimport.wire.faults`, read from code to error)."""
    return {code: error for code in faults.FAULT_CLASSES
            if (error := faults.error_for(code)) is not None}


@functools.cache
def remote_error_class(error_class: type[CodeImportError]) -> type:
    """The `RemoteFault` subclass raised for faults that stand for
    `error_class`, e.g. ``RemoteInvalidJobState``."""
    name = error_class.__name__
    namespace = {
        "__doc__": f"A fault standing for `{name}`.",
        "__module__": __name__,
    }
    return type(f"Remote{name}", (RemoteFault, error_class), namespace)


def remote_fault(method: str, fault: xmlrpc.client.Fault) -> RemoteFault:
    """The error a client raises for `fault`, answered to `method`."""
    error_class = RemoteFault
    if fault.faultCode == faults.UnknownMethod.error_code:
        error_class = UnknownRemoteMethod
    domain_error = faults.error_for(fault.faultCode)
    if domain_error is not None:
        error_class = remote_error_class(domain_error)
    return error_class(method, fault.faultCode, fault.faultString)
