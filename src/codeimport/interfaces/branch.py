"""Branches: the targets that imports write and the puller mirrors."""

from __future__ import annotations

from zope.interface import Attribute
from zope.interface import Interface
from zope.schema import Choice
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import Text
from zope.schema import TextLine

from codeimport.enums import BranchType

__all__ = [
    "IBranch",
    "IBranchEdit",
    "IBranchLookup",
    "IBranchPuller",
    "IBranchSet",
    "IBranchSetEdit",
    "IBranchView",
]


class IBranchView(Interface):
    """What anyone may read of a branch, and ask of it."""

    id = Int(title="ID", readonly=True, required=True)
    date_created = Datetime(title="Date created", readonly=True)
    owner = Attribute("The `IPerson` owning the branch.")
    project = TextLine(title="Project", readonly=True, required=True)
    name = TextLine(title="Name", readonly=True, required=True)
    unique_name = TextLine(
        title="Unique name", readonly=True, required=True,
        description="~owner/project/name; unique across all branches.",
    )
    branch_type = Choice(
        title="Branch type", vocabulary=BranchType, readonly=True,
        required=True,
    )
    url = TextLine(
        title="URL", readonly=True, required=False,
        description="Where a MIRRORED branch is pulled from.",
    )
    last_mirrored = Datetime(
        title="Last mirrored", readonly=True, required=False,
        description="When the last successful mirror started.",
    )
    last_mirrored_id = Text(
        title="Last mirrored revision", readonly=True, required=False,
        description="The tip revision id at the last successful mirror.",
    )
    last_mirror_attempt = Datetime(
        title="Last mirror attempt", readonly=True, required=False,
        description="When mirroring last started.",
    )
    mirror_failures = Int(
        title="Mirror failures", readonly=True, required=True,
        description="Failed mirror attempts since the last success.",
    )
    mirror_status_message = Text(
        title="Mirror status message", readonly=True, required=False,
        description="The reason the last mirror attempt failed.",
    )
    next_mirror_time = Datetime(
        title="Next mirror time", readonly=True, required=False,
        description="When the puller should next mirror it; None: never.",
    )

    def requestMirror():
        """Ask for the branch to be mirrored as soon as possible.

        A branch already due earlier keeps its place.

        :raises BranchTypeError: for HOSTED and REMOTE branches.
        :return: the new `next_mirror_time`.
        """

    def getPullURL():
        """Return where the puller reads from.

        A MIRRORED branch's URL; for an IMPORTED branch its unique name,
        which the puller resolves in the import workers' store (the
        import target and the branch share that name).

        :raises BranchTypeError: unless the branch is MIRRORED or IMPORTED.
        """


class IBranchEdit(Interface):
    """Mirror bookkeeping, done by the branch puller."""

    def startMirroring():
        """Record that mirroring began now.

        :raises BranchTypeError: for HOSTED and REMOTE branches.
        :postcondition: ``last_mirror_attempt`` is now and
            ``next_mirror_time`` is None.
        """

    def mirrorComplete(last_revision_id):
        """Record a successful mirror of `last_revision_id`.

        :raises InvalidJobState: if `startMirroring` was never called.
        :raises BranchTypeError: for REMOTE and HOSTED branches.
        :postcondition: ``last_mirrored == last_mirror_attempt``,
            ``mirror_failures == 0`` and no status message.
        """

    def mirrorFailed(reason):
        """Record a failed mirror attempt.

        A MIRRORED branch with fewer than five failures is retried after
        6 hours times 2**(failures - 1); any other branch waits for
        `requestMirror`.

        :raises BranchTypeError: for HOSTED and REMOTE branches.
        """


class IBranch(IBranchView, IBranchEdit):
    """A branch: read by anyone, mirror fields changed only by methods."""


class IBranchLookup(Interface):
    """Find branches."""

    def get(branch_id):
        """Return the branch with this id, or None."""

    def getByUniqueName(unique_name):
        """Return the branch called ~owner/project/name, or None."""


class IBranchSetEdit(Interface):
    """Register branches (administrators and trusted code)."""

    def new(owner, project, name, branch_type, url=None):
        """Register and return a branch.

        :raises CodeImportValidationError: for a duplicate unique name,
            a bad name or a URL that does not suit the branch type.
        """


class IBranchSet(IBranchLookup, IBranchSetEdit):
    """Find and register branches."""


class IBranchPuller(Interface):
    """The queue of branches waiting to be mirrored."""

    MAXIMUM_MIRROR_FAILURES = Attribute("Failures after which we stop.")
    MIRROR_TIME_INCREMENT = Attribute("The base retry delay (timedelta).")

    def acquireBranchToPull(*branch_types):
        """Take the branch that has waited longest and start mirroring it.

        Concurrent callers never receive the same branch.

        :param branch_types: `BranchType` items; none means MIRRORED and
            IMPORTED.
        :return: the branch, after `startMirroring`, or None.
        """
