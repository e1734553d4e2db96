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

import contextlib
import json
import os
import socket
import tempfile
import urllib.parse

from codeimport.worker.conversion import ConversionError
from codeimport.worker.conversion import Converter
from codeimport.worker.conversion import ConvertingImporter
from codeimport.worker.conversion import Outcome
from codeimport.worker.conversion import SourceBroken
from codeimport.worker.conversion import SourceInvalid
from codeimport.worker.conversion import Unsupported
from codeimport.worker.fastimport import FastImport
from codeimport.worker.fastimport import read_marks
from codeimport.worker.sources.svn_history import HistoryWriter
from codeimport.worker.sources.svn_layout import Layout
from codeimport.worker.sources.svn_refs import stage_refs
from codeimport.worker.sources.svn_source import NODE_DIR
from codeimport.worker.sources.svn_source import SvnSource
from codeimport.worker.sources.svn_source import file_mode
from codeimport.worker.sources.svn_source import write_config

__all__ = ["SvnConverter", "SvnImporter"]

STATE = "svn-state.json"
MARKS = "svn-marks"
STATE_VERSION = 1


class SvnConverter(Converter):
    """Subversion into Git; see the module documentation."""

    rcs = "bzr-svn"
    progress_unit = "r"

    def convert(self, limit):
        self._checkScheme()
        source = self._source()
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
        return self._convert(source, state, limit)

    def _convert(self, source: SvnSource, state: dict, limit):
        layout = Layout(state["prefix"], state["layout"] == "standard")
        marks = self.target.statePath(MARKS)
        export = marks + ".new"
        fastimport = FastImport(self.target, self.env, marks, export)
        writer = HistoryWriter(source, state, layout, fastimport,
                               self.authors)
        done = 0
        end = source.youngest
        last = state["last"]
        log = source.log(last + 1, end, limit or 0)
        try:
            for rev, paths, props in log:
                writer.revision(rev, paths, props)
                done += 1
                last = rev
                self.progress(rev, end, done=done)
            fastimport.finish()
        except BaseException:
            log.close()
            fastimport.abort()
            with contextlib.suppress(OSError):
                os.unlink(export)
            raise
        # Revisions that touch nothing here are not in the log: when the
        # log ended before the limit, everything up to `end` is done.
        complete = not limit or done < limit or last >= end
        if complete:
            last = end
        self.progress(last, end, done=done, final=True)
        stage_refs(self, layout, state, read_marks(export))
        os.replace(export, marks)
        state["last"] = last
        _write_json(self.target.statePath(STATE), state)
        return Outcome(complete=complete, done=done)

    def _source(self) -> SvnSource:
        return SvnSource(self._connectURL(), write_config(
            os.path.join(self.work_dir, "svn-config"), self.env),
            credentials=self.credentials)

    def _connectURL(self) -> str:
        """The URL libsvn opens: for svn://, which no proxy carries, the
        host resolved and checked by the source address rule and replaced
        by the address that passed, so libsvn connects to that address
        and no other (http(s) goes through the egress proxy instead).

        :raises ForbiddenAddress: when the rule refuses the host.
        """
        url = self.request.url
        parts = urllib.parse.urlsplit(url)
        addresses = self.policy.addresses
        if parts.scheme.lower() != "svn" or addresses is None:
            return url
        try:
            targets = addresses.resolve(parts.hostname, parts.port or 3690)
        except OSError as error:
            raise SourceInvalid(
                f"Cannot reach {url}: {error.strerror or error}.") from None
        family, sockaddr = targets[0]
        host = f"[{sockaddr[0]}]" if family == socket.AF_INET6 else (
            sockaddr[0])
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"{host}:{sockaddr[1]}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

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
        except (OSError, ValueError) as error:
            raise ConversionError(
                f"Cannot read the Subversion import state {path}: "
                f"{error}") from None
        if state is not None:
            if not isinstance(state, dict) or state.get(
                    "version") != STATE_VERSION:
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
        source = self._source()
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
