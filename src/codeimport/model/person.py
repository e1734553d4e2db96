"""People and teams."""

from __future__ import annotations

from storm.locals import Bool
from storm.locals import Int
from storm.locals import Storm
from storm.locals import Unicode
from storm.store import Store
from zope.interface import implementer

from codeimport.errors import CodeImportValidationError
from codeimport.interfaces.person import IPerson
from codeimport.interfaces.person import IPersonSet
from codeimport.model.columns import UTCDateTime
from codeimport.model.context import StoreUtility
from codeimport.validators import PERSON_NAME
from codeimport.validators import validate_name

__all__ = ["Person", "PersonSet", "TeamParticipation"]


class TeamParticipation(Storm):
    """Membership of `person` in `team` (direct or indirect)."""

    __storm_table__ = "teamparticipation"
    __storm_primary__ = "team_id", "person_id"
    team_id = Int(name="team")
    person_id = Int(name="person")

    def __init__(self, team_id, person_id):
        self.team_id = team_id
        self.person_id = person_id


@implementer(IPerson)
class Person(Storm):
    """See `IPerson`."""

    __storm_table__ = "person"
    id = Int(primary=True)
    name = Unicode()
    displayname = Unicode()
    email = Unicode()
    is_team = Bool()
    date_created = UTCDateTime()

    def __init__(self, name, displayname, email=None, is_team=False):
        self.name = name
        self.displayname = displayname
        self.email = email
        self.is_team = is_team

    def __repr__(self):
        return f"<Person {self.name}>"

    def inTeam(self, team):
        """See `IPerson`."""
        if team is None:
            return False
        if team.id == self.id:
            return True
        return not Store.of(self).find(
            TeamParticipation, team_id=team.id, person_id=self.id
        ).is_empty()


@implementer(IPersonSet)
class PersonSet(StoreUtility):
    """See `IPersonSet`."""

    def get(self, person_id):
        """See `IPersonSet`."""
        return self._store.get(Person, person_id)

    def getByName(self, name):
        """See `IPersonSet`."""
        return self._store.find(Person, name=name).one()

    def getByEmail(self, email):
        """See `IPersonSet`."""
        if email is None:
            return None
        return self._store.find(Person, email=email.lower()).one()

    def _create(self, name, displayname, email, is_team):
        validate_name(name, "person", PERSON_NAME)
        store = self._store
        if self.getByName(name) is not None:
            raise CodeImportValidationError(f"The name {name!r} is taken.")
        if email is not None:
            email = email.lower()
            if self.getByEmail(email) is not None:
                raise CodeImportValidationError(
                    f"The email address {email!r} is taken."
                )
        person = Person(name, displayname or name, email, is_team)
        store.add(person)
        store.flush()
        return person

    def new(self, name, displayname=None, email=None):
        """See `IPersonSet`."""
        return self._create(name, displayname, email, False)

    def newTeam(self, name, displayname=None, members=()):
        """See `IPersonSet`."""
        team = self._create(name, displayname, None, True)
        for member in members:
            self.addMember(team, member)
        return team

    def addMember(self, team, person):
        """See `IPersonSet`.

        Membership is stored transitively: joining a team also joins every
        team that team belongs to, so `inTeam` is one indexed lookup.
        """
        store = self._store
        if not team.is_team:
            raise CodeImportValidationError(f"{team.name} is not a team.")
        teams = {team.id} | {
            tp.team_id for tp in store.find(TeamParticipation,
                                            person_id=team.id)
        }
        members = {person.id} | {
            tp.person_id for tp in store.find(TeamParticipation,
                                              team_id=person.id)
        }
        for team_id in teams:
            for member_id in members:
                if team_id == member_id:
                    continue
                if store.get(TeamParticipation, (team_id, member_id)) is None:
                    store.add(TeamParticipation(team_id, member_id))
        store.flush()
