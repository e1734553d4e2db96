"""The machine's spool and the "target changed" record (edge cases; the
real processes are in test_outages.py)."""

from __future__ import annotations

import json
import os
import xmlrpc.client

import pytest

from codeimport.errors import InvalidJobState
from codeimport.errors import NoSuchCodeImportJob
from codeimport.wire.client import UnknownRemoteMethod
from codeimport.wire.remote import remote_fault
from codeimport.worker import spool as spooling
from codeimport.worker.reported import mark_reported
from codeimport.worker.reported import target_changed
from codeimport.worker.spool import Report
from codeimport.worker.spool import Spool


class Scheduler:
    """Answers as the real scheduler would, from a script of outcomes."""

    def __init__(self, finish=None, late=None):
        self.finish, self.late = finish, late
        self.calls = []

    def finishJobID(self, *args):
        self.calls.append(("finishJobID",) + args)
        if self.finish is not None:
            raise self.finish
        return 0

    def recordLateResult(self, *args):
        self.calls.append(("recordLateResult",) + args)
        if isinstance(self.late, Exception):
            raise self.late
        return self.late


def report(job_id=7, **fields):
    return Report(job_id, "SUCCESS", b"the log\n", **fields)


def test_keep_writes_whole_entries_that_read_back(tmp_path):
    spool = Spool(tmp_path / "spool")
    entry = spool.keep(report(target_changed=True, target="/t", digest="d"))
    assert os.listdir(spool.path) == ["7"]
    [found] = spool.entries()
    assert found.read() == report(target_changed=True, target="/t",
                                  digest="d")
    with open(os.path.join(entry.path, "result.json")) as stream:
        assert json.load(stream)["status"] == "SUCCESS"
    # The writer holds it: nobody else may take it while it lives.
    assert found.lock() is False
    entry.release()
    assert found.lock() is True


def test_replay_reports_and_forgets_unheld_entries(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.keep(report(3)).release()
    spool.keep(report(4)).release()
    held = spool.keep(report(5))  # a live monitor's
    scheduler = Scheduler()
    spool.replay(scheduler)
    assert [call[1] for call in scheduler.calls] == [3, 4]
    assert [entry.job_id for entry in spool.entries()] == [5]
    held.remove()


def test_replay_stops_when_the_scheduler_is_away(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.keep(report(3)).release()
    spool.keep(report(4)).release()
    scheduler = Scheduler(finish=ConnectionRefusedError(111, "refused"))
    spool.replay(scheduler)
    assert len(scheduler.calls) == 1
    assert [entry.job_id for entry in spool.entries()] == [3, 4]


def test_replay_keeps_what_the_scheduler_failed_on(tmp_path):
    # Fault 999 is the scheduler's own failure, not a verdict on the
    # result: try again at the next turn.
    spool = Spool(tmp_path / "spool")
    spool.keep(report(3)).release()
    failure = remote_fault(
        "finishJobID", xmlrpc.client.Fault(999, "Internal error: ref"))
    spool.replay(Scheduler(finish=failure))
    assert [entry.job_id for entry in spool.entries()] == [3]
    spool.replay(Scheduler())
    assert spool.entries() == []


def test_replay_sets_aside_what_the_scheduler_refuses(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.keep(report(3)).release()
    spool.replay(Scheduler(finish=InvalidJobState("refused")))
    assert spool.entries() == []
    assert os.listdir(spool.path) == ["refused-3"]


@pytest.mark.parametrize("late, outcome", [
    (True, spooling.LATE),
    (False, spooling.REPEATED),
    (NoSuchCodeImportJob(7), spooling.REPEATED),
    (UnknownRemoteMethod("recordLateResult", 905, "no"), spooling.DROPPED),
])
def test_deliver_after_a_reclaim(late, outcome):
    scheduler = Scheduler(finish=NoSuchCodeImportJob(7), late=late)
    assert spooling.deliver(scheduler, report(target_changed=False)) == (
        outcome)
    # The same arguments both times, target_changed included.
    assert scheduler.calls[0][1:] == scheduler.calls[1][1:]
    assert scheduler.calls[0][4] is False


def test_deliver_leaves_out_an_unknown_target_change():
    scheduler = Scheduler()
    spooling.deliver(scheduler, report())
    assert len(scheduler.calls[0]) == 4  # name, job, status, log


def publish(target, refs):
    state = target / "codeimport"
    state.mkdir(parents=True, exist_ok=True)
    (state / "published.json").write_text(json.dumps({"refs": refs}))


def test_target_changed_is_measured_from_the_last_report(tmp_path):
    target = tmp_path / "target"
    assert target_changed(None, None) == (None, None)
    assert target_changed(str(target), None) == (False, None)
    publish(target, {"refs/heads/master": "a"})
    changed, first = target_changed(str(target), None)
    assert changed is True
    mark_reported(str(target), first)
    assert target_changed(str(target), first) == (False, first)
    # A run publishes, its result is lost (nothing marked) ...
    publish(target, {"refs/heads/master": "b"})
    _, second = target_changed(str(target), first)
    # ... and the next run, which changes nothing itself, still sees it.
    assert target_changed(str(target), second) == (True, second)
    mark_reported(str(target), second)
    assert target_changed(str(target), second) == (False, second)
