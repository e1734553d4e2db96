"""Every command reads --settings-file the same way: values literally,
bad ones refused in one line with exit status 2."""

from __future__ import annotations

import importlib

import pytest
from scripthelpers import call

from codeimport.scripts.options import load_settings

COMMANDS = {
    "addimport": ["--owner", "o", "--project", "p", "--name", "n",
                  "--git-url", "https://example.com/x.git"],
    "machine": ["online", "host"],
    "requestimport": ["~o/p/n", "--by", "o"],
    "status": [],
    "watchdog": ["--once"],
    "serve": [],
}


@pytest.fixture
def percent_file(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text("[codeimport]\nconsecutive_failure_limit = 5%\n")
    return str(path)


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_a_percent_sign_gives_one_line_and_exit_2(
        module, percent_file, capsys, monkeypatch):
    monkeypatch.setenv("CODEIMPORT_XMLRPC_CREDENTIALS", "u:secret")
    main = importlib.import_module(f"codeimport.scripts.{module}").main
    ran = call(main, *COMMANDS[module], "--settings-file", percent_file,
               "--dsn", "postgresql://nobody@127.0.0.1:1/none",
               capsys=capsys)
    assert ran.returncode == 2
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert "consecutive_failure_limit must be an integer, not '5%'" \
        in lines[0]
    assert "Traceback" not in ran.stderr


def test_values_are_read_literally(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text("[codeimport]\nmainsite_hostname = code%(x)s%\n")
    assert load_settings(str(path)).mainsite_hostname == "code%(x)s%"


@pytest.mark.parametrize("content, message", [
    (b"[codeimport]\nmainsite_hostname = \xff\n", "Cannot read"),
    (b"no section\n", "Cannot read"),
    (b"[other]\n", "has no [codeimport] section"),
    (b"[codeimport]\nno_such = 1\n", "Unknown setting 'no_such'"),
])
def test_bad_files_are_refused_in_one_line(tmp_path, content, message,
                                           capsys):
    path = tmp_path / "settings.ini"
    path.write_bytes(content)
    from codeimport.scripts import status
    ran = call(status.main, "--dsn", "postgresql://x@127.0.0.1:1/x",
               "--settings-file", str(path), capsys=capsys)
    assert ran.returncode == 2
    assert message in ran.stderr and len(ran.stderr.splitlines()) == 1


def test_a_missing_file_is_refused(tmp_path):
    from codeimport.errors import ConfigurationError
    with pytest.raises(ConfigurationError, match="Cannot read"):
        load_settings(str(tmp_path / "absent.ini"))
