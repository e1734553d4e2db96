"""Faults as the clients raise them: `RemoteFault` and the domain errors
behind the fault codes.

The server answers a domain error with the fault its row of
`codeimport.xmlrpc.scheduler.DOMAIN_FAULTS` names.  `fault_errors` reads
that table in reverse, so a client raises, for fault 902, a
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
from codeimport.xmlrpc import faults

__all__ = [
    "RemoteFault",
    "UnknownRemoteMethod",
    "fault_errors",
    "remote_error_class",
    "remote_fault",
    "row_codes",
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


class _AnyError:
    """Stands in for a domain error when asking a `DOMAIN_FAULTS` row
    which fault it answers: every attribute is another stand-in."""

    def __getattr__(self, name: str) -> _AnyError:
        return self

    def __str__(self) -> str:
        return ""

    def __int__(self) -> int:
        return 0

    __index__ = __int__


def row_codes() -> dict[type[CodeImportError], int | None]:
    """The fault code each row of `DOMAIN_FAULTS` answers (None for a
    row the stand-in error cannot ask)."""
    # Imported here: import machines load the server side only when a
    # fault arrives (see `codeimport.xmlrpc`).
    from codeimport.xmlrpc.scheduler import DOMAIN_FAULTS

    codes = {}
    for error_class, make_fault in DOMAIN_FAULTS.items():
        try:
            codes[error_class] = make_fault(_AnyError()).faultCode
        except Exception:
            # Its fault stays a plain RemoteFault; the tests check that
            # no row is left out this way.
            codes[error_class] = None
    return codes


def fault_errors() -> dict[int, type[CodeImportError]]:
    """Map each fault code to the domain error it stands for.

    The table is `codeimport.xmlrpc.scheduler.DOMAIN_FAULTS` read in
    reverse, so a row added there is understood here too.  When several
    errors share a code, the code maps to the one the others derive
    from, or is left out (the client cannot tell them apart).
    """
    by_code: dict[int, list[type[CodeImportError]]] = {}
    for error_class, code in row_codes().items():
        if code is not None:
            by_code.setdefault(code, []).append(error_class)
    mapping = {}
    for code, classes in by_code.items():
        general = [base for base in classes
                   if all(issubclass(other, base) for other in classes)]
        if len(general) == 1:
            mapping[code] = general[0]
    return mapping


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
    domain_error = fault_errors().get(fault.faultCode)
    if domain_error is not None:
        error_class = remote_error_class(domain_error)
    return error_class(method, fault.faultCode, fault.faultString)
