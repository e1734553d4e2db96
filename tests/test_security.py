"""The security matrix (§13, D3): who may read and call what through the
proxies, and that no field can be assigned through a proxy."""

from __future__ import annotations

import pytest
from zope.component import getUtility
from zope.security.checker import ProxyFactory
from zope.security.checker import canAccess
from zope.security.interfaces import ForbiddenAttribute
from zope.security.interfaces import Unauthorized
from zope.security.management import endInteraction
from zope.security.management import newInteraction
from zope.security.proxy import removeSecurityProxy

from codeimport import interfaces
from codeimport import security
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.model.event import CodeImportEventToken
from codeimport.testing import ANONYMOUS

# Who is asked.  "owner" belongs to the team owning the import under
# test and to no operator team.
WHO = ("anonymous", "user", "owner", "vcs", "admin", "system")
ALL = frozenset(WHO)
ANY_PERSON = ALL - {"anonymous"}
OPERATORS = frozenset({"vcs", "admin", "system"})
OWNER_OR_OPERATOR = OPERATORS | {"owner"}
ADMINS = frozenset({"admin", "system"})

#: Written from BEHAVIOUR.md §13 and decision D3 (scheduling and
#: audit-trail writing need the scheduler permission, which only admins
#: and trusted code hold), not from `security.PROTECTIONS`; the tests
#: check that the two agree.
EXPECTED = {
    ("Person", "IPerson"): ALL,
    ("PersonSet", "IPersonSetView"): ALL,
    ("PersonSet", "IPersonSetEdit"): ADMINS,
    ("Branch", "IBranchView"): ALL,
    ("Branch", "IBranchEdit"): OPERATORS,
    ("BranchSet", "IBranchLookup"): ALL,
    ("BranchSet", "IBranchSetEdit"): ADMINS,
    ("BranchPuller", "IBranchPuller"): ADMINS,
    ("CodeImport", "ICodeImportView"): ALL,
    ("CodeImport", "ICodeImportEdit"): OWNER_OR_OPERATOR,
    ("CodeImport", "ICodeImportRequest"): ANY_PERSON,
    ("CodeImport", "ICodeImportModerate"): OPERATORS,
    ("CodeImportSet", "ICodeImportSetView"): ALL,
    ("CodeImportSet", "ICodeImportSetEdit"): ANY_PERSON,
    ("CodeImportSet", "ICodeImportSetModerate"): OPERATORS,
    ("CodeImportJob", "ICodeImportJob"): ALL,
    ("CodeImportJobSet", "ICodeImportJobSetView"): OPERATORS,
    ("CodeImportJobSet", "ICodeImportJobSetScheduler"): ADMINS,
    ("CodeImportJobWorkflow", "ICodeImportJobWorkflowEdit"): OPERATORS,
    ("CodeImportJobWorkflow", "ICodeImportJobWorkflowRequest"): ANY_PERSON,
    ("CodeImportJobWorkflow", "ICodeImportJobWorkflowScheduler"): ADMINS,
    ("CodeImportMachine", "ICodeImportMachineView"): OPERATORS,
    ("CodeImportMachine", "ICodeImportMachineScheduler"): ADMINS,
    ("CodeImportMachine", "ICodeImportMachineEdit"): ADMINS,
    ("CodeImportMachineSet", "ICodeImportMachineSetView"): OPERATORS,
    ("CodeImportMachineSet", "ICodeImportMachineSetEdit"): ADMINS,
    ("CodeImportEvent", "ICodeImportEvent"): OPERATORS,
    ("CodeImportEventToken", "ICodeImportEventToken"): OPERATORS,
    ("CodeImportEventSet", "ICodeImportEventSetView"): OPERATORS,
    ("CodeImportEventSet", "ICodeImportEventSetWriter"): ADMINS,
    ("CodeImportResult", "ICodeImportResult"): ALL,
    ("CodeImportResultSet", "ICodeImportResultSetView"): ALL,
    ("CodeImportResultSet", "ICodeImportResultSetWriter"): ADMINS,
    ("LibraryFileAlias", "ILibraryFileAlias"): ALL,
    ("LibraryFileAliasSet", "ILibraryFileAliasSet"): ADMINS,
    ("ScriptActivity", "IScriptActivity"): ALL,
    ("ScriptActivitySet", "IScriptActivitySet"): ADMINS,
    ("CodeImportWatchdog", "ICodeImportWatchdog"): ADMINS,
    ("CodeImportListing", "ICodeImportListing"): ALL,
}


def rows():
    return [(cls.__name__, interface.__name__, interface)
            for cls, interface, _ in security.PROTECTIONS]


def expected_names():
    """{class name: {attribute name: who may access it}}."""
    table = {}
    for cls, iname, interface in rows():
        for name in interface.names(all=True):
            table.setdefault(cls, {})[name] = EXPECTED[(cls, iname)]
    return table


def test_expected_table_covers_every_protection_row():
    assert {(c, i) for c, i, _ in rows()} == set(EXPECTED)


def test_no_name_is_protected_twice_with_different_rules():
    seen = {}
    for cls, iname, interface in rows():
        for name in interface.names(all=True):
            rule = EXPECTED[(cls, iname)]
            assert seen.setdefault((cls, name), rule) == rule, (cls, name)


@pytest.fixture
def people(codeimport):
    f = codeimport.factory
    persons = codeimport.utilities.persons
    owners = f.makeTeam(name="owners")
    nested = f.makeTeam(name="nested-vcs")
    persons.addMember(persons.getByName("vcs-imports"), nested)
    return {
        "user": f.makePerson(name="user"),
        "owner": f.makePerson(name="owner", member_of=[owners]),
        "vcs": f.makePerson(name="vcs", member_of=[nested]),
        "admin": f.makePerson(name="admin",
                              member_of=[persons.getByName("admins")]),
        "owners": owners,
    }


def login(codeimport, people, who):
    if who == "anonymous":
        codeimport.login(ANONYMOUS)
    elif who == "system":
        codeimport.logout()
    else:
        codeimport.login(people[who])


@pytest.fixture
def objects(codeimport, people):
    """One unproxied instance of every protected class, by class name."""
    f = codeimport.factory
    u = codeimport.utilities
    owner = people["owner"]
    code_import = f.makeCodeImport(registrant=owner, owner=people["owners"])
    job = f.makeRunningJob(code_import=code_import)
    result = f.makeCodeImportResult(code_import)
    activity = u.script_activities.recordSuccess(
        "x", result.date_job_started, result.date_job_finished, "h")
    found = [
        owner, code_import.branch, code_import, job, job.machine,
        u.events.getAll()[0], CodeImportEventToken([]), result,
        f.makeLibraryFileAlias(), activity,
    ] + [utility for _, utility in u.registrations()]
    return {type(o).__name__: o for o in found}


@pytest.mark.parametrize("who", WHO)
def test_matrix_access_to_every_protected_name(codeimport, people, objects,
                                               who):
    login(codeimport, people, who)
    wrong = []
    for cls, names in sorted(expected_names().items()):
        proxy = ProxyFactory(objects[cls])
        for name, allowed in sorted(names.items()):
            if canAccess(proxy, name) != (who in allowed):
                wrong.append(f"{cls}.{name}")
    assert wrong == []


@pytest.mark.parametrize("who", ["system", "admin"])
def test_every_field_assignment_through_a_proxy_is_forbidden(
        codeimport, people, objects, who):
    login(codeimport, people, who)
    allowed = []
    for cls, names in sorted(expected_names().items()):
        proxy = ProxyFactory(objects[cls])
        for name in sorted(names):
            try:
                setattr(proxy, name, None)
            except ForbiddenAttribute:
                continue
            allowed.append(f"{cls}.{name}")
    assert allowed == []


def test_registered_utilities_are_security_proxied(codeimport):
    store = codeimport.store
    from codeimport.registration import build_utilities

    for interface, _ in build_utilities(lambda: store).registrations():
        utility = getUtility(interface)
        assert removeSecurityProxy(utility) is not utility, interface


# -- the canonical denials, with their permission names ---------------------

def proxied_import(objects):
    """The import under test, as the registered utility hands it out."""
    code_imports = getUtility(interfaces.ICodeImportSet)
    return code_imports.get(objects["CodeImport"].id)


def denied(call):
    with pytest.raises(Unauthorized) as info:
        call()
    return info.value.args[-1]


def test_anonymous_cannot_list_machines(codeimport, people):
    codeimport.factory.makeCodeImportMachine()
    codeimport.login(ANONYMOUS)
    machines = getUtility(interfaces.ICodeImportMachineSet)
    assert denied(lambda: machines.getAll()) == security.VIEW


def test_regular_user_cannot_list_machines_but_vcs_member_can(codeimport,
                                                              people):
    codeimport.factory.makeCodeImportMachine(hostname="frobisher")
    machines = getUtility(interfaces.ICodeImportMachineSet)
    codeimport.login(people["user"])
    assert denied(lambda: machines.getAll()) == security.VIEW
    codeimport.login(people["vcs"])
    [machine] = machines.getAll()
    assert machine.hostname == "frobisher"
    with pytest.raises(ForbiddenAttribute):
        machine.state = None
    assert denied(lambda: machine.setOnline()) == security.EDIT_MACHINE


def test_admin_changes_machine_state_through_the_proxy(codeimport, people):
    codeimport.factory.makeCodeImportMachine(hostname="frobisher")
    codeimport.login(people["admin"])
    machines = getUtility(interfaces.ICodeImportMachineSet)
    machine = machines.getByHostname("frobisher")
    machine.setOnline(people["admin"], "up")
    machine.setOffline(CodeImportMachineOfflineReason.STOPPED)
    assert machine.state.name == "OFFLINE"


def test_anonymous_updateFromData_needs_moderate(codeimport, people,
                                                 objects):
    codeimport.login(ANONYMOUS)
    code_import = proxied_import(objects)
    assert denied(lambda: code_import.updateFromData({}, None)) == (
        security.MODERATE)
    with pytest.raises(ForbiddenAttribute) as info:
        code_import.url = "http://example.com/other"
    assert info.value.args[0] == "url"


def test_owner_team_member_may_edit_url_but_not_moderate(codeimport, people,
                                                         objects):
    codeimport.login(people["owner"])
    code_import = proxied_import(objects)
    event = code_import.updateURL("http://example.com/moved", None)
    assert event is not None
    assert denied(lambda: code_import.updateFromData(
        {"review_status": CodeImportReviewStatus.SUSPENDED}, None)) == (
        security.MODERATE)


def test_other_user_may_not_edit_url(codeimport, people, objects):
    codeimport.login(people["user"])
    code_import = proxied_import(objects)
    assert denied(lambda: code_import.updateURL("http://e.com/x", None)) == (
        security.EDIT)


def test_vcs_member_moderates_through_the_proxy(codeimport, people,
                                                objects):
    codeimport.login(people["vcs"])
    code_import = proxied_import(objects)
    code_import.updateFromData(
        {"review_status": CodeImportReviewStatus.INVALID}, people["vcs"])
    assert code_import.review_status == CodeImportReviewStatus.INVALID


def test_anonymous_may_not_request_an_import_but_a_user_may(codeimport,
                                                            people):
    code_import = codeimport.factory.makeCodeImport()
    codeimport.login(ANONYMOUS)
    proxied = getUtility(interfaces.ICodeImportSet).get(code_import.id)
    assert denied(lambda: proxied.requestImport(None)) == security.ANY_PERSON
    codeimport.login(people["user"])
    proxied = getUtility(interfaces.ICodeImportSet).get(code_import.id)
    proxied.requestImport(people["user"])
    assert code_import.import_job.requesting_user is people["user"]


def test_scheduling_needs_the_scheduler_permission_D3(codeimport, people):
    codeimport.factory.makeCodeImportJob()
    jobs = getUtility(interfaces.ICodeImportJobSet)
    for who in ("anonymous", "user", "vcs"):
        login(codeimport, people, who)
        assert denied(lambda: jobs.getJobForMachine("h", 1)) == (
            security.SCHEDULE), who
    codeimport.logout()
    job = jobs.getJobForMachine("h", 1)
    assert job.state.name == "RUNNING"


def test_vcs_member_may_finish_but_not_start_or_reclaim_D3(codeimport,
                                                           people):
    job = codeimport.factory.makeRunningJob()
    pending = codeimport.factory.makeCodeImportJob()
    machine = codeimport.factory.makeCodeImportMachine(set_online=True)
    codeimport.login(people["vcs"])
    workflow = getUtility(interfaces.ICodeImportJobWorkflow)
    proxied_job = getUtility(interfaces.ICodeImportJobSet).getById(job.id)
    assert denied(lambda: workflow.startJob(pending, machine)) == (
        security.SCHEDULE)
    assert denied(lambda: workflow.reclaimJob(proxied_job)) == (
        security.SCHEDULE)
    workflow.updateHeartbeat(proxied_job, "tail")
    workflow.finishJob(proxied_job, CodeImportResultStatus.SUCCESS, None)


def test_regular_user_cannot_see_jobs_by_id(codeimport, people):
    job = codeimport.factory.makeCodeImportJob()
    codeimport.login(people["user"])
    jobs = getUtility(interfaces.ICodeImportJobSet)
    assert denied(lambda: jobs.getById(job.id)) == security.VIEW


def test_anonymous_may_read_a_job_reached_through_its_import(codeimport,
                                                             people):
    code_import = codeimport.factory.makeCodeImport()
    codeimport.login(ANONYMOUS)
    proxied = getUtility(interfaces.ICodeImportSet).get(code_import.id)
    assert proxied.import_job.state.name == "PENDING"
    assert proxied.import_job.isOverdue() is True


def test_every_participant_must_hold_the_permission(codeimport, people):
    codeimport.factory.makeCodeImportMachine()
    machines = getUtility(interfaces.ICodeImportMachineSet)
    endInteraction()
    newInteraction(
        security.Participation(security.principal_for(people["admin"])),
        security.Participation(security.ANONYMOUS))
    assert denied(lambda: machines.getAll()) == security.VIEW
    codeimport.login(people["admin"])
    assert machines.getAll() != []


def test_principal_for_collects_transitive_teams(codeimport, people):
    principal = security.principal_for(people["vcs"])
    assert {"vcs-imports", "nested-vcs"} <= principal.team_names
    assert people["vcs"].id in principal.team_ids


def test_policy_grants_public_and_refuses_unknown_permissions(codeimport,
                                                              people):
    from zope.security.checker import CheckerPublic

    principal = security.principal_for(people["admin"])
    assert security.grants(principal, "codeimport.Unknown", None) is False
    assert security.grants(security.ANONYMOUS, security.VIEW, None) is False
    policy = security.CodeImportSecurityPolicy(
        security.Participation(security.ANONYMOUS))
    assert policy.checkPermission(CheckerPublic, None) is True
    assert policy.checkPermission(security.VIEW, None) is False
