"""The script toolkit every command is built from (scripts/options.py)."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys

import psycopg2
import pytest

from codeimport.errors import CodeImportError
from codeimport.scripts.options import LOG_MESSAGE_WIDTH
from codeimport.scripts.options import ArgumentParser
from codeimport.scripts.options import first_line
from codeimport.scripts.options import positive
from codeimport.scripts.options import run
from codeimport.scripts.options import setup_logging


@pytest.mark.parametrize("kind, allow_zero, text, value", [
    (int, False, "3", 3), (float, False, "0.5", 0.5),
    (int, True, "0", 0), (float, True, "0", 0.0),
])
def test_positive_accepts(kind, allow_zero, text, value):
    assert positive(kind, allow_zero=allow_zero)(text) == value


@pytest.mark.parametrize("kind, allow_zero, text, message", [
    (int, False, "0", "must be more than 0: '0'"),
    (int, False, "-2", "must be more than 0"),
    (int, True, "-1", "must not be negative: '-1'"),
    (int, False, "1.5", "not a number: '1.5'"),
    (float, False, "nan", "must be more than 0"),
    (float, False, "x", "not a number: 'x'"),
])
def test_positive_refuses(kind, allow_zero, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        positive(kind, allow_zero=allow_zero)(text)


def test_parser_errors_are_one_line_and_exit_2(capsys):
    parser = ArgumentParser(prog="codeimport x")
    parser.add_argument("--n", type=positive(int))
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--n", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "codeimport x: error: argument --n: must be more than 0: '0'\n")


def test_setup_logging_replaces_handlers_and_follows_stderr(capsys):
    logger = setup_logging("codeimport.test-toolkit", verbose=True)
    logger = setup_logging("codeimport.test-toolkit", verbose=True)
    assert len(logger.handlers) == 1 and logger.level == logging.DEBUG
    logger.debug("hello %s", "there")
    line = capsys.readouterr().err
    assert line.endswith(" DEBUG codeimport.test-toolkit: hello there\n")
    assert line.count("\n") == 1


def test_log_lines_show_user_data_harmlessly(capsys):
    logger = setup_logging("codeimport.test-escapes")
    logger.info("Job %d: running %s", 7,
                "evil\x1b[2J\nFAKE INFO line\u009b\u202e" + "x" * 10_000)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed on %s", "host\rname")
    err = capsys.readouterr().err
    first, second, *traceback = err.splitlines()
    message = first.split(" INFO codeimport.test-escapes: ")[1]
    assert message.startswith("Job 7: running evil\\x1b[2J\\nFAKE INFO "
                              "line\\x9b\\u202exxx")
    assert message.endswith("x\N{HORIZONTAL ELLIPSIS}")
    assert len(message) == LOG_MESSAGE_WIDTH
    assert second.endswith(" ERROR codeimport.test-escapes: failed on "
                           "host\\rname")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"


def test_setup_logging_to_a_file_with_a_level(tmp_path):
    path = tmp_path / "log"
    logger = setup_logging("codeimport.test-file", level="warning",
                           log_file=str(path))
    logger.info("quiet")
    logger.warning("loud")
    logger.handlers[0].flush()
    assert path.read_text().endswith("WARNING codeimport.test-file: loud\n")


def _raise(error):
    def body(argv):
        raise error
    return body


def test_run_turns_expected_failures_into_one_line(capsys):
    assert run("p", _raise(CodeImportError("bad\nworse")), []) == 2
    assert capsys.readouterr().err == "p: bad\\nworse\n"
    assert run("p", _raise(psycopg2.OperationalError("down\nmore")), []) == 1
    assert capsys.readouterr().err == "p: database error: down\n"
    assert run("p", _raise(KeyboardInterrupt()), []) == 130
    with pytest.raises(ZeroDivisionError):
        run("p", _raise(ZeroDivisionError()), [])


def test_first_line():
    assert first_line(ValueError("a\nb")) == "a"
    assert first_line(ValueError()) == "ValueError"


def test_the_toolkit_loads_no_database_driver():
    code = ("import sys, codeimport.scripts.options, "
            "codeimport.scripts.monitor, codeimport.scripts.dispatch; "
            "print(sorted(m for m in ('psycopg2', 'storm') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"
