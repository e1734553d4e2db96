"""Permissions, the protection table, principals and the security policy.

Nothing here runs at import time except defining names: call
`declare_checkers` (which `configure` does) to install the checkers, and
install `CodeImportSecurityPolicy` from your application (the test
fixture does) with `zope.security.management.setSecurityPolicy`.
"""

from __future__ import annotations

import storm.zope  # noqa: F401  lets Store.of() see through proxies
from lazr.enum import DBItem
from lazr.enum import Item
from zope.interface import implementer
from zope.security.checker import Checker
from zope.security.checker import CheckerPublic
from zope.security.checker import NamesChecker
from zope.security.checker import NoProxy
from zope.security.checker import defineChecker
from zope.security.checker import getCheckerForInstancesOf
from zope.security.interfaces import IParticipation
from zope.security.interfaces import IPrincipal
from zope.security.management import endInteraction
from zope.security.management import newInteraction
from zope.security.management import queryInteraction
from zope.security.proxy import removeSecurityProxy
from zope.security.simplepolicies import ParanoidSecurityPolicy

from codeimport import interfaces as api
from codeimport.interfaces import branch as branch_i
from codeimport.interfaces import codeimport as codeimport_i
from codeimport.interfaces import event as event_i
from codeimport.interfaces import job as job_i
from codeimport.interfaces import machine as machine_i
from codeimport.interfaces import person as person_i
from codeimport.interfaces import result as result_i
from codeimport.model.branch import Branch
from codeimport.model.branch import BranchPuller
from codeimport.model.branch import BranchSet
from codeimport.model.codeimport import CodeImport
from codeimport.model.codeimportset import CodeImportSet
from codeimport.model.event import CodeImportEvent
from codeimport.model.event import CodeImportEventSet
from codeimport.model.event import CodeImportEventToken
from codeimport.model.job import CodeImportJob
from codeimport.model.job import CodeImportJobSet
from codeimport.model.libraryfile import LibraryFileAlias
from codeimport.model.libraryfile import LibraryFileAliasSet
from codeimport.model.listing import SUMMARY_FIELDS
from codeimport.model.listing import CodeImportListing
from codeimport.model.listing import CodeImportSummary
from codeimport.model.machine import CodeImportMachine
from codeimport.model.machine import CodeImportMachineSet
from codeimport.model.person import Person
from codeimport.model.person import PersonSet
from codeimport.model.person import TeamParticipation
from codeimport.model.result import CodeImportResult
from codeimport.model.result import CodeImportResultSet
from codeimport.model.scriptactivity import ScriptActivity
from codeimport.model.scriptactivity import ScriptActivitySet
from codeimport.model.watchdog import CodeImportWatchdog
from codeimport.model.watchdog import WatchdogReport
from codeimport.model.workflow import CodeImportJobWorkflow

__all__ = [
    "ADMINISTER",
    "ADMINS",
    "ANY_PERSON",
    "ANONYMOUS",
    "CodeImportSecurityPolicy",
    "EDIT",
    "EDIT_MACHINE",
    "MODERATE",
    "PROTECTIONS",
    "PUBLIC",
    "PersonPrincipal",
    "SCHEDULE",
    "VCS_IMPORTS",
    "VIEW",
    "declare_checkers",
    "login_anonymous",
    "login_person",
    "login_system",
    "principal_for",
]

PUBLIC = CheckerPublic
VIEW = "codeimport.View"
EDIT = "codeimport.Edit"
MODERATE = "codeimport.Moderate"
EDIT_MACHINE = "codeimport.EditMachine"
ANY_PERSON = "codeimport.AnyPerson"
SCHEDULE = "codeimport.Schedule"
ADMINISTER = "codeimport.Administer"

#: The teams the policy knows by name.
VCS_IMPORTS = "vcs-imports"
ADMINS = "admins"

PROTECTIONS = (
    # class                 interface                                 permission
    (Person,                api.IPerson,                                PUBLIC),
    (PersonSet,             person_i.IPersonSetView,                  PUBLIC),
    (PersonSet,             person_i.IPersonSetEdit,                  ADMINISTER),
    (Branch,                branch_i.IBranchView,                     PUBLIC),
    (Branch,                branch_i.IBranchEdit,                     EDIT),
    (BranchSet,             api.IBranchLookup,                          PUBLIC),
    (BranchSet,             branch_i.IBranchSetEdit,                  ADMINISTER),
    (BranchPuller,          api.IBranchPuller,                          SCHEDULE),
    (CodeImport,            codeimport_i.ICodeImportView,             PUBLIC),
    (CodeImport,            codeimport_i.ICodeImportEdit,             EDIT),
    (CodeImport,            codeimport_i.ICodeImportRequest,          ANY_PERSON),
    (CodeImport,            codeimport_i.ICodeImportModerate,         MODERATE),
    (CodeImportSet,         codeimport_i.ICodeImportSetView,          PUBLIC),
    (CodeImportSet,         codeimport_i.ICodeImportSetEdit,          ANY_PERSON),
    (CodeImportSet,         codeimport_i.ICodeImportSetModerate,      MODERATE),
    (CodeImportJob,         api.ICodeImportJob,                         PUBLIC),
    (CodeImportJobSet,      job_i.ICodeImportJobSetView,              VIEW),
    (CodeImportJobSet,      job_i.ICodeImportJobSetScheduler,         SCHEDULE),
    (CodeImportJobWorkflow, job_i.ICodeImportJobWorkflowEdit,         EDIT),
    (CodeImportJobWorkflow, job_i.ICodeImportJobWorkflowRequest,      ANY_PERSON),
    (CodeImportJobWorkflow, job_i.ICodeImportJobWorkflowScheduler,    SCHEDULE),
    (CodeImportMachine,     machine_i.ICodeImportMachineView,         VIEW),
    (CodeImportMachine,     machine_i.ICodeImportMachineScheduler,    SCHEDULE),
    (CodeImportMachine,     machine_i.ICodeImportMachineEdit,         EDIT_MACHINE),
    (CodeImportMachineSet,  machine_i.ICodeImportMachineSetView,      VIEW),
    (CodeImportMachineSet,  machine_i.ICodeImportMachineSetEdit,      EDIT_MACHINE),
    (CodeImportEvent,       api.ICodeImportEvent,                       VIEW),
    (CodeImportEventToken,  api.ICodeImportEventToken,                  VIEW),
    (CodeImportEventSet,    event_i.ICodeImportEventSetView,          VIEW),
    (CodeImportEventSet,    event_i.ICodeImportEventSetWriter,        SCHEDULE),
    (CodeImportResult,      api.ICodeImportResult,                      PUBLIC),
    (CodeImportResultSet,   result_i.ICodeImportResultSetView,        PUBLIC),
    (CodeImportResultSet,   result_i.ICodeImportResultSetWriter,      SCHEDULE),
    (LibraryFileAlias,      api.ILibraryFileAlias,                      PUBLIC),
    (LibraryFileAliasSet,   api.ILibraryFileAliasSet,                   SCHEDULE),
    (ScriptActivity,        api.IScriptActivity,                        PUBLIC),
    (ScriptActivitySet,     api.IScriptActivitySet,                     SCHEDULE),
    (CodeImportWatchdog,    api.ICodeImportWatchdog,                    SCHEDULE),
    (CodeImportListing,     api.ICodeImportListing,                     PUBLIC),
)

# Enumeration items are immutable values, like ints and strings, and are
# never proxied: a proxied item is no `DBItem` to the Storm columns, so
# a value read through a proxy could not be stored again.  Checkers are
# found by exact class, so each item class is listed.
_UNPROXIED = (DBItem, Item)
# Plain value objects that proxied code hands out.
_PUBLIC_NAMES = (
    (WatchdogReport, ("reclaimed_job_ids", "offline_hostnames",
                      "__str__")),
    (CodeImportSummary, SUMMARY_FIELDS),
)


def declare_checkers() -> None:
    """Define one checker per protected class; calling again is harmless.

    Rows for the same class are merged, so a class may be protected by
    several interfaces with different permissions.
    """
    permissions: dict = {}
    for class_, interface, permission in PROTECTIONS:
        names = permissions.setdefault(class_, {})
        for name in interface.names(all=True):
            names[name] = permission
    for class_, names in permissions.items():
        if getCheckerForInstancesOf(class_) is None:
            defineChecker(class_, Checker(names))
    for class_, names in _PUBLIC_NAMES:
        if getCheckerForInstancesOf(class_) is None:
            defineChecker(class_, NamesChecker(names))
    for class_ in _UNPROXIED:
        if getCheckerForInstancesOf(class_) is None:
            defineChecker(class_, NoProxy)


@implementer(IPrincipal)
class PersonPrincipal:
    """A logged-in person, with the teams they belong to."""

    def __init__(self, person_id, name, team_ids, team_names):
        self.id = f"person:{person_id}"
        self.title = name
        self.description = ""
        self.person_id = person_id
        self.team_ids = frozenset(team_ids) | {person_id}
        self.team_names = frozenset(team_names)


@implementer(IPrincipal)
class AnonymousPrincipal:
    """Somebody who has not logged in."""

    id = "anonymous"
    title = "Anonymous"
    description = ""


ANONYMOUS = AnonymousPrincipal()


@implementer(IParticipation)
class Participation:
    def __init__(self, principal):
        self.principal = principal
        self.interaction = None


def principal_for(person) -> PersonPrincipal:
    """Return the principal of `person`, computing their teams once."""
    from storm.store import Store

    person = removeSecurityProxy(person)
    store = Store.of(person)
    rows = store.find(
        (TeamParticipation.team_id, Person.name),
        TeamParticipation.person_id == person.id,
        Person.id == TeamParticipation.team_id,
    )
    teams = list(rows)
    return PersonPrincipal(
        person.id, person.name, [t[0] for t in teams], [t[1] for t in teams]
    )


def _begin(*participations):
    if queryInteraction() is not None:
        endInteraction()
    newInteraction(*participations)


def login_person(person) -> None:
    """Start an interaction as `person`."""
    _begin(Participation(principal_for(person)))


def login_anonymous() -> None:
    """Start an interaction as an anonymous visitor."""
    _begin(Participation(ANONYMOUS))


def login_system() -> None:
    """Start an interaction with no participants: trusted code."""
    _begin()


class CodeImportSecurityPolicy(ParanoidSecurityPolicy):
    """Grants permissions from team membership (BEHAVIOUR.md §13).

    An interaction with no participants is the system and may do
    anything; otherwise every participant must hold the permission.
    """

    def checkPermission(self, permission, object):
        if permission is CheckerPublic:
            return True
        principals = [p.principal for p in self.participations]
        if not principals:
            return True
        return all(grants(p, permission, object) for p in principals)


def grants(principal, permission, object) -> bool:
    """Return whether `principal` holds `permission` on `object`."""
    if not isinstance(principal, PersonPrincipal):
        return False
    teams = principal.team_names
    operator = VCS_IMPORTS in teams or ADMINS in teams
    if permission == ANY_PERSON:
        return True
    if permission in (VIEW, MODERATE):
        return operator
    if permission == EDIT:
        if operator:
            return True
        # canAccess() and checkPermission() hand the policy a proxy;
        # the owner test must see the import itself.
        object = removeSecurityProxy(object)
        if isinstance(object, CodeImport):
            return object.owner_id in principal.team_ids
        return False
    if permission in (EDIT_MACHINE, SCHEDULE, ADMINISTER):
        return ADMINS in teams
    return False
