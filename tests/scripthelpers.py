"""Helpers for the tests of the operator commands and daemons.

Commands run as real subprocesses (``python -m codeimport.cli ...``)
against the test database, so the test must `commit` its setup first
and `rollback` (or `invalidate`) before reading what a command wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["Ran", "age", "call", "cli", "reload"]

TIMEOUT = 60


@dataclass
class Ran:
    """What a command did."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, dsn: str | None = None, env: dict | None = None,
        timeout: float = TIMEOUT) -> Ran:
    """Run ``codeimport ARGS`` (adding ``--dsn`` when given)."""
    command = [sys.executable, "-m", "codeimport.cli", *args]
    if dsn is not None:
        command += ["--dsn", dsn]
    environment = dict(os.environ)
    environment.pop("CODEIMPORT_DSN", None)
    environment.update(env or {})
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout,
        env=environment)
    return Ran(done.returncode, done.stdout, done.stderr)


def call(main, *args: str, capsys) -> Ran:
    """Run a script's ``main(args)`` in this process (quicker than `cli`).
    """
    try:
        returncode = main(list(args))
    except SystemExit as stop:
        returncode = stop.code
    captured = capsys.readouterr()
    return Ran(returncode, captured.out, captured.err)


def age(store, table: str, row_id: int, column: str, seconds: int) -> None:
    """Set `column` of a row to `seconds` before the transaction time."""
    # table and column are test literals, never user input.
    store.flush()
    store.execute(
        f"UPDATE {table} SET {column} = CURRENT_TIMESTAMP"
        " - ? * interval '1 second' WHERE id = ?", (seconds, row_id))
    store.invalidate()


def reload(codeimport) -> None:
    """Forget the test transaction's view, to see what a command wrote."""
    codeimport.store.rollback()
    codeimport.store.invalidate()
