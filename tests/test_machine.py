"""Import machines: the set, state transitions and shouldLookForJob (§9)."""

from __future__ import annotations

import pytest
from corehelpers import db_now
from corehelpers import event_data
from corehelpers import set_fields
from corehelpers import utc

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import CodeImportValidationError
from codeimport.errors import InvalidMachineState

State = CodeImportMachineState
Reason = CodeImportMachineOfflineReason


@pytest.fixture
def machines(codeimport):
    return codeimport.utilities.machines


@pytest.fixture
def admin(codeimport):
    admins = codeimport.utilities.persons.getByName("admins")
    return codeimport.factory.makePerson(name="name16", member_of=[admins])


def make_machine(machines, hostname, state, quiesced_by=None):
    """Return a machine in `state`, reached through the transitions."""
    machine = machines.new(hostname)
    if state != State.OFFLINE:
        machine.setOnline()
    if state == State.QUIESCING:
        machine.setQuiescing(quiesced_by)
    return machine


def test_new_default_is_offline_without_heartbeat_or_event(codeimport,
                                                           machines):
    events = codeimport.new_events()
    machine = machines.new("frobisher")
    assert machine.state == State.OFFLINE
    assert machine.heartbeat is None
    assert machine.date_created == db_now(codeimport.store)
    assert repr(machine) == "<CodeImportMachine frobisher OFFLINE>"
    assert events.summary() == ""


def test_new_online_writes_online_event_without_person(codeimport, machines):
    events = codeimport.new_events()
    machine = machines.new("innocent", State.ONLINE)
    assert machine.state == State.ONLINE
    assert events.summary() == "ONLINE innocent"
    [event] = list(events)
    assert event.person is None and event.code_import is None
    assert event_data(event) == {}


def test_new_quiescing_raises_invalid_creation_state(machines):
    with pytest.raises(InvalidMachineState) as info:
        machines.new("h", State.QUIESCING)
    assert str(info.value) == (
        f"Invalid machine creation state: {State.QUIESCING!r}.")


@pytest.mark.parametrize("hostname", ["", "   ", None])
def test_new_without_hostname_raises(machines, hostname):
    with pytest.raises(CodeImportValidationError) as info:
        machines.new(hostname)
    assert str(info.value) == f"Invalid machine host name: {hostname!r}"


def test_new_duplicate_hostname_raises(machines):
    machines.new("frobisher")
    with pytest.raises(CodeImportValidationError) as info:
        machines.new("frobisher")
    assert str(info.value) == "A machine called frobisher already exists."


def test_getAll_orders_by_hostname(machines):
    for name in ("charlie", "alpha", "bravo"):
        machines.new(name)
    assert [m.hostname for m in machines.getAll()] == [
        "alpha", "bravo", "charlie"]


def test_getByHostname_unknown_returns_None(machines):
    machines.new("known")
    assert machines.getByHostname("unknown") is None
    assert machines.getByHostname("known").hostname == "known"


@pytest.mark.parametrize("start", [State.OFFLINE, State.QUIESCING])
def test_setOnline_from_allowed_state_goes_online_with_one_event(
        codeimport, machines, admin, start):
    machine = make_machine(machines, "frobisher", start, admin)
    events = codeimport.new_events()
    machine.setOnline(admin, "back again")
    assert machine.state == State.ONLINE
    assert events.summary() == "ONLINE frobisher name16"
    [event] = list(events)
    assert event_data(event) == {"MESSAGE": "back again"}


def test_setOnline_when_online_raises_and_writes_nothing(codeimport,
                                                         machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    events = codeimport.new_events()
    with pytest.raises(InvalidMachineState) as info:
        machine.setOnline()
    assert str(info.value) == "State of machine frobisher was ONLINE."
    assert events.summary() == ""


@pytest.mark.parametrize("start", [State.ONLINE, State.QUIESCING])
def test_setOffline_from_allowed_state_records_reason(codeimport, machines,
                                                      admin, start):
    machine = make_machine(machines, "frobisher", start, admin)
    events = codeimport.new_events()
    machine.setOffline(Reason.STOPPED)
    assert machine.state == State.OFFLINE
    assert events.summary() == "OFFLINE frobisher"
    [event] = list(events)
    assert event_data(event) == {"OFFLINE_REASON": "STOPPED"}


def test_setOffline_with_user_and_message_records_both(codeimport, machines,
                                                       admin):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    events = codeimport.new_events()
    machine.setOffline(Reason.STOPPED, admin, "maintenance")
    assert events.summary() == "OFFLINE frobisher name16"
    assert event_data(list(events)[0]) == {
        "OFFLINE_REASON": "STOPPED", "MESSAGE": "maintenance"}


def test_setOffline_when_offline_raises(codeimport, machines):
    machine = machines.new("frobisher")
    with pytest.raises(InvalidMachineState) as info:
        machine.setOffline(Reason.STOPPED)
    assert str(info.value) == "State of machine frobisher was OFFLINE."


def test_setOffline_with_wrong_reason_type_raises(machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    with pytest.raises(CodeImportValidationError) as info:
        machine.setOffline(CodeImportReviewStatus.SUSPENDED)
    assert str(info.value) == (
        "reason must be a CodeImportMachineOfflineReason value, but was: "
        f"{CodeImportReviewStatus.SUSPENDED!r}")
    assert machine.state == State.ONLINE


def test_setQuiescing_from_online_records_user_and_message(codeimport,
                                                           machines, admin):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    events = codeimport.new_events()
    machine.setQuiescing(admin, "1.1.42 rollout")
    assert machine.state == State.QUIESCING
    assert events.summary() == "QUIESCE frobisher name16"
    assert event_data(list(events)[0]) == {"MESSAGE": "1.1.42 rollout"}


@pytest.mark.parametrize("message", [None, ""])
def test_machine_event_without_message_has_no_message_data(
        codeimport, machines, admin, message):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    events = codeimport.new_events()
    machine.setQuiescing(admin, message)
    assert event_data(list(events)[0]) == {}


@pytest.mark.parametrize("start", [State.OFFLINE, State.QUIESCING])
def test_setQuiescing_from_other_state_raises(codeimport, machines, admin,
                                              start):
    machine = make_machine(machines, "frobisher", start, admin)
    with pytest.raises(InvalidMachineState) as info:
        machine.setQuiescing(admin)
    assert str(info.value) == f"State of machine frobisher was {start.name}."


def test_setQuiescing_without_user_records_no_person(codeimport, machines):
    # The machine's own dispatcher quiescing through the scheduler.
    machine = make_machine(machines, "frobisher", State.ONLINE)
    events = codeimport.new_events()
    machine.setQuiescing()
    assert machine.state == State.QUIESCING
    assert events.summary() == "QUIESCE frobisher"
    assert list(events)[0].person is None


def test_offline_reason_is_that_of_the_newest_offline_event(machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    assert machine.offline_reason is None
    machine.setOffline(Reason.WATCHDOG)
    assert machine.offline_reason == Reason.WATCHDOG
    machine.setOnline()
    assert machine.offline_reason is None
    machine.setOffline(Reason.STOPPED)
    assert machine.offline_reason == Reason.STOPPED


def test_offline_reason_of_a_machine_never_online_is_None(machines):
    assert machines.new("frobisher").offline_reason is None


def test_state_check_uses_committed_row_not_stale_object(codeimport,
                                                         machines):
    # Another session took the machine offline behind our back.
    machine = make_machine(machines, "frobisher", State.ONLINE)
    codeimport.store.execute(
        "UPDATE codeimportmachine SET state = ? WHERE id = ?",
        (State.OFFLINE.value, machine.id))
    with pytest.raises(InvalidMachineState) as info:
        machine.setOffline(Reason.STOPPED)
    assert str(info.value) == "State of machine frobisher was OFFLINE."


def test_shouldLookForJob_offline_returns_False_without_heartbeat(machines):
    machine = machines.new("frobisher")
    assert machine.shouldLookForJob(10) is False
    assert machine.heartbeat is None
    assert machine.state == State.OFFLINE


def test_shouldLookForJob_online_below_limit_touches_heartbeat(codeimport,
                                                               machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    set_fields(codeimport.store, machine, heartbeat=utc(2000, 1, 1))
    assert machine.shouldLookForJob(1) is True
    assert machine.heartbeat == db_now(codeimport.store)


def test_shouldLookForJob_online_at_limit_returns_False(codeimport, machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    codeimport.factory.makeRunningJob(machine)
    codeimport.factory.makeRunningJob(machine)
    assert machine.shouldLookForJob(2) is False
    assert machine.shouldLookForJob(3) is True
    assert machine.heartbeat == db_now(codeimport.store)


def test_shouldLookForJob_worker_limit_zero_returns_False(machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    assert machine.shouldLookForJob(0) is False


def test_shouldLookForJob_counts_only_this_machines_jobs(codeimport,
                                                         machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    codeimport.factory.makeRunningJob()  # on another machine
    codeimport.factory.makeCodeImportJob()  # pending, on no machine
    assert machine.shouldLookForJob(1) is True


def test_shouldLookForJob_quiescing_with_jobs_stays_quiescing(
        codeimport, machines, admin):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    codeimport.factory.makeRunningJob(machine)
    machine.setQuiescing(admin)
    events = codeimport.new_events()
    assert machine.shouldLookForJob(10) is False
    assert machine.state == State.QUIESCING
    assert machine.heartbeat == db_now(codeimport.store)
    assert events.summary() == ""


def test_shouldLookForJob_quiescing_idle_goes_offline_quiesced(
        codeimport, machines, admin):
    machine = make_machine(machines, "frobisher", State.QUIESCING, admin)
    events = codeimport.new_events()
    assert machine.shouldLookForJob(10) is False
    assert machine.state == State.OFFLINE
    assert events.summary() == "OFFLINE frobisher"
    assert event_data(list(events)[0]) == {"OFFLINE_REASON": "QUIESCED"}
    # Once OFFLINE, only setOnline brings it back.
    assert machine.shouldLookForJob(10) is False
    assert machine.state == State.OFFLINE


def test_current_jobs_lists_running_jobs_by_start_then_id(codeimport,
                                                          machines):
    machine = make_machine(machines, "frobisher", State.ONLINE)
    first = codeimport.factory.makeRunningJob(machine)
    second = codeimport.factory.makeRunningJob(machine)
    set_fields(codeimport.store, first, date_started=utc(2001, 1, 1))
    set_fields(codeimport.store, second, date_started=utc(2000, 1, 1))
    assert machine.current_jobs == [second, first]
    assert all(j.state == CodeImportJobState.RUNNING
               for j in machine.current_jobs)


def test_events_are_newest_first(codeimport, machines, admin):
    machine = machines.new("frobisher")
    machine.setOnline()
    machine.setQuiescing(admin)
    machine.setOffline(Reason.STOPPED)
    assert [e.event_type.name for e in machine.events] == [
        "OFFLINE", "QUIESCE", "ONLINE"]


def test_getOrCreateOnline_creates_once(codeimport, machines):
    events = codeimport.new_events()
    machine, created = machines.getOrCreateOnline("newhost")
    again, created_again = machines.getOrCreateOnline("newhost")
    assert (created, created_again) == (True, False)
    assert again is machine and machine.state == State.ONLINE
    assert events.summary() == "ONLINE newhost"
