"""The CVS importer's pure parts: rlog parsing, lines, changeset grouping."""

from __future__ import annotations

import pytest

from codeimport.worker.sources import cvslog
from codeimport.worker.sources.cvsclient import parse_cvsroot
from codeimport.worker.sources.cvsclient import scramble

RLOG = b"""
RCS file: /cvs/proj/Attic/gone.txt,v
head: 1.2
branch:
locks: strict
access list:
symbolic names:
\tREL_1: 1.1
keyword substitution: kv
total revisions: 2;\tselected revisions: 2
description:
----------------------------
revision 1.2
date: 2020-01-01 03:00:00 +0000;  author: alice;  state: dead;  commitid: C3;
Remove it
----------------------------
revision 1.1
date: 2020/01/01 00:00:00;  author: bob;  state: Exp;
Initial
----------------------------
a line of dashes above is part of the message
=============================================================================

RCS file: /cvs/proj/src/a.py,v
head: 1.1
branch: 1.1.1
locks: strict
access list:
symbolic names:
\tstable: 1.1.1.2.0.2
\tvendor: 1.1.1
\tstart: 1.1.1.1
keyword substitution: kb
total revisions: 4;\tselected revisions: 4
description:
----------------------------
revision 1.1
date: 2020-01-01 00:00:00 +0000;  author: bob;  state: Exp;  commitid: C1;
branches:  1.1.1;
Initial revision
----------------------------
revision 1.1.1.2
date: 2020-01-02 00:00:00 +0000;  author: bob;  state: Exp;  commitid: C2;
Second import
----------------------------
revision 1.1.1.1
date: 2020-01-01 00:00:00 +0000;  author: bob;  state: Exp;  commitid: C1;
Vendor import
----------------------------
revision 1.1.1.2.2.1
date: 2020/01/03 00:00:00; author: j\xc3\xbcrgen; state: Exp; commitid: C4;
Caf\xc3\xa9 on the branch
=============================================================================
""".split(b"\n")


def parsed():
    return cvslog.parse_rlog(RLOG, "/cvs")


def test_rlog_files_paths_symbols_and_revisions():
    gone, a = parsed()
    assert gone.path == "proj/gone.txt"
    assert a.path == "proj/src/a.py"
    assert a.default_branch == "1.1.1"
    assert a.keyword == "kb"
    assert a.symbols == {"stable": "1.1.1.2.0.2", "vendor": "1.1.1",
                         "start": "1.1.1.1"}
    assert sorted(gone.revisions) == ["1.1", "1.2"]
    assert gone.revisions["1.2"].dead
    assert gone.revisions["1.1"].time == 1577836800
    assert gone.revisions["1.1"].commitid is None
    assert gone.revisions["1.1"].message == (
        b"Initial\n" + b"-" * 28
        + b"\na line of dashes above is part of the message")
    assert a.revisions["1.1.1.2.2.1"].author == "j\u00fcrgen".encode()


def test_rlog_that_is_not_rlog_is_an_error():
    with pytest.raises(cvslog.RlogError):
        cvslog.parse_rlog([b"RCS file: /cvs/x,v", b"head: 1.1",
                           b"-" * 28, b"revision 1.1", b"garbage"], "/cvs")


def test_lines_vendor_branch_and_branches():
    history = cvslog.History(parsed())
    placed = {(r.path, r.number): r.line for r in history.revisions}
    assert placed == {
        ("proj/gone.txt", "1.1"): "HEAD",
        ("proj/gone.txt", "1.2"): "HEAD",
        # The import is one change (1.1.1.1 is 1.1), told by its message;
        # the default branch puts the second import on HEAD.
        ("proj/src/a.py", "1.1"): "HEAD",
        ("proj/src/a.py", "1.1.1.2"): "HEAD",
        ("proj/src/a.py", "1.1.1.2.2.1"): "stable",
    }
    first = [r for r in history.revisions if r.number == "1.1"
             and r.path.endswith("a.py")][0]
    assert first.message == b"Vendor import"
    assert history.tag_map("start") == {"proj/src/a.py": "1.1"}
    assert history.tag_map("REL_1") == {"proj/gone.txt": "1.1"}
    assert history.branch_tip("stable") == {"proj/src/a.py": "1.1.1.2.2.1"}
    assert history.branch_base("stable") == (
        {"proj/src/a.py": "1.1.1.2"}, "HEAD")
    assert history.symbol_lines() == {
        "REL_1": "tag", "stable": "branch", "vendor": "branch",
        "start": "tag"}


def rev(path, number, time, author=b"a", message=b"m", commitid=None,
        line="HEAD", state="Exp"):
    return cvslog.Revision(path, number, time, author, state, message,
                           commitid, line)


def shape(changesets):
    return [sorted((r.path, r.number) for r in c.revisions)
            for c in changesets]


def test_commit_ids_group_regardless_of_time():
    changesets = cvslog.group_changesets([
        rev("a", "1.1", 0, commitid="X"), rev("b", "1.1", 5000,
                                              commitid="X"),
        rev("c", "1.1", 10, commitid="Y")])
    assert shape(changesets) == [
        [("c", "1.1")], [("a", "1.1"), ("b", "1.1")]]


def test_without_commit_ids_author_message_and_window_group():
    w = cvslog.WINDOW
    changesets = cvslog.group_changesets([
        rev("a", "1.1", 0), rev("b", "1.1", w),          # chained: one
        rev("c", "1.1", 2 * w), rev("d", "1.1", 3 * w + 10),  # gap: two
        rev("e", "1.1", 10, author=b"other"),            # other author
        rev("f", "1.1", 20, message=b"other"),           # other message
        rev("a", "1.2", 2 * w + 5),                      # a again: split
        rev("g", "1.1", 30, line="stable"),              # other line
    ])
    assert shape(changesets) == [
        [("e", "1.1")], [("f", "1.1")], [("g", "1.1")],
        [("a", "1.1"), ("b", "1.1"), ("c", "1.1")],
        [("a", "1.2")], [("d", "1.1")]]


def test_grouping_the_rest_after_a_prefix_gives_the_same_changesets():
    revisions = [rev(f"f{i % 4}", f"1.{i // 4 + 1}", i * 100)
                 for i in range(40)]
    whole = cvslog.group_changesets(revisions)
    done = {(r.path, r.number) for c in whole[:3] for r in c.revisions}
    rest = cvslog.group_changesets(
        [r for r in revisions if (r.path, r.number) not in done])
    assert shape(rest) == shape(whole[3:])


def test_clean_cut_never_splits_a_second():
    changesets = cvslog.group_changesets([
        rev("a", "1.1", 0, commitid="1"), rev("b", "1.1", 10, commitid="2"),
        rev("c", "1.1", 5, commitid="3"), rev("d", "1.1", 12, commitid="3"),
        rev("e", "1.1", 20, commitid="4")])
    # Changeset 3 (5..12) overlaps changeset 2 (10): no cut between them.
    assert [c.time for c in changesets] == [0, 10, 12, 20]
    assert cvslog.clean_cut(changesets, 2, forward=True) == 3
    assert cvslog.clean_cut(changesets, 2, forward=False) == 1
    assert cvslog.clean_cut(changesets, 3, forward=True) == 3
    assert cvslog.clean_cut(changesets, 9, forward=False) == 4


def test_cvsroot_parsing_keeps_the_password_out_of_display():
    root = parse_cvsroot(":pserver:anon:s3cret@Cvs.Example.org:2402/cvs/x")
    assert (root.method, root.user, root.password, root.host, root.port,
            root.path) == ("pserver", "anon", "s3cret", "cvs.example.org",
                           2402, "/cvs/x")
    assert "s3cret" not in root.display
    assert parse_cvsroot(":pserver:cvs.example.org:/cvs").port == 2401
    assert parse_cvsroot("/srv/cvs").method == "local"
    for bad in ("", "cvs.example.org", ":pserver:/cvs", ":pserver:h/x\n"):
        with pytest.raises(ValueError):
            parse_cvsroot(bad)


def test_password_scrambling_is_a_byte_map():
    assert scramble("") == "A"
    assert len(scramble("anonymous")) == 10
    assert len(set(scramble("abcdefghijklmnopqrstuvwxyz"))) == 27
