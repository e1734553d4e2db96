"""Random sequences of workflow and machine operations (hypothesis).

A small model predicts, for every step, the jobs, machine states and the
exact audit events the library must write; after each step the database
is compared with it and the invariants of §5.5 are checked.  Each
example runs in one transaction, so "now" is constant and due dates are
kept in the model as offsets from it (the `time_passes` rule moves due
dates instead of the clock); the example is rolled back at its end.  The
failure limit is lowered to 2 so that random runs reach FAILING.
"""

from __future__ import annotations

from datetime import timedelta

from corehelpers import make_stale
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import initialize
from hypothesis.stateful import invariant
from hypothesis.stateful import precondition
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test

from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.errors import CodeImportAlreadyRequested
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidMachineState
from codeimport.settings import Settings

Review = CodeImportReviewStatus
S = CodeImportResultStatus
M = CodeImportMachineState
E = CodeImportEventType
HOSTS = ("alpha", "bravo", "charlie")
INTERVAL = timedelta(hours=6)
#: A low failure limit, so that random runs reach FAILING often.
LIMIT = 2
ZERO = timedelta(0)


class Job:
    """The model of one job: its id, state, due offset and requester."""

    def __init__(self, job_id, due, requested=False):
        self.id = job_id
        self.state = "PENDING"
        self.due = due  # offset from the transaction time
        self.requested = requested
        self.host = None


class Import:
    def __init__(self, code_import, review):
        self.obj = code_import
        self.id = code_import.id
        self.review = review
        self.job = None
        self.statuses = []  # result statuses, oldest first

    @property
    def failures(self):
        count = 0
        for status in reversed(self.statuses):
            if status in S.successes:
                break
            count += 1
        return count


class Workflow(RuleBasedStateMachine):
    """Drives the library and a model of it side by side."""

    def __init__(self, codeimport):
        super().__init__()
        self.ci = codeimport
        self.u = codeimport.use_settings(
            Settings(consecutive_failure_limit=LIMIT))
        self.store = codeimport.store
        self.imports = []
        self.machines = {}  # hostname -> model state
        self.ran = set()  # ids of jobs that were ever RUNNING

    # -- helpers ------------------------------------------------------------

    def expect(self, action, events):
        """Run `action`; check the events it wrote, in order.

        `events` are (type, import id, host name[, person id]) tuples;
        a missing person means the event has none.
        """
        new = self.ci.new_events()
        outcome = action()
        seen = [(e.event_type, e.code_import_id,
                 e.machine.hostname if e.machine else None, e.person_id)
                for e in new]
        expected = [tuple(e) + (None,) * (4 - len(e)) for e in events]
        assert seen == expected, (seen, expected)
        return outcome

    def newJob(self, imp, due):
        imp.job = Job(imp.obj.import_job.id, due)

    def nextDue(self, imp):
        """Due offset of the job newJob makes with the default interval."""
        return INTERVAL if imp.statuses else ZERO

    def running(self, host):
        return [i for i in self.imports
                if i.job and i.job.state == "RUNNING" and i.job.host == host]

    def pick(self, index):
        return self.imports[index % len(self.imports)]

    @initialize()
    def setup(self):
        """Start with work to do: two reviewed imports and a machine."""
        self.person = self.ci.factory.makePerson()
        self.new_import(True)
        self.new_import(True)
        self.expect(lambda: self.u.machines.new("alpha", M.ONLINE),
                    [(E.ONLINE, None, "alpha")])
        self.machines["alpha"] = M.ONLINE

    def teardown(self):
        self.store.rollback()

    # -- imports ------------------------------------------------------------

    @precondition(lambda self: len(self.imports) < 4)
    @rule(reviewed=st.booleans())
    def new_import(self, reviewed):
        review = Review.REVIEWED if reviewed else Review.NEW
        new = self.ci.new_events()
        imp = Import(self.ci.factory.makeCodeImport(review_status=review),
                     review)
        assert [(e.event_type, e.code_import_id, e.person_id)
                for e in new] == [(E.CREATE, imp.id, imp.obj.registrant.id)]
        if reviewed:
            self.newJob(imp, ZERO)
        self.imports.append(imp)

    @precondition(lambda self: self.imports)
    @rule(index=st.integers(0, 50), status=st.sampled_from([
        Review.SUSPENDED, Review.REVIEWED, Review.NEW, Review.INVALID,
        Review.FAILING]))
    def update_review_status(self, index, status):
        imp = self.pick(index)
        changed = status != imp.review
        events = [(E.MODIFY, imp.id, None)] if changed else []
        self.expect(lambda: imp.obj.updateFromData(
            {"review_status": status}, None), events)
        imp.review = status
        if status == Review.REVIEWED:
            if imp.job is None:
                self.newJob(imp, self.nextDue(imp))
        elif imp.job is not None and imp.job.state == "PENDING":
            imp.job = None

    @precondition(lambda self: any(i.job for i in self.imports))
    @rule(index=st.integers(0, 50))
    def request_job(self, index):
        imp = self.pick(index)
        if imp.job is None:
            return
        job = imp.obj.import_job

        def request():
            try:
                self.u.workflow.requestJob(job, self.person)
            except (CodeImportAlreadyRequested, InvalidJobState) as error:
                return error

        if imp.job.state == "RUNNING":
            error = self.expect(request, [])
            assert isinstance(error, InvalidJobState)
        elif imp.job.requested:
            error = self.expect(request, [])
            assert isinstance(error, CodeImportAlreadyRequested)
        else:
            assert self.expect(request, [
                (E.REQUEST, imp.id, None, self.person.id)]) is None
            imp.job.requested = True
            imp.job.due = min(imp.job.due, ZERO)

    def pending_imports(self):
        return [i for i in self.imports
                if i.job and i.job.state == "PENDING"]

    @precondition(lambda self: self.pending_imports())
    @rule(hours=st.sampled_from([6, 1, 12, 48]))
    def time_passes(self, hours):
        """Bring every pending job `hours` closer to being due, as the
        passing of time would (the transaction's "now" stands still)."""
        self.store.flush()
        self.store.execute(
            "UPDATE codeimportjob SET date_due = date_due"
            " - ? * interval '1 hour' WHERE state = ?",
            (hours, CodeImportJobState.PENDING.value))
        self.store.invalidate()
        for imp in self.pending_imports():
            imp.job.due -= timedelta(hours=hours)

    # -- jobs on machines ---------------------------------------------------

    @rule(host=st.sampled_from(HOSTS), limit=st.sampled_from([2, 1, 3, 0]))
    def get_job_for_machine(self, host, limit):
        self.claim(host, limit)

    @rule(host=st.sampled_from(HOSTS), status=st.sampled_from(list(S.items)))
    def claim_and_finish(self, host, status):
        """A worker's whole run: claim a job, then report its outcome."""
        imp = self.claim(host, 3)
        if imp is not None:
            self.finish(imp, status)

    def claim(self, host, limit):
        """getJobForMachine, checked against the model; return the
        claimed import or None."""
        events = []
        state = self.machines.get(host)
        if state is None:
            events.append((E.ONLINE, None, host))
            state = self.machines[host] = M.ONLINE
        candidate = None
        if state == M.QUIESCING and not self.running(host):
            events.append((E.OFFLINE, None, host))
            self.machines[host] = M.OFFLINE
        elif state == M.ONLINE and len(self.running(host)) < limit:
            due = [i for i in self.imports
                   if i.job and i.job.state == "PENDING"
                   and i.job.due <= ZERO]
            if due:
                candidate = min(due, key=lambda i: (
                    not i.job.requested, i.job.due, i.job.id))
                events.append((E.START, candidate.id, host))
        job = self.expect(
            lambda: self.u.jobs.getJobForMachine(host, limit), events)
        if candidate is None:
            assert job is None
        else:
            assert job.id == candidate.job.id
            candidate.job.state = "RUNNING"
            candidate.job.host = host
            self.ran.add(job.id)
        return candidate

    def running_imports(self):
        return [i for i in self.imports
                if i.job and i.job.state == "RUNNING"]

    @precondition(lambda self: self.running_imports())
    @rule(index=st.integers(0, 50))
    def update_heartbeat(self, index):
        imp = self.running_imports()[index % len(self.running_imports())]
        self.expect(lambda: self.u.workflow.updateHeartbeat(
            imp.obj.import_job, f"tail {index}"), [])

    def afterRun(self, imp, status, interval, final_event):
        """Update the model after a finish or reclaim; return the events."""
        host = imp.job.host
        imp.statuses.append(status)
        imp.job = None
        events = []
        if imp.failures >= LIMIT:
            if imp.review != Review.FAILING:
                events.append((E.MODIFY, imp.id, None))
            imp.review = Review.FAILING
        elif imp.review == Review.REVIEWED:
            imp.job = "new"
            self._interval = interval
        events.append((final_event, imp.id, host))
        return events

    @precondition(lambda self: self.running_imports())
    @rule(index=st.integers(0, 50), status=st.sampled_from(list(S.items)))
    def finish_job(self, index, status):
        imp = self.running_imports()[index % len(self.running_imports())]
        self.finish(imp, status)

    def finish(self, imp, status):
        job = imp.obj.import_job
        failures_after = 0 if status in S.successes else imp.failures + 1
        if status == S.SUCCESS_PARTIAL:
            interval = ZERO
        elif failures_after > 0:
            interval = INTERVAL * 2 ** (failures_after - 1)
        else:
            interval = INTERVAL
        events = self.afterRun(imp, status, interval, E.FINISH)
        result = self.expect(
            lambda: self.u.workflow.finishJob(job, status, None), events)
        assert result.status == status
        if imp.job == "new":
            self.newJob(imp, interval)

    @precondition(lambda self: self.running_imports())
    @rule(index=st.integers(0, 50))
    def reclaim_stale_job(self, index):
        imp = self.running_imports()[index % len(self.running_imports())]
        job = imp.obj.import_job
        job_id = job.id
        make_stale(self.store, job, 3600)
        events = self.afterRun(imp, S.RECLAIMED, ZERO, E.RECLAIM)
        ids = self.expect(self.u.workflow.reclaimStaleJobs, events)
        assert ids == [job_id]
        if imp.job == "new":
            self.newJob(imp, ZERO)

    # -- machine states -----------------------------------------------------

    @precondition(lambda self: self.machines)
    @rule(host=st.sampled_from(HOSTS), change=st.sampled_from(
        ["online", "offline", "quiescing"]))
    def change_machine(self, host, change):
        if host not in self.machines:
            return
        machine = self.u.machines.getByHostname(host)
        state = self.machines[host]
        allowed, target, event, call = {
            "online": ((M.OFFLINE, M.QUIESCING), M.ONLINE, E.ONLINE,
                       lambda: machine.setOnline()),
            "offline": ((M.ONLINE, M.QUIESCING), M.OFFLINE, E.OFFLINE,
                        lambda: machine.setOffline(
                            CodeImportMachineOfflineReason.STOPPED)),
            "quiescing": ((M.ONLINE,), M.QUIESCING, E.QUIESCE,
                          lambda: machine.setQuiescing(self.person)),
        }[change]

        def act():
            try:
                call()
            except InvalidMachineState as error:
                return error

        if state in allowed:
            person = self.person.id if change == "quiescing" else None
            assert self.expect(act, [(event, None, host, person)]) is None
            self.machines[host] = target
        else:
            error = self.expect(act, [])
            assert str(error) == f"State of machine {host} was {state.name}."

    # -- invariants ---------------------------------------------------------

    @invariant()
    def database_matches_model(self):
        self.store.flush()  # also checks valid_state and unique keys
        jobs = {row[0]: row[1:] for row in self.store.execute(
            "SELECT code_import, id, state, date_due - CURRENT_TIMESTAMP"
            " FROM codeimportjob")}
        for imp in self.imports:
            status = imp.obj.review_status
            assert status == imp.review
            row = jobs.get(imp.id)
            if imp.job is None:
                assert row is None, imp.id
                continue
            job_id, state, due = row
            assert job_id == imp.job.id
            assert CodeImportJobState.items[state].name == imp.job.state
            if imp.job.state == "PENDING":
                assert due == imp.job.due, (imp.id, due, imp.job.due)
            # §5.5: PENDING only while REVIEWED; a RUNNING job may outlive
            # a status change.
            if imp.job.state == "PENDING":
                assert status == Review.REVIEWED
                assert job_id not in self.ran  # never back to PENDING
            if status == Review.REVIEWED:
                assert row is not None
        assert len(jobs) == sum(1 for i in self.imports if i.job)
        for host, state in self.machines.items():
            assert self.u.machines.getByHostname(host).state == state


def test_random_workflow_and_machine_operations_keep_invariants(codeimport):
    run_state_machine_as_test(
        lambda: Workflow(codeimport),
        settings=settings(
            max_examples=30, stateful_step_count=30, deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture,
                                   HealthCheck.too_slow],
            database=None,
        ),
    )
