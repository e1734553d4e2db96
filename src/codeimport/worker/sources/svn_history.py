"""Subversion revisions as git fast-import commits.

The mapping is described in `codeimport.worker.sources.svn`.
`HistoryWriter` turns each revision's changed paths into commits on the
branches they touch, and keeps, in the import's state, every branch's
revision→commit history, its tags, deletions and merges, so that the
next revision (in this run or the next) finds its parents there.
"""

from __future__ import annotations

import calendar
import re
import time

from codeimport.worker.fastimport import quote_path
from codeimport.worker.sources.svn_layout import covered
from codeimport.worker.sources.svn_layout import parse_mergeinfo
from codeimport.worker.sources.svn_source import NODE_DIR
from codeimport.worker.sources.svn_source import NODE_FILE
from codeimport.worker.sources.svn_source import file_mode

__all__ = ["HistoryWriter", "SCRATCH_REF", "live_roots", "tip"]

# Where fast-import writes commits; the staged refs are set afterwards.
SCRATCH_REF = "refs/codeimport/svn-scratch"


def _ident(text: str) -> str:
    return re.sub(r"[<>\n]", "", text).strip()


def live_roots(state: dict) -> list[str]:
    """The branch and tag roots that exist at the last revision."""
    return [root for root, history in state["history"].items()
            if history and history[-1][2] != "d"]


def tip(state: dict, root: str) -> int | None:
    """The mark of `root`'s newest commit, None if it is deleted."""
    history = state["history"].get(root)
    if not history or history[-1][2] == "d":
        return None
    return history[-1][1]


class HistoryWriter:
    """Writes revisions as commits into a `FastImport`."""

    def __init__(self, source, state: dict, layout, fastimport,
                 authors: dict):
        self.source = source
        self.state = state
        self.layout = layout
        self.fi = fastimport
        self.authors = authors

    # -- one revision ----------------------------------------------------

    def revision(self, rev, paths, props):
        """Write the commits of revision `rev` (its changed `paths` and
        revision properties `props`, as `SvnSource.log` gives them)."""
        self.rev = rev
        self.props = props
        per_root: dict[str, list] = {}
        for path, (action, copy_path, copy_rev, kind) in sorted(
                paths.items()):
            where = self.layout.split(path)
            if where is None:
                self._outside(path, action, copy_path, copy_rev)
                continue
            per_root.setdefault(where[0], []).append(
                (where[1], action, copy_path, copy_rev, kind))
        for root, changes in sorted(per_root.items()):
            self._rootChange(root, changes)
        parent = self._tip(self.layout.prefix)
        if not paths and not self.layout.standard and parent:
            # A revision that changes nothing (an empty commit made with
            # svnmucc, a dump's empty revision) is in the log of the
            # repository root only: it stays an empty commit.
            self._record(self.layout.prefix,
                         self._commit(parent, [], []), "")

    def _outside(self, path, action, copy_path, copy_rev):
        """A change to a layout directory (``/branches``) or above."""
        path = "/" + path.strip("/")
        if action in ("D", "R"):
            for root in sorted(self._liveRoots()):
                if root.startswith(path + "/"):
                    self._delete(root)
        if action in ("A", "R") and copy_path and path in (
                self.layout.containers()):
            # A copied /branches: every child is a copied branch.
            entries, _ = self.source.directory(path, self.rev)
            for name in sorted(entries):
                if entries[name] == NODE_DIR:
                    self._rootChange(f"{path}/{name}", [
                        ("", "A", f"{copy_path}/{name}", copy_rev, NODE_DIR)])

    def _liveRoots(self):
        return live_roots(self.state)

    def _markAt(self, root: str, rev: int) -> int | None:
        """The commit of `root` as it was at `rev`, if it existed."""
        mark = None
        for entry_rev, entry_mark, event in self.state["history"].get(
                root, ()):
            if entry_rev > rev:
                break
            mark = None if event == "d" else entry_mark
        return mark

    def _tip(self, root: str) -> int | None:
        return tip(self.state, root)

    def _rootChange(self, root, changes):
        first = changes[0]
        if first[0] == "" and first[1] == "D":
            self._delete(root)
            return
        parent = self._tip(root)
        base = None          # (mark, path) the new root copies, or None
        event = ""
        ops = []
        if first[0] == "" and first[1] in ("A", "R"):
            changes = changes[1:]
            if first[1] == "R" and parent is not None:
                self._delete(root)
            parent = None
            event = "c"
            if first[2]:
                where = self.layout.split(first[2])
                source_mark = where and self._markAt(where[0], first[3])
                if source_mark:
                    parent = source_mark
                    if where[1]:
                        base = (source_mark, where[1])
                else:
                    ops.append(b"deleteall\n")
                    ops.extend(self._fetchTree(first[2], first[3], ""))
            else:
                ops.append(b"deleteall\n")
            if (self.layout.isTag(root) and parent and base is None
                    and not changes):
                # A tag copied from a branch: no commit, the tag points
                # at the branch's commit.
                self._record(root, parent, event)
                self._tagged(root, parent)
                return
        elif parent is None:
            # Changes inside a root that was never created as one (a
            # path under /branches made without its own directory).
            event = "c"
            ops.append(b"deleteall\n")
        if base is not None:
            found = self.fi.ls(f":{base[0]}", base[1])
            ops.insert(0, b"deleteall\n")
            if found and found[0] == "040000":
                ops.append(b'M 040000 %s ""\n' % found[1].encode())
        merges = []
        for rel, action, copy_path, copy_rev, kind in changes:
            if rel == "":
                merges = self._mergeParents(root, parent)
                continue
            ops.extend(self._change(rel, action, copy_path, copy_rev, kind,
                                    root))
        mark = self._commit(parent, merges, ops)
        self._record(root, mark, event)
        if self.layout.isTag(root):
            self._tagged(root, mark)

    def _change(self, rel, action, copy_path, copy_rev, kind, root):
        path = f"{root}/{rel}"
        ops = []
        if action in ("D", "R"):
            ops.append(b"D %s\n" % quote_path(rel))
            if action == "D":
                return ops
        if kind not in (NODE_FILE, NODE_DIR):
            kind = self.source.kind(path, self.rev)
        if kind == NODE_FILE:
            if action in ("A", "R", "M"):
                ops.append(self._fileOp(rel, *self.source.file(
                    path, self.rev)))
            return ops
        if action in ("A", "R") and copy_path:
            where = self.layout.split(copy_path)
            mark = where and self._markAt(where[0], copy_rev)
            found = mark and self.fi.ls(f":{mark}", where[1])
            if found:
                ops.append(b"M %s %s %s\n" % (
                    found[0].encode(), found[1].encode(), quote_path(rel)))
            else:
                ops.extend(self._fetchTree(copy_path, copy_rev, rel))
        return ops

    def _fetchTree(self, path, rev, rel):
        """Operations writing the directory `path` at `rev` to `rel`."""
        for name, content, props in self.source.walk(path, rev):
            yield self._fileOp(f"{rel}/{name}" if rel else name, content,
                               props)

    @staticmethod
    def _fileOp(rel, content, props):
        mode, blob = file_mode(content, props)
        return b"M %s inline %s\ndata %d\n%s\n" % (
            mode.encode(), quote_path(rel), len(blob), blob)

    # -- commits, tags, merges -------------------------------------------

    def _person(self) -> bytes:
        name = self.props.get("svn:author")
        name = name.decode("utf-8", "replace") if name else "(no author)"
        if name in self.authors:
            full, email = self.authors[name]
        else:
            full, email = name, f"{name}@{self.source.uuid}"
        return b"%s <%s> %d +0000" % (
            _ident(full).encode(), _ident(email).encode(), self._date())

    def _date(self) -> int:
        text = self.props.get("svn:date")
        if not text:
            return 0
        try:
            return calendar.timegm(time.strptime(
                text.decode("ascii", "replace")[:19], "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            return 0

    def _message(self) -> bytes:
        return self.props.get("svn:log") or b""

    def _newMark(self) -> int:
        mark = self.state["next_mark"]
        self.state["next_mark"] = mark + 1
        return mark

    def _commit(self, parent, merges, ops) -> int:
        mark = self._newMark()
        person = self._person()
        message = self._message()
        head = [b"commit %s\nmark :%d\n" % (SCRATCH_REF.encode(), mark),
                b"author %s\ncommitter %s\n" % (person, person),
                b"data %d\n%s\n" % (len(message), message)]
        if parent:
            head.append(b"from :%d\n" % parent)
        else:
            head.insert(0, b"reset %s\n" % SCRATCH_REF.encode())
        head.extend(b"merge :%d\n" % m for m in merges)
        self.fi.write(b"".join(head) + b"".join(ops) + b"\n")
        return mark

    def _record(self, root, mark, event):
        self.state["history"].setdefault(root, []).append(
            [self.rev, mark, event])

    def _tagged(self, root, mark):
        self.state["tags"][root] = {
            "mark": mark,
            "tagger": self._person().decode("utf-8"),
            "message": self._message().decode("utf-8", "surrogateescape"),
        }

    def _delete(self, root):
        mark = self._tip(root)
        if mark is None:
            return
        name = self.layout.ref(root).split("/", 2)[2]
        backup = f"refs/tags/backups/{name}@{self.rev}"
        if self.layout.isTag(root):
            self.state["backups"][backup] = dict(
                self.state["tags"].pop(root), name=name)
        else:
            self.state["backups"][backup] = {"mark": mark}
        self._record(root, None, "d")

    def _mergeParents(self, root, parent) -> list[int]:
        """Merge parents from the root's svn:mergeinfo in this revision."""
        path = root.lstrip("/")
        _, new = self.source.directory(path, self.rev)
        old = {}
        if self._tip(root) is not None:
            _, old = self.source.directory(path, self.rev - 1)
        before = parse_mergeinfo(old.get("svn:mergeinfo"))
        after = parse_mergeinfo(new.get("svn:mergeinfo"))
        merged = self.state["merged"].setdefault(root, {})
        parents = []
        for source_path, spans in sorted(after.items()):
            if spans == before.get(source_path):
                continue
            where = self.layout.split(source_path)
            if where is None or where[1] or where[0] == root:
                continue
            newest = max(last for _, last in spans)
            lineage = self._lineage(where[0], newest)
            if not lineage or lineage[-1][0] <= merged.get(where[0], 0):
                continue
            created = lineage[0][0]
            if all(covered(rev, spans) for rev, _, _ in lineage
                   if rev > created):
                tip = lineage[-1][1]
                if tip != parent and tip not in parents:
                    parents.append(tip)
                    merged[where[0]] = lineage[-1][0]
        return parents

    def _lineage(self, root, rev):
        """The entries of `root` since it was last created, up to `rev`."""
        lineage = []
        for entry in self.state["history"].get(root, ()):
            if entry[0] > rev:
                break
            if entry[2] == "c":
                lineage = [entry]
            elif entry[2] == "d":
                lineage = []
            else:
                lineage.append(entry)
        return lineage
