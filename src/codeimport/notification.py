"""Zope events the library notifies, so hosts can tell people.

The library sends no email (decision D9); subscribe to these with
`zope.component.provideHandler` or your own registry.
"""

from __future__ import annotations

from zope.interface import Attribute
from zope.interface import Interface
from zope.interface import implementer

__all__ = [
    "CodeImportCreated",
    "CodeImportJobFinished",
    "CodeImportJobReclaimed",
    "CodeImportMarkedFailing",
    "CodeImportModified",
    "ICodeImportCreated",
    "ICodeImportJobFinished",
    "ICodeImportJobReclaimed",
    "ICodeImportMarkedFailing",
    "ICodeImportModified",
]


class ICodeImportNotification(Interface):
    """Something happened to a code import."""

    code_import = Attribute("The `ICodeImport` concerned.")


class ICodeImportCreated(ICodeImportNotification):
    """An import was registered."""


class ICodeImportModified(ICodeImportNotification):
    """An import's details changed; `event` is the MODIFY audit event."""

    event = Attribute("The MODIFY `ICodeImportEvent`.")


class ICodeImportMarkedFailing(ICodeImportNotification):
    """An import failed too often in a row and is now FAILING."""


class ICodeImportJobFinished(ICodeImportNotification):
    """A job finished; `result` is its `ICodeImportResult`."""

    result = Attribute("The new `ICodeImportResult`.")


class ICodeImportJobReclaimed(ICodeImportNotification):
    """A job whose machine went silent was reclaimed."""

    result = Attribute("The RECLAIMED `ICodeImportResult`.")
    job_id = Attribute("The id of the reclaimed job.")


@implementer(ICodeImportCreated)
class CodeImportCreated:
    def __init__(self, code_import):
        self.code_import = code_import


@implementer(ICodeImportModified)
class CodeImportModified:
    def __init__(self, code_import, event):
        self.code_import = code_import
        self.event = event


@implementer(ICodeImportMarkedFailing)
class CodeImportMarkedFailing:
    def __init__(self, code_import):
        self.code_import = code_import


@implementer(ICodeImportJobFinished)
class CodeImportJobFinished:
    def __init__(self, code_import, result):
        self.code_import = code_import
        self.result = result


@implementer(ICodeImportJobReclaimed)
class CodeImportJobReclaimed:
    def __init__(self, code_import, result, job_id):
        self.code_import = code_import
        self.result = result
        self.job_id = job_id
