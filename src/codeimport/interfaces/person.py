"""People and teams: who registers imports and who may act on them."""

from __future__ import annotations

from zope.interface import Interface
from zope.schema import Bool
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import TextLine

__all__ = ["IPerson", "IPersonSet", "IPersonSetEdit", "IPersonSetView"]


class IPerson(Interface):
    """A person or a team.  Changed only through `IPersonSet`."""

    id = Int(title="ID", readonly=True, required=True)
    name = TextLine(
        title="Name", readonly=True, required=True,
        description="The unique short name, as in ~name.",
    )
    displayname = TextLine(
        title="Display name", readonly=True, required=True,
        description="The name shown to people.",
    )
    email = TextLine(
        title="Email", readonly=True, required=False,
        description="The preferred email address, if any.",
    )
    is_team = Bool(
        title="Is a team", readonly=True, required=True,
        description="Whether this is a team of people.",
    )
    date_created = Datetime(title="Date created", readonly=True)

    def inTeam(team):
        """Return whether this person is `team` or a member of it.

        :param team: an `IPerson` (a team), or None.
        :return: bool; False for None.
        """


class IPersonSetView(Interface):
    """Find people and teams."""

    def get(person_id):
        """Return the person with this id, or None."""

    def getByName(name):
        """Return the person or team with this name, or None."""

    def getByEmail(email):
        """Return the person with this email address, or None."""


class IPersonSetEdit(Interface):
    """Create people and teams and change memberships.

    Team membership grants permissions, so only administrators (and
    trusted code) may do this.
    """

    def new(name, displayname=None, email=None):
        """Create and return a person.

        :raises CodeImportValidationError: if the name is malformed or
            already taken.
        """

    def newTeam(name, displayname=None, members=()):
        """Create and return a team with the given members."""

    def addMember(team, person):
        """Make `person` a member of `team` (idempotent)."""


class IPersonSet(IPersonSetView, IPersonSetEdit):
    """The people and teams known to the system."""
