"""`run_pipeline`: a producer piped into a consumer, both real programs."""

from __future__ import annotations

import os
import sys

import pytest

from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_pipeline
from codeimport.worker.tools import tool_environment


@pytest.fixture
def env(tmp_path):
    return tool_environment(str(tmp_path))


def python(code):
    return [sys.executable, "-c", code]


def test_the_consumer_reads_all_the_producer_writes(env, tmp_path):
    out = tmp_path / "out"
    lines = []
    run_pipeline(
        python("import sys\nfor i in range(50000): print(i)\n"
               "print('done', file=sys.stderr)"),
        python(f"import sys; open({str(out)!r}, 'w')"
               ".write(str(len(sys.stdin.read().split())))"),
        env=env, on_line=lines.append)
    assert out.read_text() == "50000"
    assert lines == ["done"]


def test_a_failing_consumer_is_the_error_not_the_broken_pipe(env):
    with pytest.raises(ToolFailed) as caught:
        run_pipeline(
            python("import sys\nwhile True: sys.stdout.write('x' * 4096)"),
            python("import sys; sys.stdin.read(10)\n"
                   "print('consumer gave up'); sys.exit(3)"),
            env=env)
    assert caught.value.returncode == 3
    assert "consumer gave up" in caught.value.tail


def test_a_failing_producer_is_the_error_and_the_consumer_ends(env):
    with pytest.raises(ToolFailed) as caught:
        run_pipeline(
            python("import sys; print('half'); sys.stdout.flush()\n"
                   "print('producer broke', file=sys.stderr); sys.exit(4)"),
            python("import sys; sys.stdin.read()"),
            env=env)
    assert caught.value.returncode == 4
    assert "producer broke" in caught.value.tail


def test_no_descriptor_is_left_open(env):
    before = len(os.listdir("/proc/self/fd"))
    run_pipeline(python("print(1)"), python("import sys; sys.stdin.read()"),
                 env=env)
    assert len(os.listdir("/proc/self/fd")) == before
