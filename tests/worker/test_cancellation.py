"""Cancelling the programs `run_tool` runs (what a stop signal does to
the branch puller's git): real programs, killed at once."""

from __future__ import annotations

import time

import pytest

from codeimport.worker.cancellation import Cancellation
from codeimport.worker.cancellation import current
from codeimport.worker.tools import ToolCancelled
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_pipeline
from codeimport.worker.tools import run_tool
from codeimport.worker.tools import tool_environment

FOREVER = ["sleep", "600"]


@pytest.fixture
def env(tmp_path):
    return tool_environment(str(tmp_path))


def test_a_cancel_kills_the_running_program(env):
    cancellation = Cancellation()
    started = time.monotonic()
    with cancellation.active(), pytest.raises(ToolCancelled) as caught:
        # Cancelled as soon as it runs, as a signal handler would.
        run_tool(FOREVER, env=env, started=cancellation.cancel)
    assert time.monotonic() - started < 60
    assert caught.value.returncode == -9
    assert isinstance(caught.value, ToolFailed)


def test_no_program_starts_once_cancelled(env, tmp_path):
    cancellation = Cancellation()
    cancellation.cancel()
    with cancellation.active(), pytest.raises(ToolCancelled):
        run_tool(["touch", str(tmp_path / "ran")], env=env)
    assert not (tmp_path / "ran").exists()


def test_a_cancel_outside_the_block_touches_nothing(env):
    cancellation = Cancellation()
    with cancellation.active():
        assert current() is cancellation
    assert current() is None
    cancellation.cancel()
    assert run_tool(["echo", "still runs"], env=env) == "still runs"


def test_a_program_that_ended_well_before_the_cancel_counts(env):
    cancellation = Cancellation()
    with cancellation.active():
        assert run_tool(["echo", "done"], env=env) == "done"
        cancellation.cancel()


def test_a_cancel_kills_both_ends_of_a_pipeline(env):
    cancellation = Cancellation()
    started = time.monotonic()
    with cancellation.active(), pytest.raises(ToolCancelled):
        run_pipeline(
            ["sh", "-c", "echo running >&2; exec sleep 600"], ["cat"],
            env=env, on_line=lambda line: cancellation.cancel())
    assert time.monotonic() - started < 60
