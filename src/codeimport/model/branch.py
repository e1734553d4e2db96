"""Branches and the queue of branches waiting to be mirrored."""

from __future__ import annotations

from datetime import timedelta

from storm.expr import Or
from storm.locals import Int
from storm.locals import Reference
from storm.locals import Storm
from storm.locals import Unicode
from storm.store import Store
from zope.interface import implementer

from codeimport.enums import BranchType
from codeimport.errors import BranchTypeError
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidJobState
from codeimport.interfaces.branch import IBranch
from codeimport.interfaces.branch import IBranchPuller
from codeimport.interfaces.branch import IBranchSet
from codeimport.model.columns import DBEnum
from codeimport.model.columns import UTCDateTime
from codeimport.model.constants import UTC_NOW
from codeimport.model.context import StoreUtility
from codeimport.validators import validate_name

__all__ = ["Branch", "BranchPuller", "BranchSet"]

MAXIMUM_MIRROR_FAILURES = 5
MIRROR_TIME_INCREMENT = timedelta(hours=6)
_NEVER_MIRRORED = (BranchType.HOSTED, BranchType.REMOTE)


@implementer(IBranch)
class Branch(Storm):
    """See `IBranch`."""

    __storm_table__ = "branch"
    id = Int(primary=True)
    date_created = UTCDateTime()
    owner_id = Int(name="owner")
    owner = Reference(owner_id, "Person.id")
    project = Unicode()
    name = Unicode()
    unique_name = Unicode()
    branch_type = DBEnum(enum=BranchType)
    url = Unicode()
    last_mirrored = UTCDateTime()
    last_mirrored_id = Unicode()
    last_mirror_attempt = UTCDateTime()
    mirror_failures = Int(default=0)
    mirror_status_message = Unicode()
    next_mirror_time = UTCDateTime()

    def __init__(self, owner, project, name, branch_type, url=None):
        self.owner = owner
        self.project = project
        self.name = name
        self.unique_name = f"~{owner.name}/{project}/{name}"
        self.branch_type = branch_type
        self.url = url

    def __repr__(self):
        return f"<Branch {self.unique_name}>"

    def _checkMirrorable(self):
        if self.branch_type in _NEVER_MIRRORED:
            raise BranchTypeError(self.unique_name, self.branch_type)

    def requestMirror(self):
        """See `IBranchView`."""
        self._checkMirrorable()
        store = Store.of(self)
        # One conditional statement, so a request never pushes back a
        # branch that is already due sooner.
        store.find(
            Branch,
            Branch.id == self.id,
            Or(Branch.next_mirror_time == None,  # noqa: E711
               Branch.next_mirror_time > UTC_NOW),
        ).set(next_mirror_time=UTC_NOW)
        store.invalidate(self)
        return self.next_mirror_time

    def getPullURL(self):
        """See `IBranchView`."""
        if self.branch_type == BranchType.MIRRORED:
            return self.url
        if self.branch_type == BranchType.IMPORTED:
            return self.unique_name
        raise BranchTypeError(self.unique_name, self.branch_type)

    def startMirroring(self):
        """See `IBranchEdit`."""
        self._checkMirrorable()
        self.last_mirror_attempt = UTC_NOW
        self.next_mirror_time = None

    def mirrorComplete(self, last_revision_id):
        """See `IBranchEdit`."""
        self._checkMirrorable()
        if self.last_mirror_attempt is None:
            raise InvalidJobState(
                "startMirroring must be called before mirrorComplete."
            )
        self.last_mirrored = self.last_mirror_attempt
        self.mirror_failures = 0
        self.mirror_status_message = None
        if (self.next_mirror_time is None
                and self.branch_type == BranchType.MIRRORED):
            self.next_mirror_time = UTC_NOW + MIRROR_TIME_INCREMENT
        self.last_mirrored_id = last_revision_id

    def mirrorFailed(self, reason):
        """See `IBranchEdit`."""
        self._checkMirrorable()
        self.mirror_failures += 1
        self.mirror_status_message = reason
        if (self.branch_type == BranchType.MIRRORED
                and self.mirror_failures < MAXIMUM_MIRROR_FAILURES):
            # Transaction time, not the wall clock (decision D11).
            self.next_mirror_time = UTC_NOW + (
                MIRROR_TIME_INCREMENT * 2 ** (self.mirror_failures - 1)
            )


@implementer(IBranchSet)
class BranchSet(StoreUtility):
    """See `IBranchSet`."""

    def get(self, branch_id):
        """See `IBranchLookup`."""
        return self._store.get(Branch, branch_id)

    def getByUniqueName(self, unique_name):
        """See `IBranchLookup`."""
        return self._store.find(Branch, unique_name=unique_name).one()

    def new(self, owner, project, name, branch_type, url=None):
        """See `IBranchSet`."""
        validate_name(project, "project")
        validate_name(name, "branch")
        if url is not None:
            url = url.rstrip("/")
        if branch_type == BranchType.MIRRORED and not url:
            raise CodeImportValidationError("A mirrored branch needs a URL.")
        if branch_type in (BranchType.HOSTED, BranchType.IMPORTED) and url:
            raise CodeImportValidationError(
                f"A {branch_type.name} branch has no URL."
            )
        unique_name = f"~{owner.name}/{project}/{name}"
        if self.getByUniqueName(unique_name) is not None:
            raise CodeImportValidationError(
                f"A branch called {unique_name} already exists."
            )
        branch = Branch(owner, project, name, branch_type, url)
        store = self._store
        store.add(branch)
        store.flush()
        return branch


@implementer(IBranchPuller)
class BranchPuller(StoreUtility):
    """See `IBranchPuller`."""

    MAXIMUM_MIRROR_FAILURES = MAXIMUM_MIRROR_FAILURES
    MIRROR_TIME_INCREMENT = MIRROR_TIME_INCREMENT

    def acquireBranchToPull(self, *branch_types):
        """See `IBranchPuller`.

        One statement picks, locks (skipping rows other pullers hold) and
        starts the branch, using the partial index on next_mirror_time.
        """
        if not branch_types:
            branch_types = (BranchType.MIRRORED, BranchType.IMPORTED)
        for branch_type in branch_types:
            if branch_type in _NEVER_MIRRORED:
                raise BranchTypeError("(any)", branch_type)
        store = self._store
        row = store.execute(
            "WITH candidate AS ("
            " SELECT id FROM branch"
            " WHERE next_mirror_time <= CURRENT_TIMESTAMP"
            " AND branch_type = ANY(?)"
            " ORDER BY next_mirror_time, id LIMIT 1"
            " FOR UPDATE SKIP LOCKED)"
            " UPDATE branch SET last_mirror_attempt = CURRENT_TIMESTAMP,"
            " next_mirror_time = NULL"
            " FROM candidate WHERE branch.id = candidate.id"
            " RETURNING branch.id",
            ([t.value for t in branch_types],),
        ).get_one()
        if row is None:
            return None
        store.invalidate()
        return store.get(Branch, row[0])
