"""The target's lock: one worker at a time, and a moment's grace.

A worker killed while it forks a program leaves the lock with the child
until the child reaches exec, so the next worker waits a little before
calling the target busy.
"""

from __future__ import annotations

import fcntl
import os
import threading

import pytest

from codeimport.worker import target as target_module
from codeimport.worker.target import TargetBusy
from codeimport.worker.target import TargetRepository


def hold_lock(store, name):
    """Take the target's lock as another worker would; the open file."""
    with TargetRepository(store, name) as target:
        path = os.path.join(target.state_dir, "lock")
    lock = open(path, "a")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return lock


def test_a_held_lock_makes_the_target_busy(tmp_path, monkeypatch):
    monkeypatch.setattr(target_module, "LOCK_WAIT", 0.2)
    lock = hold_lock(str(tmp_path), "~alice/hello/trunk")
    try:
        with pytest.raises(TargetBusy, match="another worker is importing"):
            with TargetRepository(str(tmp_path), "~alice/hello/trunk"):
                pass
    finally:
        lock.close()
    # Released: the next worker gets the target.
    with TargetRepository(str(tmp_path), "~alice/hello/trunk"):
        pass


def test_a_lock_released_while_waiting_is_taken(tmp_path, monkeypatch):
    # Far longer than the release takes, so only a broken wait fails.
    monkeypatch.setattr(target_module, "LOCK_WAIT", 120.0)
    lock = hold_lock(str(tmp_path), "~alice/hello/trunk")
    waiting = threading.Event()
    real_flock = fcntl.flock

    def flock(file, operation):
        try:
            return real_flock(file, operation)
        except BlockingIOError:
            # The new worker found it held: now let it go.
            if not waiting.is_set():
                waiting.set()
                lock.close()
            raise

    monkeypatch.setattr(target_module.fcntl, "flock", flock)
    with TargetRepository(str(tmp_path), "~alice/hello/trunk") as target:
        assert target._lock is not None
    assert waiting.is_set()
