"""Unit tests of the Bazaar mapping: identities, paths, tag names, order."""

from __future__ import annotations

import pytest

from codeimport.testing.vcs.bzr import build_history
from codeimport.worker.sources.bzr import git_tag_name
from codeimport.worker.sources.bzrsource import ancestry
from codeimport.worker.sources.bzrsource import new_revisions
from codeimport.worker.sources.bzrstream import identity
from codeimport.worker.sources.bzrstream import quote_path
from codeimport.worker.sources.bzrstream import who_when


@pytest.mark.parametrize(("user", "expected"), [
    ("Jürgen Ü <j@example.com>", "Jürgen Ü <j@example.com>"),
    ("<only@example.com>", "<only@example.com>"),
    ("bare@example.com", "bare@example.com <>"),
    ("alice", "alice <>"),
    ("", "<>"),
    ("Eve <e@x> <more>", "Eve <e@x>"),
    ("Bad\nName <b@x>", "Bad Name <b@x>"),
])
def test_identity_keeps_what_bazaar_has(user, expected):
    assert identity(user, {}) == expected.encode("utf-8")


def test_identity_maps_bare_names_through_the_authors_file():
    authors = {"alice": ("Alice Liddell", "alice@example.org")}
    assert identity("alice", authors) == b"Alice Liddell <alice@example.org>"
    # A full identity is already what Git wants: the file is not asked.
    assert identity("alice <a@x>", authors) == b"alice <a@x>"


@pytest.mark.parametrize(("offset", "text"), [
    (0, b"+0000"), (3600, b"+0100"), (-12600, b"-0330"), (None, b"+0000"),
    (20700, b"+0545"),
])
def test_who_when_formats_the_offset(offset, text):
    assert who_when("A <a@x>", 1234567890.7, offset, {}) == (
        b"A <a@x> 1234567890 " + text)


@pytest.mark.parametrize(("path", "quoted"), [
    ("plain/file.txt", b"plain/file.txt"),
    ("with space", b"with space"),
    ("ünï", "ünï".encode()),
    ('"starts', b'"\\"starts"'),
    ("new\nline", b'"new\\nline"'),
    ("back\\slash", b'"back\\\\slash"'),
])
def test_quote_path(path, quoted):
    assert quote_path(path) == quoted


@pytest.mark.parametrize(("name", "ok"), [
    ("v1.0", True), ("release/2.0", True), ("ünï", True),
    ("has space", False), ("a..b", False), ("x~1", False), ("a:b", False),
    ("end.lock", False), ("-x", False), (".hidden", False), ("a/", False),
    ("", False), ("@", False), ("a@{b", False),
])
def test_git_tag_name(name, ok):
    assert (git_tag_name(name) == name) is ok


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A trunk of 12 revisions with a 3-revision side line merged at 5."""
    from breezy.branch import Branch

    path = str(tmp_path_factory.mktemp("bzr") / "history")
    build_history(path, 12, files=5, merge_every=5, side_length=3)
    branch = Branch.open(path)
    branch.lock_read()
    yield branch
    branch.unlock()


def test_new_revisions_puts_parents_first_and_prefixes_are_whole(history):
    repository = history.repository
    tip = history.last_revision()
    order, parents, mainline = new_revisions(repository, tip, {})
    assert len(order) == 12
    assert sum(len(p) == 2 for p in parents.values()) == 2  # two merges
    position = {revid: i for i, revid in enumerate(order)}
    for revid, revision_parents in parents.items():
        for parent in revision_parents:
            assert position[parent] < position[revid]
    assert mainline[0] == tip and order[-1] == tip
    # Before each mainline revision come exactly the revisions it adds.
    for index, revid in enumerate(reversed(mainline)):
        assert set(order[:position[revid] + 1]) == ancestry(revid, parents)


def test_new_revisions_skips_what_is_known(history):
    repository = history.repository
    tip = history.last_revision()
    order, parents, _ = new_revisions(repository, tip, {})
    known = {revid: "0" * 40 for revid in order[:9]}
    rest, rest_parents, _ = new_revisions(repository, tip, known)
    assert rest == order[9:]
    # Parents converted before are still named: the stream needs them.
    assert any(p in known for r in rest for p in rest_parents[r])
    assert new_revisions(repository, tip, {r: "0" * 40 for r in order}) == (
        [], {}, [])
