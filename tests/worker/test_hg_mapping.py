"""The Mercurial mapping, without Mercurial: names, refs, identities."""

from __future__ import annotations

import subprocess

import pytest

from codeimport.worker.sources.hg import escape_ref_name
from codeimport.worker.sources.hg import plan_refs
from codeimport.worker.sources.hgexport import git_date
from codeimport.worker.sources.hgexport import git_identity
from codeimport.worker.sources.hgexport import quote_path


def head(rev, closed=False):
    return {"node": f"{rev:02x}" * 20, "rev": rev, "closed": closed}


def point(rev):
    return {"node": f"{rev:02x}" * 20, "rev": rev}


def plan(branches=None, bookmarks=None, tags=None):
    refs = plan_refs({"branches": branches or {},
                      "bookmarks": bookmarks or {}, "tags": tags or {}})
    return {name: ref["rev"] for name, ref in refs.items()}


def test_default_is_master_and_other_branches_are_under_branches():
    assert plan({"default": [head(3)], "stable": [head(2)]}) == {
        "refs/heads/master": 3, "refs/heads/branches/stable": 2}


def test_a_closed_branch_keeps_its_name_at_its_tip():
    assert plan({"default": [head(1)], "doomed": [head(4, closed=True)]}) \
        == {"refs/heads/master": 1, "refs/heads/branches/doomed": 4}


def test_the_tip_is_the_highest_open_head_and_no_head_is_dropped():
    refs = plan({"default": [head(5), head(7, closed=True), head(6)]})
    assert refs == {
        "refs/heads/master": 6,
        "refs/heads/heads/default/" + f"{5:02x}" * 6: 5,
        "refs/heads/heads/default/" + f"{7:02x}" * 6: 7,
    }


def test_a_bookmarked_extra_head_is_named_by_its_bookmark_only():
    assert plan({"default": [head(5), head(6)]},
                {"feature": point(5)}) == {
        "refs/heads/master": 6, "refs/heads/feature": 5}


def test_bookmarks_never_take_branch_names():
    refs = plan({"default": [head(6)], "x": [head(2)]},
                {"master": point(1), "branches/x": point(3),
                 "heads/y": point(4), "bookmarks/z": point(5)})
    assert refs == {
        "refs/heads/master": 6, "refs/heads/branches/x": 2,
        "refs/heads/bookmarks/master": 1,
        "refs/heads/bookmarks/branches/x": 3,
        "refs/heads/bookmarks/heads/y": 4,
        "refs/heads/bookmarks/bookmarks/z": 5,
    }


def test_names_that_are_directories_of_each_other_do_not_clash():
    refs = plan({"default": [head(1)], "a": [head(2)], "a/b": [head(3)]},
                {"f": point(4), "f/g": point(5)})
    assert refs == {
        "refs/heads/master": 1, "refs/heads/branches/a": 2,
        "refs/heads/branches/a%2Fb": 3, "refs/heads/f": 4,
        "refs/heads/bookmarks/f/g": 5,
    }


def test_tags_are_tags_and_clashing_tags_are_escaped():
    assert plan({"default": [head(1)]},
                tags={"v1.0": point(1), "v1": point(0),
                      "v1/rc": point(1)}) == {
        "refs/heads/master": 1, "refs/tags/v1.0": 1, "refs/tags/v1": 0,
        "refs/tags/v1%2Frc": 1}


@pytest.mark.parametrize("name", [
    "simple", "with space", "a..b", ".hidden", "x.lock", "end.", "@",
    "a@{b", "til~de", "ca^ret", "co:lon", "q?*[", "back\\slash", "50%",
    "tab\there", "/lead", "trail/", "a//b", "", "ünï/cödé", "a/.b/c.lock",
])
def test_escaped_names_are_valid_git_ref_names(name):
    escaped = escape_ref_name(name)
    result = subprocess.run(
        ["git", "check-ref-format", "refs/heads/" + escaped],
        capture_output=True)
    assert result.returncode == 0, escaped


def test_escaping_keeps_different_names_apart():
    names = ["a b", "a%20b", "a/b", "a%2Fb", ".x", "%2Ex"]
    escaped = [escape_ref_name(n, slashes=True) for n in names]
    assert len(set(escaped)) == len(names)


@pytest.mark.parametrize("user, identity", [
    (b"Alice <alice@example.org>", b"Alice <alice@example.org>"),
    ("Jürgen Ü <j@example.org>".encode(), "Jürgen Ü <j@example.org>".encode()),
    (b"bob", b"bob <unknown>"),
    (b"bob@example.org", b"Unknown <bob@example.org>"),
    (b"<carol@example.org>", b"Unknown <carol@example.org>"),
    (b'"Dan D" <dan@example.org>', b"Dan D <dan@example.org>"),
])
def test_identities(user, identity):
    assert git_identity(user) == identity


def test_the_authors_file_wins():
    assert git_identity(b"bob", {"bob": ("Bob B", "bob@example.org")}) \
        == b"Bob B <bob@example.org>"


@pytest.mark.parametrize("offset, zone", [
    (0, b"+0000"), (-3600, b"+0100"), (18000, b"-0500"), (1800, b"-0030"),
    (-19800, b"+0530")])
def test_dates_keep_their_time_zone(offset, zone):
    assert git_date(1700000000.0, offset) == b"1700000000 " + zone


def test_paths_are_quoted_only_when_fast_import_needs_it():
    assert quote_path(b"a b/c") == b"a b/c"
    assert quote_path(b'"q') == b'"\\"q"'
    assert quote_path(b"back\\slash") == b'"back\\\\slash"'
