"""The operator's authors file and how it reaches the worker."""

from __future__ import annotations

import pytest

from codeimport.scripts import dispatch
from codeimport.scripts.monitor import default_worker_command
from codeimport.worker.authors import AuthorsFileError
from codeimport.worker.authors import read_authors_file


def test_reads_names_identities_comments_and_non_ascii(tmp_path):
    path = tmp_path / "authors"
    path.write_text(
        "# operators' map\n"
        "\n"
        "alice = Alice Liddell <alice@example.org>\n"
        "  jürgen=Jürgen Müller<jm@example.org>  \n"
        "svn admin = Build Bot <>\n",
        encoding="utf-8")
    assert read_authors_file(str(path)) == {
        "alice": ("Alice Liddell", "alice@example.org"),
        "jürgen": ("Jürgen Müller", "jm@example.org"),
        "svn admin": ("Build Bot", ""),
    }


@pytest.mark.parametrize("line", [
    "alice Alice <a@example.org>",
    "alice = Alice",
    "= Alice <a@example.org>",
    "alice = Alice <a@example.org> trailing",
])
def test_a_malformed_line_is_named(tmp_path, line):
    path = tmp_path / "authors"
    path.write_text("bob = Bob <b@example.org>\n" + line + "\n")
    with pytest.raises(AuthorsFileError, match=r"line 2: expected"):
        read_authors_file(str(path))


def test_a_missing_or_undecodable_file_is_an_error(tmp_path):
    with pytest.raises(AuthorsFileError, match="Cannot read"):
        read_authors_file(str(tmp_path / "nowhere"))
    (tmp_path / "latin1").write_bytes(b"j\xfcrgen = J <j@x>\n")
    with pytest.raises(AuthorsFileError, match="Cannot read"):
        read_authors_file(str(tmp_path / "latin1"))


def test_the_monitor_passes_the_file_to_the_worker():
    command = default_worker_command("anything", "/store", "/etc/authors")(
        ["7", "bzr-svn", "git", "svn://example.org/r"])
    split = command.index("--")
    assert command[split - 2:split] == ["--authors-file", "/etc/authors"]
    assert "--authors-file" not in default_worker_command()(["x"])


def test_dispatch_refuses_a_bad_authors_file_at_start(tmp_path, capsys):
    bad = tmp_path / "authors"
    bad.write_text("nobody knows\n")
    status = dispatch.main([
        "--scheduler-url", "http://127.0.0.1:9/", "--authors-file", str(bad)])
    assert status == 2
    assert "line 1: expected" in capsys.readouterr().err


def test_dispatch_passes_the_file_to_its_monitors(tmp_path, monkeypatch):
    (tmp_path / "authors").write_text("alice = Alice <a@example.org>\n")
    options = dispatch._make_parser().parse_args(
        ["--scheduler-url", "http://127.0.0.1:9/",
         "--authors-file", str(tmp_path / "authors")])
    spawned = []
    monkeypatch.setattr(dispatch, "spawn_monitor",
                        lambda command, env, log: spawned.append(command))
    dispatch.monitor_builder(options)(12)
    command = spawned[0]
    assert command[command.index("--authors-file") + 1] == str(
        tmp_path / "authors")
