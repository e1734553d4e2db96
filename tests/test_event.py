"""The audit trail: CodeImportEventSet creators, snapshots, MODIFY (§6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now
from corehelpers import event_data
from corehelpers import set_fields
from corehelpers import utc
from zope.component import getUtility

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.errors import InvalidEventArgument
from codeimport.interfaces import ICodeImportEventSet

R = RevisionControlSystems


@pytest.fixture
def event_set(codeimport):
    return codeimport.utilities.events


@pytest.fixture
def git_import(codeimport):
    return codeimport.factory.makeCodeImport(url="git://git.example.org/x")


@pytest.fixture
def machine(codeimport):
    return codeimport.factory.makeCodeImportMachine(hostname="bazaar-importer")


def test_newCreate_through_CodeImportSet_snapshots_a_url_import(codeimport):
    registrant = codeimport.factory.makePerson(name="alice")
    code_import = codeimport.factory.makeCodeImport(
        rcs_type=R.BZR_SVN, url="svn://svn.example.org/trunk",
        registrant=registrant)
    [event] = codeimport.utilities.events.getEventsForCodeImport(code_import)
    assert event.event_type == CodeImportEventType.CREATE
    assert event.person is registrant and event.machine is None
    assert event.date_created == db_now(codeimport.store)
    assert [(k.name, v) for k, v in event.items()] == [
        ("CODE_IMPORT", str(code_import.id)),
        ("OWNER", str(registrant.id)),
        ("REVIEW_STATUS", "REVIEWED"),
        ("ASSIGNEE", None),
        ("UPDATE_INTERVAL", None),
        ("URL", "svn://svn.example.org/trunk"),
    ]


def test_newCreate_snapshots_cvs_details(codeimport):
    code_import = codeimport.factory.makeCodeImport(
        rcs_type=R.CVS, cvs_root=":pserver:anon@cvs.example.org:/cvs",
        cvs_module="hello", review_status=CodeImportReviewStatus.NEW)
    [event] = codeimport.utilities.events.getEventsForCodeImport(code_import)
    data = event_data(event)
    assert (data["CVS_ROOT"], data["CVS_MODULE"]) == (
        ":pserver:anon@cvs.example.org:/cvs", "hello")
    assert data["REVIEW_STATUS"] == "NEW"
    assert "URL" not in data


@pytest.mark.parametrize("interval, text", [
    (timedelta(hours=6), "6:00:00"),
    (timedelta(days=1), "1 day, 0:00:00"),
])
def test_snapshot_formats_update_interval_as_timedelta_str(
        codeimport, event_set, git_import, interval, text):
    set_fields(codeimport.store, git_import, update_interval=interval)
    event = event_set.newCreate(git_import, git_import.registrant)
    assert event_data(event)["UPDATE_INTERVAL"] == text


def test_snapshot_of_legacy_rcs_type_raises(codeimport, event_set,
                                            git_import):
    set_fields(codeimport.store, git_import, rcs_type=R.SVN)
    with pytest.raises(InvalidEventArgument) as info:
        event_set.beginModify(git_import)
    assert str(info.value) == "Unknown RCS type: Subversion via CSCVS"


def test_newModify_without_change_returns_None_and_writes_nothing(
        codeimport, event_set, git_import):
    token = event_set.beginModify(git_import)
    events = codeimport.new_events()
    assert event_set.newModify(git_import, None, token) is None
    assert events.summary() == ""


def test_newModify_records_current_values_and_old_changed_ones(
        codeimport, event_set, git_import):
    alice = codeimport.factory.makePerson(name="alice")
    token = event_set.beginModify(git_import)
    set_fields(codeimport.store, git_import,
               review_status=CodeImportReviewStatus.SUSPENDED,
               assignee=alice)
    event = event_set.newModify(git_import, alice, token)
    assert event.event_type == CodeImportEventType.MODIFY
    assert event.person is alice
    assert [(k.name, v) for k, v in event.items()] == [
        ("CODE_IMPORT", str(git_import.id)),
        ("OWNER", str(git_import.owner.id)),
        ("REVIEW_STATUS", "SUSPENDED"),
        ("OLD_REVIEW_STATUS", "REVIEWED"),
        ("ASSIGNEE", str(alice.id)),
        ("OLD_ASSIGNEE", None),
        ("UPDATE_INTERVAL", None),
        ("URL", "git://git.example.org/x"),
    ]


def test_newModify_person_may_be_None(codeimport, event_set, git_import):
    token = event_set.beginModify(git_import)
    set_fields(codeimport.store, git_import, url="git://elsewhere.org/y")
    event = event_set.newModify(git_import, None, token)
    assert event.person is None
    data = event_data(event)
    assert (data["URL"], data["OLD_URL"]) == (
        "git://elsewhere.org/y", "git://git.example.org/x")


def test_newModify_source_kind_change_records_vanished_keys_as_None(
        codeimport, event_set, git_import):
    token = event_set.beginModify(git_import)
    set_fields(codeimport.store, git_import, rcs_type=R.CVS, url=None,
               cvs_root=":pserver:a@cvs.example.org:/c", cvs_module="m")
    data = event_data(event_set.newModify(git_import, None, token))
    assert data["URL"] is None
    assert data["OLD_URL"] == "git://git.example.org/x"
    assert (data["CVS_ROOT"], data["OLD_CVS_ROOT"]) == (
        ":pserver:a@cvs.example.org:/c", None)
    assert (data["CVS_MODULE"], data["OLD_CVS_MODULE"]) == ("m", None)


def test_newModify_with_token_of_other_import_raises(codeimport, event_set,
                                                     git_import):
    other = codeimport.factory.makeCodeImport()
    token = event_set.beginModify(other)
    with pytest.raises(InvalidEventArgument) as info:
        event_set.newModify(git_import, None, token)
    assert str(info.value) == (
        "Token was produced from a different CodeImport object: id in "
        f"token = {other.id}, id of code_import = {git_import.id}")


def test_newModify_with_token_from_proxied_utility_writes_event(
        codeimport, git_import):
    codeimport.logout()
    event_set = getUtility(ICodeImportEventSet)
    token = event_set.beginModify(git_import)
    set_fields(codeimport.store, git_import, url="git://elsewhere.org/y")
    event = event_set.newModify(git_import, None, token)
    assert event_data(event)["OLD_URL"] == "git://git.example.org/x"


def test_newRequest_records_only_the_import_id(codeimport, event_set,
                                               git_import):
    bob = codeimport.factory.makePerson()
    event = event_set.newRequest(git_import, bob)
    assert (event.event_type, event.person, event.machine) == (
        CodeImportEventType.REQUEST, bob, None)
    assert event_data(event) == {"CODE_IMPORT": str(git_import.id)}


@pytest.mark.parametrize("method, event_type", [
    ("newStart", CodeImportEventType.START),
    ("newFinish", CodeImportEventType.FINISH),
    ("newKill", CodeImportEventType.KILL),
])
def test_job_events_record_import_and_machine_only(
        event_set, git_import, machine, method, event_type):
    event = getattr(event_set, method)(git_import, machine)
    assert (event.event_type, event.code_import, event.machine,
            event.person) == (event_type, git_import, machine, None)
    assert event.items() == []


def test_newReclaim_records_job_id_as_string(event_set, git_import, machine):
    event = event_set.newReclaim(git_import, machine, 42)
    assert event.event_type == CodeImportEventType.RECLAIM
    assert event_data(event) == {"RECLAIMED_JOB_ID": "42"}


@pytest.mark.parametrize("job_id", [None, "42", 4.2, True])
def test_newReclaim_with_non_int_job_id_raises(event_set, git_import,
                                               machine, job_id):
    with pytest.raises(InvalidEventArgument) as info:
        event_set.newReclaim(git_import, machine, job_id)
    assert str(info.value) == f"job_id must be an int, was: {job_id!r}"


def test_newOnline_with_message_and_user(codeimport, event_set, machine):
    alice = codeimport.factory.makePerson()
    event = event_set.newOnline(machine, alice, "hello")
    assert (event.event_type, event.person, event.machine,
            event.code_import) == (
        CodeImportEventType.ONLINE, alice, machine, None)
    assert event_data(event) == {"MESSAGE": "hello"}


def test_newOffline_records_reason_name(event_set, machine):
    event = event_set.newOffline(
        machine, CodeImportMachineOfflineReason.WATCHDOG, None, "")
    assert event_data(event) == {"OFFLINE_REASON": "WATCHDOG"}


def test_newOffline_with_wrong_reason_raises(event_set, machine):
    with pytest.raises(InvalidEventArgument) as info:
        event_set.newOffline(machine, CodeImportReviewStatus.SUSPENDED)
    assert str(info.value) == (
        "reason must be a CodeImportMachineOfflineReason value, but was: "
        f"{CodeImportReviewStatus.SUSPENDED!r}")


REQUIRED = [
    ("newCreate", ("ci", None), "person"),
    ("newCreate", (None, "person"), "code_import"),
    ("beginModify", (None,), "code_import"),
    ("newModify", (None, None, "token"), "code_import"),
    ("newModify", ("ci", None, None), "token"),
    ("newRequest", ("ci", None), "person"),
    ("newRequest", (None, "person"), "code_import"),
    ("newOnline", (None,), "machine"),
    ("newOffline", (None, CodeImportMachineOfflineReason.STOPPED),
     "machine"),
    ("newQuiesce", (None, "person"), "machine"),
    ("newStart", (None, "machine"), "code_import"),
    ("newStart", ("ci", None), "machine"),
    ("newFinish", (None, "machine"), "code_import"),
    ("newFinish", ("ci", None), "machine"),
    ("newKill", (None, "machine"), "code_import"),
    ("newKill", ("ci", None), "machine"),
    ("newReclaim", (None, "machine", 1), "code_import"),
    ("newReclaim", ("ci", None, 1), "machine"),
]


@pytest.mark.parametrize("method, args, missing", REQUIRED,
                         ids=[f"{m}-{x}" for m, _, x in REQUIRED])
def test_creator_with_missing_required_argument_raises(
        codeimport, event_set, git_import, machine, method, args, missing):
    objects = {"ci": git_import, "machine": machine,
               "person": git_import.registrant,
               "token": event_set.beginModify(git_import)}
    args = [objects.get(a, a) if isinstance(a, str) else a for a in args]
    events = codeimport.new_events()
    with pytest.raises(InvalidEventArgument) as info:
        getattr(event_set, method)(*args)
    assert str(info.value) == f"{missing} must not be None"
    assert events.summary() == ""


def test_getAll_orders_by_date_created_then_id(codeimport, event_set,
                                               machine):
    store = codeimport.store
    first = event_set.newOnline(machine)
    second = event_set.newKill(codeimport.factory.makeCodeImport(), machine)
    set_fields(store, first, date_created=utc(2001, 1, 1))
    set_fields(store, second, date_created=utc(2000, 1, 1))
    everything = event_set.getAll()
    assert everything.index(second) < everything.index(first)


def test_getEventsForCodeImport_returns_only_that_imports_events(
        codeimport, event_set, git_import, machine):
    other = codeimport.factory.makeCodeImport()
    start = event_set.newStart(git_import, machine)
    event_set.newStart(other, machine)
    events = event_set.getEventsForCodeImport(git_import)
    assert [e.event_type.name for e in events] == ["CREATE", "START"]
    assert events[-1] is start


def test_items_are_ordered_by_data_type_value(event_set, git_import):
    event = event_set.newCreate(git_import, git_import.registrant)
    values = [key.value for key, _ in event.items()]
    assert values == sorted(values)
    assert all(isinstance(key, type(CodeImportEventDataType.URL))
               for key, _ in event.items())


def test_event_repr_shows_id_and_type(event_set, machine):
    event = event_set.newOnline(machine)
    assert repr(event) == f"<CodeImportEvent {event.id} ONLINE>"


def test_NewEvents_summary_formats_one_line_per_event(codeimport, event_set,
                                                      machine):
    nopriv = codeimport.factory.makePerson(name="no-priv")
    code_import = codeimport.factory.makeCodeImport(
        registrant=nopriv, project="gnome-terminal", branch_name="import")
    events = codeimport.new_events()
    event_set.newRequest(code_import, nopriv)
    event_set.newStart(code_import, machine)
    event_set.newOnline(machine)
    assert events.summary() == (
        "REQUEST ~no-priv/gnome-terminal/import no-priv\n"
        "START ~no-priv/gnome-terminal/import bazaar-importer\n"
        "ONLINE bazaar-importer")
