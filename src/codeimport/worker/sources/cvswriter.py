"""Commits from CVS changesets, written as a ``git fast-import`` stream.

`Writer` plans the commits of a run (one per changeset, plus one where
a branch starts or a tag lands on file revisions that no commit had as
a whole), fetches the file revisions they need from the server and
writes blobs and commits to ``git fast-import`` through the converters'
shared writer (`codeimport.worker.fastimport.FastImport`).
`Lines` is the converted history it works from: each line's tip and
file map, and a key of every commit's tree so that tags and branch
starts find the commit they equal.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
from collections import defaultdict

from codeimport.worker.conversion import ConversionError
from codeimport.worker.conversion import SourceBroken
from codeimport.worker.fastimport import FastImport
from codeimport.worker.fastimport import quote_path
from codeimport.worker.fastimport import read_marks
from codeimport.worker.sources.cvsclient import CVSProtocolError
from codeimport.worker.sources.cvsclient import CVSServerError
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_tool

__all__ = ["Lines", "Writer", "map_key"]

# Changesets whose file revisions are fetched and written together.
BLOCK = 500
# Connections that fetch file revisions at once.
FETCHERS = 3


def _item_hash(path: str, revision: str) -> int:
    digest = hashlib.blake2b(f"{path}\0{revision}".encode(
        "utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Lines:
    """The converted history: each line's tip and file map, and every
    commit's tree key, so tags and branch starts find their commit."""

    def __init__(self):
        self.tips: dict[str, str] = {}
        self.maps: dict[str, dict[str, str]] = {}
        self.keys: dict[str, int] = {}
        self.by_key: dict[int, str] = {}
        self.introduced: dict[tuple[str, str], str] = {}

    def add(self, line: str, commit: str, changes: dict, base: bool) -> None:
        if base or line not in self.maps:
            self.maps[line] = {}
            self.keys[line] = 0
        current = self.maps[line]
        key = self.keys[line]
        if base:
            current.clear()
        for path, revision in changes.items():
            old = current.get(path)
            if old is not None:
                key ^= _item_hash(path, old)
                del current[path]
            if revision is not None:
                current[path] = revision
                key ^= _item_hash(path, revision)
                self.introduced.setdefault((path, revision), commit)
        self.keys[line] = key
        self.tips[line] = commit
        self.by_key[key] = commit

    def find(self, files: dict[str, str]) -> str | None:
        key = 0
        for path, revision in files.items():
            key ^= _item_hash(path, revision)
        return self.by_key.get(key)


def map_key(files: dict[str, str]) -> str:
    """A stable key of a ``{path: revision}`` map, for the state file."""
    text = "\n".join(f"{p}\0{r}" for p, r in sorted(files.items()))
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()


def _ref(line: str) -> str:
    return "refs/heads/master" if line == "HEAD" else f"refs/heads/{line}"


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Older CVS repositories are mostly Latin-1.
        return data.decode("latin-1")


class Writer:
    """Plans commits, fetches their file revisions, writes the stream."""

    def __init__(self, converter, connection, history, lines, converted,
                 state, module):
        self.c = converter
        self.connection = connection
        self.history = history
        self.lines = lines
        self.converted = converted
        self.state = state
        self.module = module.rstrip("/") + "/"
        host = converter._cvsroot.host or "localhost"
        self.host = host
        self._marks = os.path.join(converter.work_dir, "cvs.marks")
        # Started at the first write: a run with nothing new starts none.
        self._fast_import: FastImport | None = None
        self.next_mark = 1
        self.blobs: dict[tuple[str, str], int] = {}
        self.executable: dict[str, bool] = {}
        self.new_commits: list[list] = []
        self.refs: dict[str, str] = {}
        self.deleted_refs: list[str] = []
        self.connections = [connection]
        self._revisions_index = None
        self._connections_refused = False

    def empty(self) -> bool:
        return not self.new_commits and not self.refs \
            and not self.deleted_refs

    def _emit(self, data: bytes) -> None:
        """Send `data` to git fast-import (callers hold no other lock)."""
        if self._fast_import is None:
            # Marks count from 1 in every run: none are read.
            self._fast_import = FastImport(self.c.target, self.c.env, None,
                                           self._marks)
        self._fast_import.write(data)

    def _mark(self) -> str:
        mark = self.next_mark
        self.next_mark += 1
        return f":{mark}"

    def _git_path(self, path: str) -> str:
        if path.startswith(self.module):
            return path[len(self.module):]
        return path

    def _identity(self, author: bytes) -> bytes:
        name = _text(author).strip() or "unknown"
        if name in self.c.authors:
            full, email = self.c.authors[name]
        else:
            full, email = name, f"{name}@{self.host}"
        clean = re.compile(r"[<>\n]")
        return f"{clean.sub('', full)} <{clean.sub('', email)}>".encode()

    # -- planning --

    def _start_line(self, line: str, plans: list) -> None:
        """Give `line` a tip: the commit its start equals, or a new one."""
        base, parent_line = self.history.branch_base(line)
        found = self.lines.find(base)
        if found is not None:
            self.lines.add(line, found, dict(base), True)
            return
        parent = self.lines.tips.get(parent_line or "HEAD")
        self._plan_synthetic(
            _ref(line), parent, base,
            f"Start of CVS branch {line}: the file revisions it was "
            "made from, which no commit had as a whole.\n", plans,
            line=line)

    def _plan_synthetic(self, ref, parent, files, message, plans,
                        line=None) -> str:
        """A commit whose tree is exactly `files` (it starts from an
        empty tree: its parent may be any older commit)."""
        mark = self._mark()
        times = [self.history.files[p].revisions.get(r)
                 for p, r in files.items()]
        stamp = max((t.time for t in times if t is not None), default=0)
        plans.append(dict(ref=ref, mark=mark, parent=parent,
                          author=b"cvs", time=stamp,
                          message=message.encode(), changes=dict(files),
                          deleteall=True))
        if line is not None:
            self.lines.add(line, mark, dict(files), True)
            self.new_commits.append([line, mark, dict(files), True])
        return mark

    def _plan(self, changeset, plans: list) -> None:
        line = changeset.line
        if line not in self.lines.tips and line != "HEAD":
            self._start_line(line, plans)
        parent = self.lines.tips.get(line)
        parent_map = self.lines.maps.get(line, {})
        changes = {}
        for rev in changeset.revisions:
            number = self.history.files[rev.path].canonical(rev.number)
            if rev.dead:
                if rev.path in parent_map:
                    changes[rev.path] = None
            else:
                changes[rev.path] = number
        mark = self._mark()
        plans.append(dict(ref=_ref(line), mark=mark, parent=parent,
                          author=changeset.author, time=changeset.time,
                          message=changeset.message, changes=changes))
        self.lines.add(line, mark, changes, False)
        self.new_commits.append([line, mark, changes, False])
        for rev in changeset.revisions:
            self.converted.setdefault(rev.path, set()).add(rev.number)

    # -- fetching and writing --

    def _fetch(self, plans: list) -> None:
        """Write the blobs of every file revision `plans` need.

        The CVS server spends a few milliseconds on each file it checks
        out, so requests (one per revision number) are spread over
        `FETCHERS` connections.
        """
        wanted = defaultdict(set)
        for plan in plans:
            for path, revision in plan["changes"].items():
                if revision is not None and (path, revision) not in self.blobs:
                    wanted[revision].add(path)
        jobs = queue.Queue()
        for revision, paths in sorted(wanted.items(),
                                      key=lambda item: -len(item[1])):
            # Naming files costs the server more per file than naming
            # the module: ask for the module when most of the files that
            # have this revision are wanted (the rest come in handy for
            # later blocks).
            having = self._having().get(revision, ())
            whole = len(paths) > 20 and 2 * len(paths) >= len(having)
            jobs.put((revision, sorted(paths),
                      [self.module.rstrip("/")] if whole else None))
        lock = threading.Lock()
        failures = []
        prefix = self.c._cvsroot.path.rstrip("/") + "/"

        def fetch(connection):
            while not failures:
                try:
                    revision, paths, arguments = jobs.get_nowait()
                except queue.Empty:
                    return
                got = set()

                def on_file(content, revision=revision):
                    path = content.repository_path
                    if path.startswith(prefix):
                        path = path[len(prefix):]
                    if (path, revision) in self.blobs or (
                            arguments and content.revision != revision):
                        return
                    with lock:
                        mark = self._mark()
                        self._emit(b"blob\nmark %s\ndata %d\n%s\n" % (
                            mark.encode(), len(content.data), content.data))
                        self.blobs[(path, revision)] = mark
                        self.executable[path] = content.executable
                    got.add(path)

                try:
                    messages = connection.checkout(
                        revision, arguments or paths, on_file)
                except (CVSProtocolError, CVSServerError) as error:
                    failures.append(SourceBroken(
                        f"Reading file revisions {revision} failed: "
                        f"{error}."))
                    return
                missing = [p for p in paths if p not in got]
                if missing:
                    detail = "; ".join(messages[-3:])
                    failures.append(SourceBroken(
                        f"The server did not send {missing[0]} revision "
                        f"{revision}" + (f" ({detail})" if detail else "")
                        + "."))
                    return

        while (not self._connections_refused
               and len(self.connections) < min(FETCHERS, jobs.qsize())):
            try:
                self.connections.append(self.c._connect(self.c._cvsroot))
            except ConversionError:
                # Servers may limit connections per client: use fewer.
                self._connections_refused = True
        threads = [threading.Thread(target=fetch, args=(connection,),
                                    daemon=True)
                   for connection in self.connections[1:]]
        for thread in threads:
            thread.start()
        fetch(self.connections[0])
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    def _having(self) -> dict[str, set[str]]:
        """``{revision number: paths}`` of the live file revisions not
        converted yet."""
        if self._revisions_index is None:
            index = defaultdict(set)
            for path, f in self.history.files.items():
                done = self.converted.get(path, ())
                for number, rev in f.revisions.items():
                    if not rev.dead and number not in done:
                        index[f.canonical(number)].add(path)
            self._revisions_index = index
        return self._revisions_index

    def _write(self, plan: dict) -> None:
        message = _text(plan["message"]).rstrip("\n") + "\n"
        body = message.encode("utf-8")
        who = self._identity(plan["author"])
        stamp = b"%d +0000" % plan["time"]
        out = [b"commit ", _ref_staging(self.c, plan["ref"]), b"\n",
               b"mark ", plan["mark"].encode(), b"\n",
               b"author ", who, b" ", stamp, b"\n",
               b"committer ", who, b" ", stamp, b"\n",
               b"data %d\n" % len(body), body, b"\n"]
        if plan["parent"] is not None:
            out += [b"from ", plan["parent"].encode(), b"\n"]
        if plan.get("deleteall"):
            out.append(b"deleteall\n")
        for path, revision in sorted(plan["changes"].items()):
            git_path = quote_path(self._git_path(path))
            if revision is None:
                out += [b"D ", git_path, b"\n"]
            else:
                mode = b"100755" if self.executable.get(path) else b"100644"
                mark = self.blobs[(path, revision)].encode()
                out += [b"M ", mode, b" ", mark, b" ", git_path, b"\n"]
        out.append(b"\n")
        self._emit(b"".join(out))

    def run(self, changesets: list, waiting: int) -> None:
        """Convert `changesets`; `waiting` more are left for later runs."""
        done_before = sum(1 for c in self.state["commits"] if not c[3])
        grand_total = done_before + len(changesets) + waiting
        for start in range(0, len(changesets), BLOCK):
            plans = []
            for changeset in changesets[start:start + BLOCK]:
                self._plan(changeset, plans)
            self._fetch(plans)
            for index, plan in enumerate(plans):
                self._write(plan)
            done = min(start + BLOCK, len(changesets))
            if done < len(changesets):
                self.c.progress(done_before + done, grand_total, done=done)
        if changesets:
            self.c.progress(done_before + len(changesets), grand_total,
                            done=len(changesets), final=True)

    # -- tags and branches without commits --

    def _all_converted(self, files: dict[str, str]) -> bool:
        for path, revision in files.items():
            numbers = self.converted.get(path, ())
            f = self.history.files[path]
            if revision not in numbers and not any(
                    f.canonical(n) == revision for n in numbers):
                return False
        return True

    def symbols(self, history) -> None:
        plans = []
        known = self.state.setdefault("symbols", {})
        staged = self.c.target.stagedRefs()
        wanted = {}
        kinds = history.symbol_lines()
        for name, kind in sorted(kinds.items()):
            if kind == "branch":
                if name in self.lines.tips:
                    continue
                base, _ = history.branch_base(name)
                if not base or not self._all_converted(base):
                    continue
                self._start_line(name, plans)
                continue
            files = history.tag_map(name)
            if not files or not self._all_converted(files):
                if f"refs/tags/{name}" in staged:
                    wanted[f"refs/tags/{name}"] = staged[f"refs/tags/{name}"]
                continue
            key = map_key(files)
            previous = known.get(name)
            if previous and previous[0] == key:
                wanted[f"refs/tags/{name}"] = previous[1]
                continue
            commit = self.lines.find(files)
            if commit is None:
                newest = max(files.items(), key=lambda item: (
                    history.files[item[0]].revisions[item[1]].time))
                parent = self.lines.introduced.get(newest)
                commit = self._plan_synthetic(
                    f"refs/tags/{name}", parent, files,
                    f"Tag {name}: the file revisions it names, which no "
                    "commit had as a whole.\n", plans)
            known[name] = [key, commit]
            wanted[f"refs/tags/{name}"] = commit
        for name in list(known):
            if kinds.get(name) != "tag":
                del known[name]
        self._fetch(plans)
        for plan in plans:
            self._write(plan)
        for line, tip in self.lines.tips.items():
            wanted[_ref(line)] = tip
        for ref, commit in wanted.items():
            if staged.get(ref) != commit:
                self.refs[ref] = commit
        for ref in staged:
            if ref.startswith("refs/tags/") and ref not in wanted:
                self.deleted_refs.append(ref)

    def close(self) -> None:
        """Close the connections opened for fetching; stop a fast-import
        that `finish` did not end (the run failed)."""
        for connection in self.connections[1:]:
            connection.close()
        if self._fast_import is not None:
            self._fast_import.abort()
            self._fast_import = None

    def finish(self) -> None:
        for ref, commit in sorted(self.refs.items()):
            self._emit(b"reset " + _ref_staging(self.c, ref)
                       + b"\nfrom " + commit.encode() + b"\n\n")
        shas = {}
        if self._fast_import is not None:
            fast_import, self._fast_import = self._fast_import, None
            fast_import.finish()
            shas = {f":{mark}": sha
                    for mark, sha in read_marks(self._marks).items()}
        if self.deleted_refs:
            script = os.path.join(self.c.work_dir, "delete-refs")
            with open(script, "w") as out:
                for ref in self.deleted_refs:
                    out.write(f"delete {self.c.stagingRef(ref)}\n")
            try:
                with open(script, "rb") as stream:
                    run_tool(["git", f"--git-dir={self.c.target.path}",
                              "update-ref", "--stdin"],
                             env=self.c.env, stdin=stream.fileno())
            except ToolFailed as error:
                raise ConversionError(
                    f"Deleting refs failed: {error}") from None
        for record in self.new_commits:
            record[1] = shas.get(record[1], record[1])
            self.state["commits"].append(record)
        for name, value in self.state["symbols"].items():
            value[1] = shas.get(value[1], value[1])


def _ref_staging(converter, ref: str) -> bytes:
    return converter.stagingRef(ref).encode("utf-8", "surrogateescape")
