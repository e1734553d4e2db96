"""Code imports."""

from __future__ import annotations

from storm.locals import Int
from storm.locals import Reference
from storm.locals import Storm
from storm.locals import TimeDelta
from storm.locals import Unicode
from storm.store import Store
from zope.interface import implementer

from codeimport.enums import NON_CVS_RCS_TYPES
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.interfaces.codeimport import ICodeImport
from codeimport.model.columns import DBEnum
from codeimport.model.columns import NameEnum
from codeimport.model.columns import UTCDateTime
from codeimport.model.context import context_of
from codeimport.model.job import CodeImportJob
from codeimport.model.rules import consecutive_failures
from codeimport.model.sourcecredential import has_credentials
from codeimport.redact import redact

__all__ = ["CodeImport", "UPDATABLE", "lock_import", "source_sanity"]

_Review = CodeImportReviewStatus
_RCS = RevisionControlSystems
#: The names `updateFromData` accepts; anything else is refused.
UPDATABLE = frozenset((
    "review_status", "url", "cvs_root", "cvs_module", "update_interval",
    "assignee", "owner", "rcs_type", "credentials",
))


@implementer(ICodeImport)
class CodeImport(Storm):
    """See `ICodeImport`."""

    __storm_table__ = "codeimport"
    __storm_order__ = "id"
    id = Int(primary=True)
    date_created = UTCDateTime()
    branch_id = Int(name="branch")
    branch = Reference(branch_id, "Branch.id")
    registrant_id = Int(name="registrant")
    registrant = Reference(registrant_id, "Person.id")
    owner_id = Int(name="owner")
    owner = Reference(owner_id, "Person.id")
    assignee_id = Int(name="assignee")
    assignee = Reference(assignee_id, "Person.id")
    rcs_type = DBEnum(enum=RevisionControlSystems)
    target_rcs_type = NameEnum(enum=TargetRevisionControlSystems)
    cvs_root = Unicode()
    cvs_module = Unicode()
    url = Unicode()
    review_status = DBEnum(enum=CodeImportReviewStatus,
                           default=_Review.REVIEWED)
    date_last_successful = UTCDateTime()
    update_interval = TimeDelta()

    def __init__(self, branch, registrant, owner, rcs_type, target_rcs_type,
                 url, cvs_root, cvs_module, review_status):
        self.branch = branch
        self.registrant = registrant
        self.owner = owner
        self.rcs_type = rcs_type
        self.target_rcs_type = target_rcs_type
        self.url = url
        self.cvs_root = cvs_root
        self.cvs_module = cvs_module
        self.review_status = review_status

    def __repr__(self):
        return f"<CodeImport for {self.branch.unique_name}>"

    @property
    def target(self):
        """See `ICodeImport`."""
        return self.branch

    @property
    def effective_update_interval(self):
        """See `ICodeImport`."""
        if self.update_interval is not None:
            return self.update_interval
        return context_of(self).settings.defaultInterval(self.rcs_type)

    @property
    def import_job(self):
        """See `ICodeImport`."""
        return Store.of(self).find(
            CodeImportJob, code_import_id=self.id).one()

    @property
    def results(self):
        """See `ICodeImport`."""
        return context_of(self).results.getResultsForImport(self)

    @property
    def consecutive_failure_count(self):
        """See `ICodeImport`.

        One query on the (code_import, id) index: results after the
        newest success, counted by id as in the original.
        """
        return Store.of(self).execute(
            f"SELECT {consecutive_failures('?')}", (self.id, self.id),
        ).get_one()[0]

    @property
    def has_source_credentials(self):
        """See `ICodeImport`."""
        return has_credentials(Store.of(self), self.id)

    def getImportDetailsForDisplay(self):
        """See `ICodeImport`."""
        if self.rcs_type == _RCS.CVS:
            return redact(f"{self.cvs_root} {self.cvs_module}")
        return redact(self.url or "")

    def updateFromData(self, data, user):
        """See `ICodeImport`."""
        return context_of(self).code_imports.updateFromData(self, data, user)

    def updateURL(self, new_url, user):
        """See `ICodeImport`."""
        if new_url == self.url:
            return None
        return self.updateFromData({"url": new_url}, user)

    def requestImport(self, requester, error_if_already_requested=False):
        """See `ICodeImport`."""
        context_of(self).code_imports.requestImport(
            self, requester, error_if_already_requested)

    def tryFailingImportAgain(self, user):
        """See `ICodeImport`."""
        context_of(self).code_imports.tryFailingImportAgain(self, user)

    def destroySelf(self):
        """Delete the import and its job; results and events cascade."""
        store = Store.of(self)
        # The import's row first, as every writer of both rows does.
        lock_import(self)
        job = self.import_job
        if job is not None:
            store.remove(job)
            store.flush()
        store.remove(self)
        store.flush()


def source_sanity(rcs_type, url, cvs_root, cvs_module):
    """Check that the details given suit `rcs_type`."""
    if rcs_type == _RCS.CVS:
        if cvs_root is None or cvs_module is None or url is not None:
            raise CodeImportValidationError(
                "A CVS import needs cvs_root and cvs_module and no url."
            )
    elif rcs_type in NON_CVS_RCS_TYPES:
        if cvs_root is not None or cvs_module is not None or url is None:
            raise CodeImportValidationError(
                f"A {rcs_type.name} import needs a url and no CVS details."
            )
    else:
        raise CodeImportValidationError(
            "Don't know how to sanity check source details for unknown "
            f"rcs_type {rcs_type.name}"
        )


def lock_import(code_import):
    """Lock the import's row and reload it.

    A finish or reclaim of its job locks the row first too (the job
    queue's statements): whichever comes second waits, and then sees
    what the first committed, so a status change and a job's end never
    both miss each other.
    """
    store = Store.of(code_import)
    store.execute("SELECT 1 FROM codeimport WHERE id = ?"
                  " FOR NO KEY UPDATE", (code_import.id,))
    store.invalidate(code_import)
