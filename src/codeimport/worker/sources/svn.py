"""Subversion into Git (``bzr-svn`` in the worker argument contract).

The history is read with subvertpy (libsvn's own RA layer: ``svn://``,
``http(s)://``, and ``file://`` where the policy allows it) and written
as a ``git fast-import`` stream.  All in-process network access of this
importer happens in `SvnSource`.

Mapping
-------
* A URL whose children include ``trunk``, ``branches`` and ``tags`` (at
  the first import) has the standard layout: ``trunk`` becomes
  ``master``, ``branches/NAME`` the branch ``NAME``, ``tags/NAME`` the
  annotated tag ``NAME``.  Anything else beside them is not imported.
  Any other URL becomes the one branch ``master``.
* Every revision that touches a branch is one commit on it (a revision
  touching two branches gives two commits), with the revision's author,
  date and message; revisions that change nothing in the tree (a
  property change, say) stay as empty commits, so the history matches.
  A branch created by a copy starts with a commit whose parent is the
  commit it was copied from.
* Authors become ``name <name@REPOSITORY-UUID>`` unless the operator's
  authors file maps them.
* A tag copied from a branch points at that branch's commit; the tag
  object carries the tagging revision's author, date and message.  A
  commit on a tag adds a commit on top and the tag moves to it.
* A deleted branch or tag is not lost: it is kept as
  ``refs/tags/backups/NAME@REV`` (REV: the deleting revision).
* ``svn:mergeinfo``: when a revision adds merge information for a whole
  branch and, with it, every revision of that branch since it was
  created up to the newest merged one is recorded as merged, that
  branch's commit becomes a second parent.  Cherry-picks (partial
  ranges) and merges of subdirectories stay plain commits.
* ``svn:executable`` gives mode 755, ``svn:special`` with ``link T``
  content a symbolic link to T; content is stored as the repository
  holds it (no keyword expansion, no end-of-line translation), so binary
  files are byte-identical.  ``svn:externals``, ``svn:ignore`` and other
  properties are not imported; empty directories cannot be in Git.

State, in the target's state directory: ``svn-state.json`` (repository
UUID, layout, last revision, every branch's revision→commit history,
tags, merges) and ``svn-marks`` (fast-import marks of the commits).
Both are replaced only after fast-import succeeded; the commits are
deterministic, so a run repeated after a crash writes the same ones.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import json
import os
import re
import tempfile
import threading
import time
import urllib.parse
import warnings

from codeimport.worker.conversion import ConversionError
from codeimport.worker.conversion import Converter
from codeimport.worker.conversion import ConvertingImporter
from codeimport.worker.conversion import Outcome
from codeimport.worker.conversion import SourceBroken
from codeimport.worker.conversion import SourceInvalid
from codeimport.worker.conversion import Unsupported
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_tool

__all__ = ["SvnConverter", "SvnImporter", "SvnSource", "parse_mergeinfo"]

STATE = "svn-state.json"
MARKS = "svn-marks"
STATE_VERSION = 1
# Where fast-import writes commits; the staged refs are set afterwards.
SCRATCH_REF = "refs/codeimport/svn-scratch"
NODE_FILE, NODE_DIR = 1, 2
REVPROPS = ["svn:author", "svn:date", "svn:log"]


# -- reading Subversion --------------------------------------------------

class SvnSource:
    """A Subversion repository read through libsvn (subvertpy).

    Two sessions: one streams the log while the other fetches content
    (one session cannot do both at once).  Errors while connecting mean
    the source is invalid; errors afterwards that it is broken.
    """

    def __init__(self, url: str):
        from subvertpy import SubversionException
        from subvertpy import ra

        self._ra = ra
        self._error = SubversionException
        self.url = url.rstrip("/")
        with self.failures(opening=True), warnings.catch_warnings():
            # subvertpy 0.11 calls the deprecated urllib.parse.splittype.
            warnings.simplefilter("ignore", DeprecationWarning)
            auth = ra.Auth([ra.get_username_provider(),
                            ra.get_ssl_server_trust_file_provider()])
            self._log = ra.RemoteAccess(self.url, auth=auth)
            self.root = self._log.get_repos_root().rstrip("/")
            self.uuid = self._log.get_uuid()
            self.youngest = self._log.get_latest_revnum()
            self._content = ra.RemoteAccess(self.url, auth=auth)
            self._content.reparent(self.root)
            tail = self._log.get_session_url().rstrip("/")[len(self.root):]
            self.prefix = urllib.parse.unquote(tail).rstrip("/")
            if self._content.check_path(self.prefix.lstrip("/"),
                                        self.youngest) != NODE_DIR:
                raise SourceInvalid(
                    f"{self.url} is not a Subversion directory.")

    @contextlib.contextmanager
    def failures(self, opening: bool = False):
        try:
            yield
        except self._error as error:
            message = error.args[0] if error.args else str(error)
            if opening:
                raise SourceInvalid(
                    f"Cannot read the Subversion repository at {self.url}: "
                    f"{message}") from None
            raise SourceBroken(
                f"Reading the Subversion repository at {self.url} failed: "
                f"{message}") from None

    def log(self, start: int, end: int, limit: int = 0):
        """``(revision, changed paths, revprops)`` from `start` to `end`."""
        with self.failures():
            for entry in self._log.iter_log(
                    [""], start, end, limit, discover_changed_paths=True,
                    strict_node_history=True, revprops=REVPROPS):
                yield entry[1], entry[0] or {}, entry[2] or {}

    def kind(self, path: str, rev: int) -> int:
        with self.failures():
            return self._content.check_path(path.lstrip("/"), rev)

    def file(self, path: str, rev: int) -> tuple[bytes, dict]:
        stream = io.BytesIO()
        with self.failures():
            _, props = self._content.get_file(path.lstrip("/"), stream, rev)
        return stream.getvalue(), props

    def directory(self, path: str, rev: int) -> tuple[dict, dict]:
        """``({name: kind}, props)`` of directory `path` at `rev`."""
        with self.failures():
            entries, _, props = self._content.get_dir(
                path.lstrip("/"), rev, self._ra.DIRENT_KIND)
        return {name: e["kind"] for name, e in entries.items()}, props

    def walk(self, path: str, rev: int):
        """``(relative path, content, props)`` of every file under `path`."""
        entries, _ = self.directory(path, rev)
        for name, kind in sorted(entries.items()):
            child = f"{path}/{name}"
            if kind == NODE_DIR:
                for rel, content, props in self.walk(child, rev):
                    yield f"{name}/{rel}", content, props
            elif kind == NODE_FILE:
                yield (name, *self.file(child, rev))


def file_mode(content: bytes, props: dict) -> tuple[str, bytes]:
    """The Git mode and blob of a file with these svn properties."""
    if "svn:special" in props and content.startswith(b"link "):
        return "120000", content[len(b"link "):]
    if "svn:executable" in props:
        return "100755", content
    return "100644", content


# -- svn:mergeinfo --------------------------------------------------------

def parse_mergeinfo(text: bytes | str | None) -> dict[str, list]:
    """``{source path: [(first, last), ...]}`` from an svn:mergeinfo value.

    Non-inheritable ranges (``5-7*``) count like the others; malformed
    lines are ignored (merge parents are a bonus, never a failure).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    result = {}
    for line in (text or "").splitlines():
        path, colon, ranges = line.rpartition(":")
        if not colon or not path:
            continue
        spans = []
        for item in ranges.split(","):
            match = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\*?\s*", item)
            if match is None:
                spans = None
                break
            first = int(match.group(1))
            spans.append((first, int(match.group(2) or first)))
        if spans:
            result["/" + path.strip().strip("/")] = spans
    return result


def _covered(rev: int, spans) -> bool:
    return any(first <= rev <= last for first, last in spans)


# -- names ---------------------------------------------------------------

_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def ref_component(name: str) -> str:
    """`name` made into a valid Git ref name (same input, same output)."""
    name = _BAD_REF_CHARS.sub("_", name).replace("..", "__")
    name = name.replace("@{", "@_")
    parts = []
    for part in name.split("/"):
        if part.startswith("."):
            part = "_" + part[1:]
        if part.endswith(".lock"):
            part = part[:-5] + "_lock"
        parts.append(part or "_")
    name = "/".join(parts).rstrip(".")
    return name if name and name != "@" else "_"


def _ident(text: str) -> str:
    return re.sub(r"[<>\n]", "", text).strip()


def _quote(path: str) -> bytes:
    raw = path.encode("utf-8")
    raw = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(
        b"\n", b"\\n")
    return b'"' + raw + b'"'


# -- the layout ----------------------------------------------------------

class Layout:
    """Which repository paths are branch and tag roots."""

    def __init__(self, prefix: str, standard: bool):
        self.prefix = prefix
        self.standard = standard

    def split(self, path: str) -> tuple[str, str] | None:
        """``(root, path inside it)`` for a repository path, or None."""
        path = "/" + path.strip("/") if path.strip("/") else ""
        if not self.standard:
            if path == self.prefix:
                return self.prefix, ""
            if path.startswith(self.prefix + "/"):
                return self.prefix, path[len(self.prefix) + 1:]
            return None
        if not path.startswith(self.prefix + "/"):
            return None
        rest = path[len(self.prefix) + 1:].split("/")
        if rest[0] == "trunk":
            return self.prefix + "/trunk", "/".join(rest[1:])
        if rest[0] in ("branches", "tags") and len(rest) > 1:
            return (f"{self.prefix}/{rest[0]}/{rest[1]}",
                    "/".join(rest[2:]))
        return None

    def containers(self) -> list[str]:
        if not self.standard:
            return []
        return [self.prefix + "/branches", self.prefix + "/tags"]

    def isTag(self, root: str) -> bool:
        return self.standard and root.startswith(self.prefix + "/tags/")

    def ref(self, root: str) -> str:
        if not self.standard or root == self.prefix + "/trunk":
            return "refs/heads/master"
        kind, name = root[len(self.prefix) + 1:].split("/", 1)
        name = ref_component(name)
        return f"refs/tags/{name}" if kind == "tags" else f"refs/heads/{name}"


# -- the fast-import process ---------------------------------------------

class FastImport:
    """``git fast-import`` writing into the target, run with `run_tool`.

    Its answers to ``ls`` come back on its standard output.
    """

    def __init__(self, target, env, marks: str, export: str):
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        self._fds = [stdin_r, stdout_w]
        self.out = os.fdopen(stdin_w, "wb", buffering=1 << 20)
        self._answers = os.fdopen(stdout_r, "rb")
        self.error = None
        argv = ["git", f"--git-dir={target.path}", "fast-import", "--quiet",
                "--force", "--done", "--date-format=raw",
                f"--import-marks-if-exists={marks}",
                f"--export-marks={export}", "--cat-blob-fd=1"]

        def run():
            try:
                run_tool(argv, env=env, stdin=stdin_r, stdout=stdout_w)
            except BaseException as error:  # reported by finish()
                self.error = error
            finally:
                # No more answers: a reader waiting for one sees the end.
                os.close(stdout_w)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        try:
            self.out.write(data)
        except BrokenPipeError:
            self.finish()

    def ls(self, dataref: str, path: str) -> tuple[str, str] | None:
        """``(mode, sha)`` of `path` in commit `dataref`, or None."""
        self.write(b"ls %s %s\n" % (dataref.encode(), _quote(path)))
        try:
            self.out.flush()
        except BrokenPipeError:
            self.finish()
        answer = self._answers.readline()
        if not answer:
            self.finish()
            raise ConversionError("git fast-import stopped answering")
        if answer.startswith(b"missing "):
            return None
        mode, _kind, sha = answer.split(b"\t", 1)[0].split(b" ")
        return mode.decode(), sha.decode()

    def finish(self) -> None:
        """Close the stream and wait; raise if fast-import failed."""
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.out.write(b"done\n")
            self.out.close()
        self._thread.join()
        os.close(self._fds[0])
        self._answers.close()
        if self.error is not None:
            error, self.error = self.error, None
            if isinstance(error, ToolFailed):
                raise ConversionError(
                    f"Writing the Git history failed: {error}") from None
            raise error

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.out.close()
        self._thread.join()
        for fd in self._fds[:1]:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(Exception):
            self._answers.close()


# -- the converter -------------------------------------------------------

class SvnConverter(Converter):
    """Subversion into Git; see the module documentation."""

    rcs = "bzr-svn"
    progress_unit = "r"

    def convert(self, limit):
        self._checkScheme()
        source = SvnSource(self.request.url)
        state = self._loadState(source)
        if state["last"] >= source.youngest:
            if state["last"] > source.youngest:
                raise SourceBroken(
                    f"The repository at {source.url} has gone back from "
                    f"r{state['last']} to r{source.youngest}.")
            self.say(f"Up to date at r{state['last']}.")
            return Outcome(complete=True, done=0)
        self.say(f"Importing r{state['last'] + 1}..r{source.youngest} of "
                 f"{source.url} ({state['layout']} layout).")
        run = _Run(self, source, state)
        return run.convert(limit)

    def _checkScheme(self):
        scheme = urllib.parse.urlsplit(self.request.url).scheme.lower()
        if scheme not in ("svn", "http", "https", "file"):
            raise SourceInvalid(
                f"{self.request.url} is not a Subversion URL (svn://, "
                "http://, https:// or, where allowed, file://).")

    def _loadState(self, source: SvnSource) -> dict:
        path = self.target.statePath(STATE)
        try:
            with open(path, encoding="utf-8") as stream:
                state = json.load(stream)
        except FileNotFoundError:
            state = None
        if state is not None:
            if state.get("version") != STATE_VERSION:
                raise ConversionError(
                    f"Unknown Subversion import state in {path}.")
            if state["uuid"] != source.uuid:
                raise SourceBroken(
                    f"The repository at {source.url} is not the one "
                    f"imported before (UUID {source.uuid}, was "
                    f"{state['uuid']}).")
            return state
        entries, _ = source.directory(source.prefix, source.youngest)
        standard = all(entries.get(name) == NODE_DIR
                       for name in ("trunk", "branches", "tags"))
        return {
            "version": STATE_VERSION,
            "uuid": source.uuid,
            "prefix": source.prefix,
            "layout": "standard" if standard else "single",
            "last": 0,
            "next_mark": 1,
            # root -> [[rev, mark, event]]: event "c" created, "d" deleted
            "history": {},
            # root -> {"mark", "tagger", "date", "message"}
            "tags": {},
            # backup ref -> {"mark"} or a tag record
            "backups": {},
            # root -> {source root: last merged revision}
            "merged": {},
        }

    def exportTree(self, ref, destination):
        state = self._savedState()
        layout = Layout(state["prefix"], state["layout"] == "standard")
        roots = [root for root, history in state["history"].items()
                 if not layout.isTag(root) and history
                 and history[-1][2] != "d" and layout.ref(root) == ref]
        if not roots:
            raise Unsupported(f"{ref} has no Subversion branch to export")
        source = SvnSource(self.request.url)
        dest = os.fsencode(destination)
        for rel, content, props in source.walk(roots[0], state["last"]):
            path = os.path.join(dest, rel.encode("utf-8"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            mode, blob = file_mode(content, props)
            if mode == "120000":
                os.symlink(blob, path)
                continue
            with open(path, "wb") as stream:
                stream.write(blob)
            os.chmod(path, 0o755 if mode == "100755" else 0o644)

    def _savedState(self) -> dict:
        with open(self.target.statePath(STATE), encoding="utf-8") as stream:
            return json.load(stream)


class _Run:
    """One run of `SvnConverter.convert`: revisions into one stream."""

    def __init__(self, converter: SvnConverter, source: SvnSource,
                 state: dict):
        self.converter = converter
        self.source = source
        self.state = state
        self.layout = Layout(state["prefix"], state["layout"] == "standard")
        self.target = converter.target
        self.authors = converter.authors

    # -- the run ---------------------------------------------------------

    def convert(self, limit):
        marks = self.target.statePath(MARKS)
        export = marks + ".new"
        self.fi = FastImport(self.target, self.converter.env, marks, export)
        done = 0
        start = self.state["last"] + 1
        end = self.source.youngest
        last = self.state["last"]
        try:
            for rev, paths, props in self.source.log(start, end, limit or 0):
                self._revision(rev, paths, props)
                done += 1
                last = rev
                self.converter.progress(rev, end, done=done)
            self.fi.finish()
        except BaseException:
            self.fi.abort()
            with contextlib.suppress(OSError):
                os.unlink(export)
            raise
        # Revisions that touch nothing here are not in the log: when the
        # log ended before the limit, everything up to `end` is done.
        complete = not limit or done < limit or last >= end
        if complete:
            last = end
        self.converter.progress(last, end, done=done, final=True)
        shas = _read_marks(export)
        self._stageRefs(shas)
        os.replace(export, marks)
        self.state["last"] = last
        _write_json(self.target.statePath(STATE), self.state)
        return Outcome(complete=complete, done=done)

    # -- one revision ----------------------------------------------------

    def _revision(self, rev, paths, props):
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
        return [root for root, history in self.state["history"].items()
                if history and history[-1][2] != "d"]

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
        history = self.state["history"].get(root)
        if not history or history[-1][2] == "d":
            return None
        return history[-1][1]

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
            ops.append(b"D %s\n" % _quote(rel))
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
                    found[0].encode(), found[1].encode(), _quote(rel)))
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
            mode.encode(), _quote(rel), len(blob), blob)

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
            if all(_covered(rev, spans) for rev, _, _ in lineage
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

    # -- refs --------------------------------------------------------------

    def _stageRefs(self, shas: dict[int, str]):
        """Make the staged refs what the state says, in one transaction."""
        wanted = {}
        for root in self._liveRoots():
            if not self.layout.isTag(root):
                wanted[self.layout.ref(root)] = shas[self._tip(root)]
        tag_objects = {}
        for root, tag in self.state["tags"].items():
            name = self.layout.ref(root)
            tag_objects[name] = self._tagObject(
                name.split("/", 2)[2], tag, shas)
        for ref, backup in self.state["backups"].items():
            if "tagger" in backup:
                tag_objects[ref] = self._tagObject(backup["name"], backup,
                                                   shas)
            else:
                wanted[ref] = shas[backup["mark"]]
        wanted.update(self._writeTags(tag_objects))
        staged = self.target.stagedRefs()
        lines = [f"update {self.converter.stagingRef(ref)} {sha}"
                 for ref, sha in sorted(wanted.items())
                 if staged.get(ref) != sha]
        lines += [f"delete {self.converter.stagingRef(ref)}"
                  for ref in sorted(staged.keys() - wanted.keys())]
        lines.append(f"delete {SCRATCH_REF}")
        self._git(["update-ref", "--stdin"],
                  ("\n".join(lines) + "\n").encode("utf-8"))

    @staticmethod
    def _tagObject(name, tag, shas) -> bytes:
        message = tag["message"].encode("utf-8", "surrogateescape")
        if not message.endswith(b"\n"):
            message += b"\n"
        return (b"object %s\ntype commit\ntag %s\ntagger %s\n\n%s" % (
            shas[tag["mark"]].encode(), name.encode("utf-8"),
            tag["tagger"].encode("utf-8"), message))

    def _writeTags(self, objects: dict[str, bytes]) -> dict[str, str]:
        if not objects:
            return {}
        with tempfile.TemporaryDirectory(
                dir=self.converter.work_dir) as scratch:
            names = sorted(objects)
            paths = []
            for number, ref in enumerate(names):
                path = os.path.join(scratch, str(number))
                with open(path, "wb") as stream:
                    stream.write(objects[ref])
                paths.append(path)
            output = self._git(["hash-object", "-t", "tag", "-w",
                                "--stdin-paths"],
                               ("\n".join(paths) + "\n").encode())
        shas = output.split()
        return dict(zip(names, (sha.decode() for sha in shas)))

    def _git(self, args, data: bytes) -> bytes:
        out_r, out_w = os.pipe()
        with tempfile.TemporaryFile(dir=self.converter.work_dir) as stdin:
            stdin.write(data)
            stdin.seek(0)
            result = []
            reader = threading.Thread(
                target=lambda: result.append(os.fdopen(out_r, "rb").read()))
            reader.start()
            try:
                run_tool(["git", f"--git-dir={self.target.path}", *args],
                         env=self.converter.env, stdin=stdin.fileno(),
                         stdout=out_w)
            except ToolFailed as error:
                raise ConversionError(
                    f"Writing the Git refs failed: {error}") from None
            finally:
                os.close(out_w)
                reader.join()
        return result[0] if result else b""


def _read_marks(path: str) -> dict[int, str]:
    shas = {}
    with contextlib.suppress(FileNotFoundError):
        with open(path) as stream:
            for line in stream:
                mark, sha = line.split()
                shas[int(mark[1:])] = sha
    return shas


def _write_json(path: str, data) -> None:
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path),
                                     prefix=".svn-state-")
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        json.dump(data, stream, separators=(",", ":"))
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


class SvnImporter(ConvertingImporter):
    """Imports a Subversion repository into a Git target."""

    converter_class = SvnConverter
