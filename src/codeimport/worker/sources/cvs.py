"""The CVS importer: a CVSROOT and module into Git.

How: our own client of the CVS protocol (`cvsclient`) reads the module's
``rlog`` and then each needed file revision (``co -ko -r N``, one
request per revision number for all files that have it) over a single
connection, and we write a ``git fast-import`` stream from them.
``cvs-fast-export`` needs the ``,v`` files, which a pserver does not
give out, and crashes on non-ASCII author ids; ``git cvsimport`` works
over pserver but about 7 changesets/s and only into a work tree.

Mapping (see `cvslog` for the details): the module's HEAD becomes
``master``, each CVS branch a branch, each CVS tag a lightweight tag.
A tag or a branch start that equals the tree of some commit points at
that commit; otherwise a commit is made for it on top of the nearest
one (CVS can tag any mix of file revisions).

State (`STATE`, in the target's state directory, written only after
``git fast-import`` succeeded): the converted file revisions, and for
each commit its line, id and changes, so any machine can continue and a
new tag on old history finds its commit.

Recent changesets: a changeset is converted only once its newest
revision is `SETTLE` seconds old (the grouping window plus 5 minutes of
clock skew between the server and us), so a commit still being written,
or a changeset still growing inside the window, is neither missed nor
split; the log says how many wait.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import shutil
import tempfile

from codeimport.worker.conversion import Converter
from codeimport.worker.conversion import ConvertingImporter
from codeimport.worker.conversion import Outcome
from codeimport.worker.conversion import SourceBroken
from codeimport.worker.conversion import SourceForbidden
from codeimport.worker.conversion import SourceInvalid
from codeimport.worker.conversion import Unsupported
from codeimport.worker.sources import cvslog
from codeimport.worker.sources.cvsclient import CVSConnection
from codeimport.worker.sources.cvsclient import CVSProtocolError
from codeimport.worker.sources.cvsclient import CVSServerError
from codeimport.worker.sources.cvsclient import parse_cvsroot
from codeimport.worker.sources.cvsclient import scramble
from codeimport.worker.sources.cvswriter import Lines
from codeimport.worker.sources.cvswriter import Writer
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_tool

__all__ = ["CVSConverter", "CVSImporter", "SETTLE"]

STATE = "cvs.json"
#: Seconds a changeset must be old to be converted (module doc).
SETTLE = cvslog.WINDOW + 300
_MODULE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_/.+-]*$")


def _file_to_json(f: cvslog.FileLog) -> dict:
    """`f` as JSON data (bytes kept through Latin-1), for the state."""
    return {
        "path": f.path, "head": f.head, "rcs": f.rcs_name,
        "branch": f.default_branch, "keyword": f.keyword,
        "symbols": f.symbols,
        "revisions": {
            n: [r.time, r.author.decode("latin-1"), r.state,
                r.message.decode("latin-1"), r.commitid]
            for n, r in f.revisions.items()},
    }


def _file_from_json(data: dict) -> cvslog.FileLog:
    """The `FileLog` `_file_to_json` stored."""
    f = cvslog.FileLog(
        data["path"], head=data["head"], rcs_name=data["rcs"],
        default_branch=data["branch"], keyword=data["keyword"],
        symbols=dict(data["symbols"]))
    for number, (when, author, state, message, commitid) in data[
            "revisions"].items():
        f.revisions[number] = cvslog.Revision(
            f.path, number, when, author.encode("latin-1"), state,
            message.encode("latin-1"), commitid)
    return f


def _cvs_date(stamp: int) -> str:
    return datetime.datetime.fromtimestamp(
        stamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class CVSConverter(Converter):
    """See the module doc."""

    rcs = "cvs"
    progress_unit = "changeset "
    settle = SETTLE

    # -- the source --

    def _root(self):
        try:
            root = parse_cvsroot(self.request.url)
        except ValueError:
            raise SourceInvalid(
                "Not a CVSROOT this importer can read: expected "
                ":pserver:user@host[:port]/path.") from None
        if root.method in ("local", "fork"):
            if not self.policy.allow_local:
                raise SourceForbidden(
                    f"Forbidden CVSROOT {root.display!r}: local roots are "
                    f"not allowed by the {self.policy.name} policy")
        elif root.method != "pserver":
            raise Unsupported(
                f"CVS access method {root.method!r} is not supported; "
                "use :pserver:.")
        elif self.policy.isExcluded(root.host):
            raise SourceForbidden(
                f"Forbidden CVSROOT {root.display!r}: host {root.host} "
                "is excluded")
        module = self.request.cvs_module or ""
        if not _MODULE.match(module) or ".." in module.split("/"):
            raise SourceInvalid(f"Not a CVS module name: {module!r}.")
        if self.credentials is not None and root.password is None:
            # The CVSROOT names the user; the password is kept apart.
            root = dataclasses.replace(root,
                                       password=self.credentials.password)
        return root

    def _connect(self, root) -> CVSConnection:
        try:
            return CVSConnection(root, self.env,
                                 addresses=self.policy.addresses)
        except CVSProtocolError as error:
            raise SourceInvalid(
                f"Cannot read CVS repository {root.display}: {error}."
            ) from None
        except CVSServerError as error:
            raise SourceInvalid(
                f"Cannot read CVS repository {root.display}: {error}."
            ) from None

    def _rlog(self, connection, root, paths, module) -> list:
        try:
            files = cvslog.parse_rlog(connection.rlog(paths), root.path)
        except CVSServerError as error:
            if any("cannot find module" in m or "no such" in m.lower()
                   for m in error.messages) or not error.messages:
                raise SourceInvalid(
                    f"CVS module {module!r} does not exist in "
                    f"{root.display}.") from None
            raise SourceBroken(
                f"CVS repository {root.display} cannot be read: "
                f"{error}.") from None
        except CVSProtocolError as error:
            raise SourceBroken(
                f"Reading the history of {module!r} failed: {error}."
            ) from None
        except cvslog.RlogError as error:
            raise SourceBroken(
                f"The history of {module!r} is not readable: {error}."
            ) from None
        return files

    # -- state --

    def _load_state(self) -> dict:
        try:
            with open(self.target.statePath(STATE)) as stream:
                return json.load(stream)
        except FileNotFoundError:
            return {"version": 1, "converted": {}, "commits": [],
                    "symbols": {}, "cut": None}

    def _save_state(self, state: dict) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.target.state_dir,
                                         prefix=".cvs-")
        with os.fdopen(fd, "w") as stream:
            stream.write(json.dumps(state, separators=(",", ":")))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.target.statePath(STATE))

    # -- converting --

    def convert(self, limit: int | None) -> Outcome:
        root = self._root()
        self._cvsroot = root
        module = self.request.cvs_module
        state = self._load_state()
        self._cut = state.get("cut")
        with self._connect(root) as connection:
            headers = self._headers(connection, root, module)
            digest = hashlib.sha1(json.dumps(
                headers, sort_keys=True).encode()).hexdigest()
            if headers and digest == state.get("headers"):
                # No file has a new revision or symbol since a run that
                # left nothing waiting: nothing to read.
                return Outcome(complete=True, done=0)
            outcome, waiting = self._convert(connection, root, module,
                                             state, limit, headers)
        state["headers"] = (
            digest if outcome.complete and not waiting else None)
        # Without a complete header list the cached logs cannot be
        # matched to files next time.
        if not headers:
            state.pop("files", None)
        self._save_state(state)
        return outcome

    def _headers(self, connection, root, module) -> dict[str, str]:
        """``{RCS file name: digest of its rlog header}`` (head, symbols,
        number of revisions): it changes with any commit or tag."""
        headers = {}
        name, digest = None, None
        try:
            for line in connection.rlog(module, headers_only=True):
                if line.startswith(b"RCS file: "):
                    if name is not None:
                        headers[name] = digest.hexdigest()
                    name = line[10:].decode("utf-8", "surrogateescape")
                    digest = hashlib.sha1()
                elif digest is not None:
                    digest.update(line + b"\n")
        except (CVSServerError, CVSProtocolError):
            # The full rlog explains the problem.
            return {}
        if name is not None:
            headers[name] = digest.hexdigest()
        return headers

    def _files(self, connection, root, module, state, headers):
        """Every file's log: the files whose header changed (all, the
        first time or when most did) read again, the others from the
        state."""
        cached = state.get("files", {})
        changed = [name for name, digest in headers.items()
                   if cached.get(name, {}).get("digest") != digest]
        if not headers or 2 * len(changed) > len(headers):
            files = self._rlog(connection, root, [module], module)
        else:
            prefix = root.path.rstrip("/") + "/"
            paths = []
            for name in changed:
                parts = name[len(prefix):-2].split("/")
                if len(parts) > 1 and parts[-2] == "Attic":
                    del parts[-2]
                paths.append("/".join(parts))
            files = self._rlog(connection, root, paths, module) if (
                paths) else []
            fresh = {f.rcs_name for f in files}
            files += [_file_from_json(cached[name]["file"])
                      for name in headers
                      if name not in fresh and name in cached]
        state["files"] = {
            f.rcs_name: {"digest": headers.get(f.rcs_name),
                         "file": _file_to_json(f)}
            for f in files}
        return cvslog.History(files)

    def _convert(self, connection, root, module, state, limit, headers):
        converted = {p: set(r) for p, r in state["converted"].items()}
        lines = Lines()
        for line, commit, changes, base in state["commits"]:
            lines.add(line, commit, changes, base)
        history = self._files(connection, root, module, state, headers)
        pending = [
            r for r in history.revisions
            if r.number not in converted.get(r.path, ())
        ]
        changesets = cvslog.group_changesets(pending)
        settled = sum(1 for c in changesets
                      if c.time <= cvslog.now() - self.settle)
        ready = cvslog.clean_cut(changesets, settled, forward=False)
        waiting = len(changesets) - ready
        count = ready
        if limit is not None and limit < ready:
            count = cvslog.clean_cut(changesets, limit, forward=True)
        if waiting:
            self.say(f"{waiting} recent changesets wait until they are "
                     f"{self.settle // 60} minutes old.")
        writer = Writer(self, connection, history, lines, converted,
                        state, module)
        try:
            before = len(state["commits"])
            writer.run(changesets[:count], waiting=ready - count)
            if count:
                self._cut = max(state.get("cut") or 0,
                                max(c.time for c in changesets[:count]))
            writer.symbols(history)
            if writer.empty():
                return Outcome(complete=count == ready, done=0), waiting
            writer.finish()
        finally:
            writer.close()
        state["cut"] = self._cut
        state["converted"] = {p: sorted(r) for p, r in converted.items()}
        self.say(f"Converted {count} changesets "
                 f"({len(state['commits']) - before} commits).")
        return Outcome(complete=count == ready, done=count), waiting

    # -- the fidelity check --

    def exportTree(self, ref: str, destination: str) -> None:
        """``cvs export -ko`` of the line as of the newest converted
        changeset (``-D``), branches with ``-r``."""
        name = ref[len("refs/heads/"):]
        if name.startswith("unlabeled-") or self._cut is None:
            raise Unsupported(f"{ref} has no CVS name to export")
        root = self._cvsroot
        arguments = ["-D", _cvs_date(self._cut)]
        if ref != self.head:
            arguments += ["-r", name]
        env = dict(self.env)
        if root.method == "pserver":
            passfile = os.path.join(env["HOME"], ".cvspass")
            with open(passfile, "w") as stream:
                stream.write(f"/1 {root.display} "
                             f"{scramble(root.password or '')}\n")
            os.chmod(passfile, 0o600)
            env["CVS_PASSFILE"] = passfile
        scratch = tempfile.mkdtemp(dir=self.work_dir, prefix="export-")
        try:
            run_tool(["cvs", "-f", "-Q", "-d", root.display, "export",
                      "-ko", *arguments, "-d", "tree", "--",
                      self.request.cvs_module],
                     env=env, cwd=scratch, timeout=3600)
            tree = os.path.join(scratch, "tree")
            if os.path.isdir(tree):
                for directory, subdirs, _ in os.walk(tree):
                    if "CVS" in subdirs:
                        shutil.rmtree(os.path.join(directory, "CVS"))
                        subdirs.remove("CVS")
                for entry in os.listdir(tree):
                    os.rename(os.path.join(tree, entry),
                              os.path.join(destination, entry))
        except ToolFailed as error:
            raise SourceBroken(
                f"cvs export of {ref} failed: {error}") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


class CVSImporter(ConvertingImporter):
    """CVS into Git."""

    converter_class = CVSConverter
