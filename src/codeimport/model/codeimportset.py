"""The set of code imports: registering, finding and deleting them."""

from __future__ import annotations

from urllib.parse import urlsplit

from zope.event import notify
from zope.interface import implementer
from zope.security.proxy import removeSecurityProxy

from codeimport.enums import BranchType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import BranchCreatorNotMemberOfOwnerTeam
from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import CodeImportAlreadyRunning
from codeimport.errors import CodeImportInvalidTargetType
from codeimport.errors import CodeImportNotInReviewedState
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidReviewStatus
from codeimport.errors import NoSuchCodeImport
from codeimport.interfaces.codeimport import ICodeImportSet
from codeimport.model.codeimport import UPDATABLE
from codeimport.model.codeimport import CodeImport
from codeimport.model.codeimport import lock_import
from codeimport.model.codeimport import source_sanity
from codeimport.model.context import StoreUtility
from codeimport.model.sourcecredential import set_credentials
from codeimport.model.sourcecredential import split_source
from codeimport.notification import CodeImportCreated
from codeimport.notification import CodeImportModified
from codeimport.sourcecredentials import same_origin
from codeimport.validators import check_registered_cvs_root
from codeimport.validators import check_registered_url
from codeimport.validators import validate_cvs_module

__all__ = ["CodeImportSet"]

_Target = TargetRevisionControlSystems
_Review = CodeImportReviewStatus
_SAME_VCS = {
    (RevisionControlSystems.GIT, _Target.GIT),
    (RevisionControlSystems.BZR, _Target.BZR),
}


@implementer(ICodeImportSet)
class CodeImportSet(StoreUtility):
    """See `ICodeImportSet`."""

    def get(self, code_import_id):
        """See `ICodeImportSet`."""
        code_import = None
        if isinstance(code_import_id, int):
            code_import = self._store.get(CodeImport, code_import_id)
        if code_import is None:
            raise NoSuchCodeImport(code_import_id)
        return code_import

    def getByBranch(self, branch):
        """See `ICodeImportSet`."""
        return self._store.find(CodeImport, branch_id=branch.id).one()

    def getByURL(self, url, target_rcs_type):
        """See `ICodeImportSet`."""
        if target_rcs_type not in _Target:
            raise CodeImportValidationError(
                f"Unknown target_rcs_type {target_rcs_type!r}")
        return self._store.find(
            CodeImport, url=url, target_rcs_type=target_rcs_type).one()

    def getByCVSDetails(self, cvs_root, cvs_module):
        """See `ICodeImportSet`."""
        return self._store.find(
            CodeImport, cvs_root=cvs_root, cvs_module=cvs_module).one()

    def search(self, review_status=None, rcs_type=None,
               target_rcs_type=None):
        """See `ICodeImportSet`."""
        filters = {}
        if review_status is not None:
            filters["review_status"] = review_status
        if rcs_type is not None:
            filters["rcs_type"] = rcs_type
        if target_rcs_type is not None:
            filters["target_rcs_type"] = target_rcs_type
        return list(self._store.find(CodeImport, **filters).order_by(
            CodeImport.id))

    def _checkSource(self, rcs_type, target_rcs_type, url, cvs_root,
                     cvs_module):
        source_sanity(rcs_type, url, cvs_root, cvs_module)
        if rcs_type == RevisionControlSystems.CVS:
            check_registered_cvs_root(
                cvs_root, self._settings.allowed_source_networks)
            validate_cvs_module(cvs_module)
            existing = self.getByCVSDetails(cvs_root, cvs_module)
            if existing is not None:
                raise CodeImportValidationError(
                    "Those CVS details are already specified for the "
                    f"imported branch {existing.branch.unique_name}."
                )
            return None
        url = check_registered_url(rcs_type, url,
                                   self._settings.allowed_url_schemes,
                                   self._settings.allowed_source_networks)
        host = urlsplit(url).hostname or ""
        mainsite = self._settings.mainsite_hostname
        if (rcs_type, target_rcs_type) in _SAME_VCS and (
                host == mainsite or host.endswith("." + mainsite)):
            raise CodeImportValidationError(
                "You cannot create same-VCS imports for branches or "
                f"repositories that are hosted by {mainsite}."
            )
        existing = self.getByURL(url, target_rcs_type)
        if existing is not None:
            raise CodeImportValidationError(
                "This foreign branch URL is already specified for the "
                f"imported branch {existing.branch.unique_name}."
            )
        return url

    def new(self, registrant, project, branch_name, rcs_type,
            target_rcs_type, url=None, cvs_root=None, cvs_module=None,
            review_status=None, owner=None, credentials=None):
        """See `ICodeImportSet`."""
        registrant = removeSecurityProxy(registrant)
        credentials = removeSecurityProxy(credentials)
        owner = registrant if owner is None else removeSecurityProxy(owner)
        if rcs_type not in RevisionControlSystems:
            raise CodeImportValidationError(f"Not a source type: {rcs_type!r}")
        if target_rcs_type not in _Target:
            raise CodeImportInvalidTargetType(
                f"Imports cannot target {target_rcs_type!r}.")
        if review_status is None:
            review_status = CodeImportReviewStatus.REVIEWED
        url, cvs_root, credentials = split_source(rcs_type, url, cvs_root,
                                                  credentials)
        url = self._checkSource(rcs_type, target_rcs_type, url, cvs_root,
                                cvs_module)
        if not registrant.inTeam(owner):
            raise BranchCreatorNotMemberOfOwnerTeam(registrant, owner)
        branch = self._context.branches.new(
            owner, project, branch_name, BranchType.IMPORTED)
        code_import = CodeImport(
            branch, registrant, owner, rcs_type, target_rcs_type, url,
            cvs_root, cvs_module, review_status)
        store = self._store
        store.add(code_import)
        store.flush()
        if credentials is not None:
            set_credentials(store, code_import.id, credentials)
        helpers = self._context
        helpers.events.newCreate(code_import, registrant)
        notify(CodeImportCreated(code_import))
        if review_status == CodeImportReviewStatus.REVIEWED:
            helpers.workflow.newJob(code_import)
        return code_import

    def delete(self, code_import):
        """See `ICodeImportSet`."""
        removeSecurityProxy(code_import).destroySelf()

    # -- the changes of one import (its record delegates here) -----------

    def _checkedValue(self, code_import, name, value):
        if name == "review_status":
            if value not in CodeImportReviewStatus:
                raise CodeImportValidationError(
                    f"Not a review status: {value!r}")
        elif name == "url" and value is not None:
            value = check_registered_url(
                code_import.rcs_type, value,
                self._settings.allowed_url_schemes,
                self._settings.allowed_source_networks)
        elif name == "cvs_root" and value is not None:
            check_registered_cvs_root(
                value, self._settings.allowed_source_networks)
        elif name == "cvs_module" and value is not None:
            validate_cvs_module(value)
        elif name == "rcs_type" and value not in RevisionControlSystems:
            raise CodeImportValidationError(f"Not a source type: {value!r}")
        return value

    def updateFromData(self, code_import, data, user):
        """`ICodeImport.updateFromData` of `code_import`."""
        unknown = set(data) - UPDATABLE
        if unknown:
            raise CodeImportValidationError(
                f"Cannot update {', '.join(sorted(unknown))}."
            )
        data = dict(data)
        credentials_change = _credentials_change(code_import, data)
        values = {
            name: self._checkedValue(code_import, name, value)
            for name, value in data.items()
        }
        lock_import(code_import)
        events, workflow = self._context.events, self._context.workflow
        token = events.beginModify(code_import)
        for name, value in values.items():
            setattr(code_import, name, value)
        _check_source_details(code_import)
        if credentials_change is not _KEEP:
            set_credentials(self._store, code_import.id, credentials_change)
        if "review_status" in values:
            job = code_import.import_job
            if values["review_status"] == _Review.REVIEWED:
                if job is None:
                    workflow.newJob(code_import)
            elif job is not None and job.state == CodeImportJobState.PENDING:
                try:
                    workflow.deletePendingJob(code_import)
                except InvalidJobState:
                    # A machine claimed the job meanwhile; a RUNNING job
                    # outlives a status change.
                    pass
        event = events.newModify(code_import, user, token)
        if event is not None:
            notify(CodeImportModified(code_import, event))
        return event

    def requestImport(self, code_import, requester,
                      error_if_already_requested=False):
        """`ICodeImport.requestImport` of `code_import`."""
        job = code_import.import_job
        if job is None:
            raise CodeImportNotInReviewedState(code_import.review_status)
        if job.state != CodeImportJobState.PENDING:
            raise CodeImportAlreadyRunning()
        if job.requesting_user is not None:
            if error_if_already_requested:
                raise CodeImportAlreadyRequested(
                    "This code import has already been requested to run.",
                    job.requesting_user,
                )
            return
        self._context.workflow.requestJob(job, requester)

    def tryFailingImportAgain(self, code_import, user):
        """`ICodeImport.tryFailingImportAgain` of `code_import`."""
        if code_import.review_status != _Review.FAILING:
            raise InvalidReviewStatus(
                f"review_status is {code_import.review_status.name} not "
                "FAILING")
        self.updateFromData(code_import, {"review_status": _Review.REVIEWED},
                            user)
        self._context.workflow.requestJob(code_import.import_job, user)


_KEEP = object()


def _credentials_change(code_import, data):
    """What `data` does to the import's credentials (taking them out of
    the ``url`` or ``cvs_root`` it holds): new `SourceCredentials`, None
    to remove them, or `_KEEP`.

    Credentials stay with their server: a new URL on another server
    (scheme, host or port), or a new CVSROOT, without credentials of its
    own drops them, so they are never sent where they were not meant to
    go.
    """
    given = removeSecurityProxy(data.pop("credentials", _KEEP))
    url = data.get("url", code_import.url)
    cvs_root = data.get("cvs_root", code_import.cvs_root)
    rcs_type = data.get("rcs_type", code_import.rcs_type)
    url, cvs_root, split = split_source(
        rcs_type, url, cvs_root, None if given is _KEEP else given)
    for name, value in (("url", url), ("cvs_root", cvs_root)):
        if name in data:
            data[name] = value
    if given is not _KEEP:
        return split
    if split is not None:
        return split
    if "url" in data and url != code_import.url and not (
            url and code_import.url and same_origin(url, code_import.url)):
        return None
    if "cvs_root" in data and cvs_root != code_import.cvs_root:
        return None
    return _KEEP


def _check_source_details(code_import):
    if code_import.rcs_type == RevisionControlSystems.CVS:
        ok = (code_import.cvs_root and code_import.cvs_module
              and code_import.url is None)
    else:
        ok = (code_import.url is not None and code_import.cvs_root is None
              and code_import.cvs_module is None)
    if not ok:
        raise CodeImportValidationError(
            f"The source details do not suit a {code_import.rcs_type.name} "
            "import.")
