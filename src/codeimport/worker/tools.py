"""Running the version-control programs an import needs, safely.

Every external program an importer starts (``git``, ``svn``, ``hg``,
``brz``, ``cvs`` ...) goes through `run_tool`, so that the rules live in
one place:

* the environment is built from scratch (`tool_environment`): no
  terminal prompts, no user or system configuration, ``HOME`` and the
  cache directories inside the job's work directory, and the network
  settings the access policy hands in (``extra``);
* standard input is closed, so a program that wants to ask a question
  fails instead of hanging;
* a timeout ends a program that runs too long (its whole process group
  is killed);
* output is read as it comes and passed on line by line, so progress
  reaches the job's log while the program runs, and only a bounded tail
  is kept for error messages.

Callers pass user-supplied values (URLs, paths, branch names) after a
``--`` where the program accepts one; `run_tool` cannot know where that
is, but it refuses arguments that contain NUL characters.
"""

from __future__ import annotations

import collections
import contextvars
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

from codeimport.errors import CodeImportError
from codeimport.worker import cancellation

__all__ = [
    "DEFAULT_TIMEOUT",
    "ToolCancelled",
    "ToolFailed",
    "ToolMissing",
    "ToolTimedOut",
    "run_pipeline",
    "run_tool",
    "tool_environment",
]

# An import that has not finished a step in six hours is stuck.
DEFAULT_TIMEOUT = 6 * 3600.0
# Lines of output kept for an error message.
TAIL_LINES = 20
# Variables passed through from the worker's own environment: what a
# program needs to run at all, nothing that configures it.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")


class ToolFailed(CodeImportError):
    """A program exited with a non-zero status.

    :ivar argv: the command line (never shown with secrets: callers pass
        none in arguments).
    :ivar returncode: its exit status.
    :ivar tail: its last lines of output.
    """

    def __init__(self, argv: Sequence[str], returncode: int, tail: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.tail = tail
        super().__init__(
            f"{os.path.basename(self.argv[0])} exited with status "
            f"{returncode}" + (f": {tail}" if tail else "")
        )


class ToolTimedOut(ToolFailed):
    """A program ran longer than its timeout and was killed."""


class ToolCancelled(ToolFailed):
    """A program was killed, or not started, because the work it was
    part of was cancelled (`codeimport.worker.cancellation`)."""

    def __init__(self, argv: Sequence[str], returncode: int | None = None):
        super().__init__(argv, -signal.SIGKILL if returncode is None
                         else returncode, "cancelled")


class ToolMissing(CodeImportError):
    """A program an importer needs is not installed on this machine."""

    def __init__(self, program: str):
        self.program = program
        super().__init__(f"{program} is not installed on this machine")


def tool_environment(
    home: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment programs run in.

    :param home: a private directory of the job: ``HOME`` and the XDG
        directories point into it, so no program reads or writes the
        machine user's configuration or caches.
    :param extra: variables added last (the access policy's proxy
        settings, a tool's own switches).
    """
    env = {
        name: os.environ[name]
        for name in PASSED_THROUGH
        if name in os.environ
    }
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        XDG_DATA_HOME=os.path.join(home, ".local", "share"),
        # git: never prompt, never read system or user configuration.
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/false",
        SSH_ASKPASS="/bin/false",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        # Mercurial: no user configuration, plain output.
        HGRCPATH="",
        HGPLAIN="1",
        HGENCODING="utf-8",
        # Breezy: no plug-ins from the machine.
        BRZ_PLUGIN_PATH="-site:-user",
        BRZ_HOME=home,
    )
    if extra:
        env.update(extra)
    return env


def run_tool(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_line: Callable[[str], None] | None = None,
    stdin: int | None = None,
    stdout: int | None = None,
    started: Callable[[], None] | None = None,
) -> str:
    """Run `argv` and return the tail of its output.

    :param on_line: called with every line of output (stdout and stderr
        together, or stderr alone when `stdout` is given), ``\\r``
        counting as a line end.
    :param stdin: a file descriptor to read from instead of nothing.
    :param stdout: a file descriptor to send standard output to (a pipe
        into ``git fast-import``, say); stderr is still read here.
    :param started: called once the program runs (`run_pipeline` closes
        its copies of the pipe's ends then).
    :raises ToolMissing: when the program is not installed.
    :raises ToolTimedOut: when it ran longer than `timeout` seconds.
    :raises ToolFailed: when it exited with a non-zero status.
    """
    argv = [str(arg) for arg in argv]
    if any("\0" in arg for arg in argv):
        raise ValueError("a program argument contains a NUL character")
    cancel = cancellation.current()
    if cancel is not None and cancel.cancelled:
        raise ToolCancelled(argv)
    try:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=subprocess.PIPE if stdout is None else stdout,
            stderr=subprocess.STDOUT if stdout is None else subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolMissing(os.path.basename(argv[0])) from None
    if cancel is not None:
        # Its own session: the process group is the child's pid.
        cancel.register(process.pid)
    if started is not None:
        started()
    reader = process.stdout if stdout is None else process.stderr
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        for line in _lines(reader):
            tail.append(line)
            if on_line is not None:
                on_line(line)
        returncode = process.wait()
    except BaseException:
        kill()
        process.wait()
        raise
    finally:
        timer.cancel()
        reader.close()
        if cancel is not None:
            # Reaped: its pid may be reused from now on.
            cancel.unregister(process.pid)
    text = "\n".join(tail)
    if cancel is not None and cancel.cancelled and returncode != 0:
        raise ToolCancelled(argv, returncode)
    if timed_out.is_set():
        raise ToolTimedOut(argv, returncode, f"killed after {timeout:g} s")
    if returncode != 0:
        raise ToolFailed(argv, returncode, text)
    return text


def _lines(stream):
    """Decoded lines of `stream`, ending at ``\\n`` or ``\\r``."""
    pending = b""
    while True:
        chunk = stream.read1(65536)
        if not chunk:
            break
        pending += chunk
        parts = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        # A "\r\n" split across two reads gives an empty line, skipped.
        *complete, pending = parts.split(b"\n")
        for line in complete:
            if line:
                yield line.decode("utf-8", "replace")
    if pending.strip():
        yield pending.decode("utf-8", "replace")


def run_pipeline(
    producer: Sequence[str],
    consumer: Sequence[str],
    *,
    env: Mapping[str, str],
    consumer_env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_line: Callable[[str], None] | None = None,
    consumer_on_line: Callable[[str], None] | None = None,
) -> None:
    """Run ``producer | consumer`` (an exporter into ``git fast-import``),
    both through `run_tool`.

    `on_line` gets the producer's stderr, `consumer_on_line` all of the
    consumer's output.  When one fails the other ends too (a closed pipe,
    or an early end of its input).

    :raises ToolFailed: the error that explains the failure: the
        producer's, unless the producer only died of the consumer
        closing the pipe.
    """
    read_end, write_end = os.pipe()
    open_ends = {read_end, write_end}

    def close(fd):
        if fd in open_ends:
            open_ends.discard(fd)
            os.close(fd)

    consumer_running = threading.Event()
    failures: dict[str, BaseException] = {}

    def consume():
        try:
            run_tool(consumer, env=consumer_env or env, cwd=cwd,
                     timeout=timeout, on_line=consumer_on_line,
                     stdin=read_end, started=consumer_running.set)
        except BaseException as error:  # noqa: B036 re-raised below
            failures["consumer"] = error
        finally:
            consumer_running.set()

    # In this context, so a cancellation reaches the consumer too.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(consume,),
                              daemon=True)
    thread.start()
    try:
        consumer_running.wait()
        close(read_end)
        try:
            run_tool(producer, env=env, cwd=cwd, timeout=timeout,
                     on_line=on_line, stdout=write_end,
                     started=lambda: close(write_end))
        except BaseException as error:  # noqa: B036 re-raised below
            failures["producer"] = error
    finally:
        close(write_end)
        close(read_end)
        thread.join()
    producer_error = failures.get("producer")
    consumer_error = failures.get("consumer")
    if producer_error is not None and not (
        consumer_error is not None and _died_of_closed_pipe(producer_error)
    ):
        raise producer_error
    if consumer_error is not None:
        raise consumer_error


def _died_of_closed_pipe(error: BaseException) -> bool:
    return isinstance(error, ToolFailed) and (
        error.returncode in (-signal.SIGPIPE, 128 + signal.SIGPIPE)
        or "Broken pipe" in error.tail
    )
