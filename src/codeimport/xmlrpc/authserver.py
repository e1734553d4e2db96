"""`BranchStatusAPI`: the branch puller's XML-RPC methods (``/authserver``).

Like `codeimport.xmlrpc.scheduler.CodeImportSchedulerAPI`, it only
decodes arguments, calls the unproxied utilities and translates domain
errors with the wire's fault table (decision D12 keeps the seed's historic
startMirroring / mirrorComplete next to acquireBranchToPull).
"""

from __future__ import annotations

from zope.interface import implementer

from codeimport.enums import BranchType
from codeimport.wire import faults
from codeimport.wire.interfaces import IBranchStatusAPI
from codeimport.xmlrpc import arguments
from codeimport.xmlrpc.scheduler import translate_errors

__all__ = ["BranchStatusAPI"]

_NAME_LENGTH = 255


@implementer(IBranchStatusAPI)
class BranchStatusAPI:
    """See `IBranchStatusAPI`.

    :param utilities: the unproxied `codeimport.registration.Utilities`.
    """

    def __init__(self, utilities) -> None:
        self._utilities = utilities

    def _getBranch(self, branch_id: int):
        branch_id = arguments.integer(branch_id, "branch_id")
        branch = self._utilities.branches.get(branch_id)
        if branch is None:
            raise faults.NoBranchWithID(branch_id=branch_id)
        return branch

    def startMirroring(self, branch_id: int) -> bool:
        """See `IBranchStatusAPI`."""
        branch = self._getBranch(branch_id)
        with translate_errors():
            branch.startMirroring()
        return True

    def mirrorComplete(self, branch_id: int, last_revision_id: str) -> bool:
        """See `IBranchStatusAPI`."""
        branch = self._getBranch(branch_id)
        last_revision_id = arguments.text(
            last_revision_id, "last_revision_id", required=True,
            max_length=1000)
        with translate_errors():
            branch.mirrorComplete(last_revision_id)
        return True

    def mirrorFailed(self, branch_id: int, reason: str) -> bool:
        """See `IBranchStatusAPI`."""
        branch = self._getBranch(branch_id)
        reason = arguments.text(reason, "reason")
        with translate_errors():
            branch.mirrorFailed(reason)
        return True

    def recordSuccess(self, name: str, hostname: str, date_started,
                      date_completed) -> bool:
        """See `IBranchStatusAPI`."""
        name = arguments.text(name, "name", required=True,
                              max_length=_NAME_LENGTH)
        hostname = arguments.hostname(hostname)
        date_started = arguments.timestamp(date_started, "date_started")
        date_completed = arguments.timestamp(date_completed,
                                             "date_completed")
        with translate_errors():
            self._utilities.script_activities.recordSuccess(
                name, date_started, date_completed, hostname)
        return True

    def acquireBranchToPull(self, branch_type_names: list[str]) -> list:
        """See `IBranchStatusAPI`."""
        names = arguments.name_list(branch_type_names, "branch_type_names")
        branch_types = [
            arguments.enum_item(name, "branch_type_names", BranchType,
                                faults.UnknownBranchTypeFault)
            for name in names
        ]
        with translate_errors():
            branch = self._utilities.puller.acquireBranchToPull(
                *branch_types)
            if branch is None:
                return []
            pull_url = branch.getPullURL()
        return [branch.id, pull_url, branch.unique_name, "",
                branch.branch_type.name]

    def requestMirror(self, branch_id: int) -> bool:
        """See `IBranchStatusAPI`."""
        branch = self._getBranch(branch_id)
        with translate_errors():
            branch.requestMirror()
        return True
