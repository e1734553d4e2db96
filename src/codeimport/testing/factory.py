"""`ObjectFactory`: make whatever a test needs, with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from zope.security.proxy import removeSecurityProxy

from codeimport.enums import BranchType
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems

__all__ = ["ObjectFactory"]

_RCS = RevisionControlSystems


class ObjectFactory:
    """Creates objects through the trusted utilities; returns them
    unproxied.  Names are unique within one factory."""

    def __init__(self, utilities):
        self._u = utilities
        self._counter = itertools.count(1)

    def getUniqueInteger(self) -> int:
        return next(self._counter)

    def getUniqueString(self, prefix="generic") -> str:
        return f"{prefix}-{self.getUniqueInteger()}"

    def makePerson(self, name=None, email=None, displayname=None,
                   member_of=()):
        name = name or self.getUniqueString("person")
        if email is None:
            email = f"{name}@example.com"
        person = self._u.persons.new(name, displayname, email)
        for team in member_of:
            self._u.persons.addMember(removeSecurityProxy(team), person)
        return person

    def makeTeam(self, name=None, members=()):
        return self._u.persons.newTeam(
            name or self.getUniqueString("team"),
            members=[removeSecurityProxy(m) for m in members],
        )

    def makeBranch(self, owner=None, project=None, name=None,
                   branch_type=BranchType.HOSTED, url=None):
        owner = removeSecurityProxy(owner) or self.makePerson()
        if branch_type == BranchType.MIRRORED and url is None:
            url = f"http://example.com/{self.getUniqueString('branch')}"
        return self._u.branches.new(
            owner, project or self.getUniqueString("project"),
            name or self.getUniqueString("branch"), branch_type, url)

    def makeCodeImport(self, url=None, rcs_type=_RCS.GIT,
                       target_rcs_type=TargetRevisionControlSystems.BZR,
                       review_status=CodeImportReviewStatus.REVIEWED,
                       cvs_root=None, cvs_module=None, registrant=None,
                       owner=None, branch_name=None, project=None):
        """Register an import; a REVIEWED one gets its job due now."""
        registrant = removeSecurityProxy(registrant) or self.makePerson()
        if rcs_type == _RCS.CVS:
            cvs_root = cvs_root or (
                f":pserver:anonymous@cvs.example.com:/"
                f"{self.getUniqueString('cvsroot')}")
            cvs_module = cvs_module or self.getUniqueString("module")
        elif url is None:
            scheme = "svn" if rcs_type == _RCS.BZR_SVN else "http"
            url = f"{scheme}://example.com/{self.getUniqueString('source')}"
        return self._u.code_imports.new(
            registrant, project or self.getUniqueString("project"),
            branch_name or self.getUniqueString("import"), rcs_type,
            target_rcs_type, url=url, cvs_root=cvs_root,
            cvs_module=cvs_module, review_status=review_status,
            owner=removeSecurityProxy(owner))

    def makeCodeImportMachine(self, hostname=None, set_online=False):
        state = (CodeImportMachineState.ONLINE if set_online
                 else CodeImportMachineState.OFFLINE)
        return self._u.machines.new(
            hostname or self.getUniqueString("machine"), state)

    def makeCodeImportJob(self, code_import=None):
        """Return a PENDING job (of a new REVIEWED import by default)."""
        if code_import is None:
            return self.makeCodeImport().import_job
        code_import = removeSecurityProxy(code_import)
        return code_import.import_job or self._u.workflow.newJob(code_import)

    def makeRunningJob(self, machine=None, code_import=None):
        """Return a job RUNNING on `machine` (a new ONLINE one by default).
        """
        job = self.makeCodeImportJob(code_import)
        machine = removeSecurityProxy(machine) or self.makeCodeImportMachine(
            set_online=True)
        self._u.workflow.startJob(job, machine)
        return job

    def makeCodeImportResult(self, code_import=None,
                             result_status=CodeImportResultStatus.FAILURE,
                             date_started=None, date_finished=None,
                             log_excerpt=None, machine=None,
                             requesting_user=None, log_file=None):
        """Record a result directly (not through a job)."""
        code_import = removeSecurityProxy(code_import) or self.makeCodeImport()
        machine = removeSecurityProxy(machine) or self.makeCodeImportMachine()
        if date_finished is None:
            date_finished = datetime.now(timezone.utc).replace(microsecond=0)
        if date_started is None:
            date_started = date_finished - timedelta(hours=4)
        return self._u.results.new(
            code_import, machine, removeSecurityProxy(requesting_user),
            log_excerpt, log_file, result_status, date_started,
            date_finished)

    def makeLibraryFileAlias(self, filename=None, content=b"log\n"):
        return self._u.files.create(
            filename or self.getUniqueString("file") + ".txt", content)
