"""The README's command examples work as written.

* The operator's first session (the fenced block after the
  ``<!-- readme-session: ... -->`` marker) runs, command by command, as
  real ``codeimport`` processes on a new, empty database, and each
  command's output matches what the README shows (``...`` stands for
  anything, as in a doctest).
* Every option a README command line or synopsis names exists in that
  command's ``--help``, and the synopses listed in `FULL_SYNOPSES` name
  every option the command has.
"""

from __future__ import annotations

import doctest
import re
import shlex
import uuid
from pathlib import Path

import pytest
from scripthelpers import cli

from codeimport.cli import COMMANDS
from codeimport.cli import main as codeimport_main
from codeimport.testing import postgres

README = Path(__file__).resolve().parent.parent / "README.md"
SESSION_MARKER = "<!-- readme-session:"
#: Commands with sub-commands: their help is the sub-command's.
SUBCOMMANDS = {"person": ("add",), "team": ("add", "add-member")}
#: Synopses that must name every option of their command.
FULL_SYNOPSES = ("machine", "person add")
#: Options every database command has; synopses may leave them out.
COMMON = {"--help", "--dsn", "--settings-file"}


def readme() -> str:
    return README.read_text(encoding="utf-8")


# -- the first session ------------------------------------------------------

def session_steps(text: str) -> list[tuple[str, str]]:
    """The (command line, expected output) pairs of the marked block."""
    start = text.index(SESSION_MARKER)
    body = text[start:].split("```", 2)[1]
    assert body.startswith("console\n"), body[:40]
    steps = []
    for line in body[len("console\n"):].splitlines():
        if line.startswith("$ "):
            steps.append([line[2:], []])
        elif steps and steps[-1][0].endswith("\\") and not steps[-1][1]:
            steps[-1][0] = steps[-1][0][:-1].rstrip() + " " + line.strip()
        else:
            assert steps, f"output before the first command: {line!r}"
            steps[-1][1].append(line)
    return [(command, "".join(line + "\n" for line in output))
            for command, output in steps]


@pytest.fixture
def fresh_dsn(codeimport_database):
    name = f"codeimport_readme_{uuid.uuid4().hex[:8]}"
    server = codeimport_database.server
    dsn = postgres.create_database(server, name)
    yield dsn
    postgres.drop_database(server, name)


def test_the_session_block_is_found_and_parsed():
    steps = session_steps(readme())
    assert steps[0] == ("codeimport initdb", "applied: 0000-baseline, ...\n")
    assert ("codeimport add-import --owner vcs-imports --project "
            "gnome-terminal --name import --git-url "
            "https://gitlab.gnome.org/GNOME/gnome-terminal.git") in [
        command for command, _ in steps]


def test_the_operators_first_session_works_as_written(fresh_dsn):
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for command, want in session_steps(readme()):
        words = shlex.split(command)
        assert words[0] == "codeimport", command
        ran = cli(*words[1:], env={"CODEIMPORT_DSN": fresh_dsn})
        # What an operator sees: stdout, then any log lines on stderr.
        got = ran.stdout + ran.stderr
        assert ran.returncode == 0, f"$ {command}\n{got}"
        assert "Traceback" not in got, f"$ {command}\n{got}"
        assert checker.check_output(want, got, flags), (
            f"$ {command}\nREADME shows:\n{want}\nbut it printed:\n{got}")


# -- options named in the README exist ---------------------------------------

def command_lines(text: str) -> list[str]:
    """Every ``codeimport COMMAND ...`` the README shows: in code spans
    (which may wrap), and in indented or fenced blocks (with their
    backslash continuations)."""
    found = [" ".join(span.split())
             for span in re.findall(r"`codeimport ([^`]+)`", text)]
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        match = re.match(r"\s*(?:\$ )?(?:[A-Z_]+=\S+ )*codeimport (\S.*)",
                         line)
        if match and not line.lstrip().startswith("`"):
            found.append(match.group(1))
    return found


def help_text(command: str, capsys) -> str:
    try:
        codeimport_main([*command.split(), "--help"])
    except SystemExit:
        pass
    return capsys.readouterr().out


def options_of(help_output: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_output))


def commands_named(line: str) -> list[str]:
    """The commands a README line is about: ``suspend|resume IMPORT``
    names two, ``person add NAME`` the sub-command ``person add``."""
    words = line.split()
    names = words[0].split("|")
    result = []
    for name in names:
        subcommands = SUBCOMMANDS.get(name)
        if subcommands and len(words) > 1 and words[1] in subcommands:
            result.append(f"{name} {words[1]}")
        else:
            result.append(name)
    return result


def test_readme_command_lines_are_found():
    lines = command_lines(readme())
    assert any(line.startswith("machine {online,offline,quiesce}")
               for line in lines)
    assert any(line.startswith("dispatch --scheduler-url") for line in lines)


def test_every_option_the_readme_names_exists(capsys):
    wrong = []
    for line in command_lines(readme()):
        for command in commands_named(line):
            assert command.split()[0] in COMMANDS, line
            known = options_of(help_text(command, capsys))
            named = options_of(line)
            if named - known:
                wrong.append(f"codeimport {line}: {sorted(named - known)}")
    assert wrong == []


@pytest.mark.parametrize("command", FULL_SYNOPSES)
def test_synopsis_names_every_option(command, capsys):
    synopses = [line for line in command_lines(readme())
                if command in commands_named(line) and "[" in line]
    assert len(synopses) == 1, synopses
    known = options_of(help_text(command, capsys)) - COMMON
    assert options_of(synopses[0]) == known
