"""Mercurial imports: a local mirror kept up to date with Mercurial itself,
converted by our own exporter on Mercurial's API into ``git fast-import``.

Each run (see `HgConverter.convert`) is one program,
``python -m codeimport.worker.sources.hgexport``, piped into ``git
fast-import``:

1. it brings the source's new changesets into a mirror kept in the
   target's state directory (``codeimport/hg-mirror``), so that any
   machine can continue the import: ``hg clone --stream`` the first
   time, ``hg pull`` after.  It always takes everything: the mirror then
   numbers changesets exactly as the server does, which is what makes a
   chunked import equal a one-shot one (a branch's tip is its
   highest-numbered head, as in Mercurial).  Bookmarks are cleared
   first, so the mirror has exactly the source's bookmarks;
2. it writes the changesets not converted yet (at most the run's
   limit, in revision order) as a fast-import stream; ``git
   fast-import`` adds them to the target.  Changeset ``r`` is mark
   ``:r+1`` in ``codeimport/hg.marks``;
3. the branch heads, bookmarks and tags of the converted history become
   staged refs (`plan_refs`, the mapping below); the marks and
   ``codeimport/hg.json`` are replaced only after all this succeeded.

The mapping (also in the README):

* the tip of the ``default`` branch is ``master`` (and HEAD); the tip of
  another named branch ``B`` is ``branches/B``.  A branch's tip is its
  highest-numbered open head, or its highest head when all are closed
  (as ``hg update B`` chooses), so closed branches are kept;
* every other head of a branch, open or closed, that no bookmark points
  at is ``heads/B/<12 hex digits of its node>``: nothing is dropped;
* a bookmark ``X`` is ``X``, unless that name is ``master`` or starts
  with ``branches/``, ``heads/`` or ``bookmarks/``, or is already taken:
  then ``bookmarks/X``;
* tags (``.hgtags``, as Mercurial reads them) are lightweight tags.

Names Git cannot hold are escaped: characters Git forbids (and ``%``)
become ``%XX``, as do a leading ``.``, ``..``, ``@{`` and a ``.lock``
ending.  When two names still clash, the later one (branch tips first,
then bookmarks, then extra heads; each in name order) gets its slashes
escaped, then a ``-<node>`` suffix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from codeimport.access import split_location
from codeimport.worker.conversion import Converter
from codeimport.worker.conversion import ConvertingImporter
from codeimport.worker.conversion import Outcome
from codeimport.worker.conversion import SourceBroken
from codeimport.worker.conversion import SourceInvalid
from codeimport.worker.conversion import Unsupported
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_pipeline
from codeimport.worker.tools import run_tool

__all__ = ["HgConverter", "HgImporter", "escape_ref_name", "plan_refs"]

HG_SCHEMES = frozenset({"http", "https", "file"})
MIRROR = "hg-mirror"
MARKS = "hg.marks"
STATE = "hg.json"
SCRATCH_PREFIX = "refs/codeimport/hg-scratch/"
BROKEN_EXIT = 3
PULL_FAILED_EXIT = 4
# Bookmarks never take these names (they belong to named branches).
RESERVED = ("branches/", "heads/", "bookmarks/")

# What hg says when the source is not there or is no repository.
_MISSING = re.compile(
    r"HTTP Error 40[134]|does not appear to be an hg repository|"
    r"repository .* not found|no suitable response|^error: |"
    r"Name or service not known|Connection refused|timed out|"
    r"unknown revision|not a Mercurial bundle|unsupported URL|"
    r"No such file or directory|certificate|authorization failed",
    re.IGNORECASE,
)


# -- the mapping --------------------------------------------------------

_FORBIDDEN = set(' ~^:?*[\\%\x7f') | {chr(c) for c in range(32)}


def escape_ref_name(name: str, slashes: bool = False) -> str:
    """`name` as a valid Git ref name (the part after ``refs/heads/``).

    Characters Git forbids become ``%XX`` (``%`` itself too, so that no
    two names meet); so do slashes when `slashes` is true or when they
    would leave an empty component.
    """
    if slashes or not name or any(
            part == "" for part in name.split("/")):
        slashes = True
    out = []
    for char in name:
        if char in _FORBIDDEN or (slashes and char == "/"):
            out.append("".join(f"%{byte:02X}" for byte in char.encode()))
        else:
            out.append(char)
    parts = []
    for part in "".join(out).split("/"):
        part = part.replace("..", ".%2E").replace("@{", "@%7B")
        if part.startswith("."):
            part = "%2E" + part[1:]
        if part.endswith(".lock"):
            part = part[:-5] + "%2Elock"
        if part.endswith("."):
            part = part[:-1] + "%2E"
        if part == "@":
            part = "%40"
        parts.append(part)
    return "/".join(parts) or "%"


class _Names:
    """Ref names handed out so far, refusing clashes (equal names, or a
    name that is a directory of another, which Git cannot store)."""

    def __init__(self):
        self.names: dict[str, dict] = {}
        self._dirs: set[str] = set()

    def clashes(self, name: str) -> bool:
        if name in self.names or name in self._dirs:
            return True
        parts = name.split("/")
        return any("/".join(parts[:i]) in self.names
                   for i in range(1, len(parts)))

    def claim(self, candidates: list[str], target: dict) -> str:
        for name in candidates:
            if not self.clashes(name):
                break
        else:
            base, number = candidates[-1], 2
            while self.clashes(f"{base}-{number}"):
                number += 1
            name = f"{base}-{number}"
        self.names[name] = target
        parts = name.split("/")
        self._dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        return name


def branch_tip(heads: list[dict]) -> dict:
    """The head ``hg update BRANCH`` goes to: the highest open one, or
    the highest one when the branch is closed."""
    open_heads = [head for head in heads if not head["closed"]]
    return max(open_heads or heads, key=lambda head: head["rev"])


def _candidates(prefix: str, name: str, node: str) -> list[str]:
    return [prefix + escape_ref_name(name),
            prefix + escape_ref_name(name, slashes=True),
            prefix + escape_ref_name(name, slashes=True) + "-" + node[:12]]


def plan_refs(description: dict) -> dict[str, dict]:
    """Git refs for the exporter's description of the converted history.

    :param description: ``{"branches": {name: [head, ...]}, "bookmarks":
        {name: {node, rev}}, "tags": {name: {node, rev}}}``, a head being
        ``{node, rev, closed}``.
    :return: ``{"refs/heads/master": {"node", "rev"}, ...}``.
    """
    heads = _Names()
    branches = description["branches"]
    tips = {}
    for name in sorted(branches, key=lambda b: (b != "default", b)):
        tip = branch_tip(branches[name])
        tips[name] = tip["node"]
        if name == "default":
            candidates = ["master"] + _candidates("branches/", name,
                                                  tip["node"])
        else:
            candidates = _candidates("branches/", name, tip["node"])
        heads.claim(candidates, tip)
    bookmarked = set()
    for name, mark in sorted(description["bookmarks"].items()):
        bookmarked.add(mark["node"])
        plain = escape_ref_name(name)
        candidates = _candidates("bookmarks/", name, mark["node"])
        if plain != "master" and not plain.startswith(RESERVED):
            candidates.insert(0, plain)
        heads.claim(candidates, mark)
    for name in sorted(branches):
        for head in sorted(branches[name], key=lambda h: h["rev"]):
            if head["node"] == tips[name] or head["node"] in bookmarked:
                continue
            prefix = f"heads/{escape_ref_name(name, slashes=True)}/"
            heads.claim([prefix + head["node"][:12], prefix + head["node"]],
                        head)
    tags = _Names()
    for name, tag in sorted(description["tags"].items()):
        tags.claim(_candidates("", name, tag["node"]), tag)
    refs = {"refs/heads/" + name: {"node": t["node"], "rev": t["rev"]}
            for name, t in heads.names.items()}
    refs.update({"refs/tags/" + name: {"node": t["node"], "rev": t["rev"]}
                 for name, t in tags.names.items()})
    return refs


# -- the converter ------------------------------------------------------

class HgConverter(Converter):
    """Converts a Mercurial repository (http, https, or a local path
    under the ``anything`` policy) into Git; see the module doc."""

    rcs = "hg"
    progress_unit = "changesets "

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mirror = self.target.statePath(MIRROR)
        self._nodes: dict[str, str] = {}

    # The steps of one run.

    def convert(self, limit: int | None) -> Outcome:
        url = self.request.url
        scheme, _ = split_location(url)
        if scheme not in HG_SCHEMES:
            raise Unsupported(
                f"Mercurial imports cannot read {scheme} URLs: {url}")
        state = self._readState()
        self._prepareMirror()
        self.say(f"Pulling from {url}")
        first = state["converted"]
        unchanged_if = None
        staged = self.target.stagedRefs()
        if (state.get("complete") and staged
                and staged == self.target.publishedRefs()):
            # A run whose fidelity check failed left its refs staged,
            # unpublished: those are checked again, never skipped.
            unchanged_if = state.get("fingerprint")
        description = self._export(first, limit or 0, unchanged_if)
        if description.get("unchanged"):
            # Neither changesets nor bookmarks changed since a complete
            # run: the staged refs are still right.
            return Outcome(complete=True, done=0)
        total, converted = description["total"], description["converted"]
        if converted < first:
            raise SourceBroken(
                f"The repository at {url} has {total} changesets, fewer "
                f"than the {first} already imported: its history was "
                "rewritten.")
        refs = plan_refs(description)
        self._stage(refs)
        self._nodes = {name: ref["node"] for name, ref in refs.items()}
        self.head = ("refs/heads/master" if "refs/heads/master" in refs
                     else self.head)
        self._commitState({"converted": converted,
                           "complete": converted == total,
                           "fingerprint": description["fingerprint"]})
        done = converted - first
        self.say(f"Converted {done} changesets ({converted} of {total}).")
        return Outcome(complete=converted == total, done=done)

    def exportTree(self, ref: str, destination: str) -> None:
        if not self.exportTrees({ref: destination}):
            raise Unsupported(f"{ref} has no Mercurial counterpart")

    def exportTrees(self, exports: dict[str, str]) -> list[str]:
        """``hg archive`` of each ref's changeset, all in one process."""
        pairs = []
        for ref, destination in exports.items():
            if ref in self._nodes:
                pairs += [self._nodes[ref], destination]
        if pairs:
            try:
                run_tool([sys.executable, "-m",
                          "codeimport.worker.sources.hgexport", "archive",
                          self.mirror, *pairs], env=self.env)
            except ToolFailed as error:
                raise SourceBroken(
                    f"hg archive failed: {_abort_message(error.tail)}"
                ) from None
        return [ref for ref in exports if ref in self._nodes]

    # Helpers.

    def _readState(self) -> dict:
        try:
            with open(self.target.statePath(STATE)) as stream:
                state = json.load(stream)
        except FileNotFoundError:
            return {"converted": 0}
        if not os.path.exists(self.target.statePath(MARKS)):
            return {"converted": 0}
        return state

    def _prepareMirror(self) -> None:
        mirror = self.mirror
        # Only this run writes here (the target is locked), so a lock
        # is left over from a killed run, maybe on another machine.
        for lock in (".hg/wlock", ".hg/store/lock"):
            path = os.path.join(mirror, lock)
            if os.path.lexists(path):
                os.unlink(path)
        # The pull brings the source's bookmarks; none of ours may stay
        # (hg pull keeps a bookmark the source deleted).
        for name in ("bookmarks", "bookmarks.current"):
            path = os.path.join(mirror, ".hg", name)
            if os.path.exists(path):
                os.unlink(path)

    def _pullEnvironment(self) -> dict[str, str]:
        """The exporter's environment: for a private source, a private
        configuration (mode 0600, ``HGRCPATH``) whose ``[auth]`` section
        gives the credentials for the source's URL only, so they are in
        no argument and no message, and go to no other server."""
        if self.credentials is None:
            return self.env
        path = os.path.join(self.work_dir, "hgrc")
        if os.path.exists(path):
            return dict(self.env, HGRCPATH=path)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write("[auth]\n"
                         f"source.prefix = {self.request.url}\n"
                         f"source.username = {self.credentials.username}\n"
                         f"source.password = {self.credentials.password}\n")
        return dict(self.env, HGRCPATH=path)

    def _pullFailed(self, output: str) -> None:
        url = self.request.url
        message = _abort_message(output)
        if _MISSING.search(message):
            raise SourceInvalid(
                f"Cannot read the Mercurial repository at {url}: "
                f"{message}") from None
        raise SourceBroken(
            f"The Mercurial repository at {url} is broken: "
            f"{message}") from None

    def _export(self, first: int, limit: int, unchanged_if) -> dict:
        refs_path = os.path.join(self.work_dir, "hg-refs.json")
        new_marks = os.path.join(self.work_dir, "hg.marks")
        producer = [sys.executable, "-m",
                    "codeimport.worker.sources.hgexport",
                    f"--pull={self.request.url}"]
        if unchanged_if:
            producer.append(f"--unchanged-if={unchanged_if}")
        if self.authors:
            authors_path = os.path.join(self.work_dir, "hg-authors.json")
            with open(authors_path, "w", encoding="utf-8") as stream:
                json.dump(self.authors, stream)
            producer.append(f"--authors={authors_path}")
        producer += ["--", self.mirror, str(first), str(limit), refs_path]
        consumer = ["git", f"--git-dir={self.target.path}", "fast-import",
                    "--quiet", "--done", "--force",
                    f"--export-marks={new_marks}"]
        marks = self.target.statePath(MARKS)
        if first and os.path.exists(marks):
            consumer.append(f"--import-marks={marks}")
        messages = []

        def on_line(line: str) -> None:
            if line.startswith("progress "):
                _, done, total = line.split()
                self.progress(int(done), int(total), done=int(done) - first)
            else:
                messages.append(line)

        try:
            run_pipeline(producer, consumer, env=self._pullEnvironment(),
                         consumer_env=self.env, on_line=on_line)
        except ToolFailed as error:
            detail = "; ".join(messages) or error.tail
            if error.returncode == PULL_FAILED_EXIT and error.argv == producer:
                self._pullFailed("\n".join(messages))
            if error.returncode == BROKEN_EXIT and error.argv == producer:
                # Fetch it afresh next time: a repaired source cannot
                # repair what the mirror already holds.
                shutil.rmtree(self.mirror, ignore_errors=True)
                raise SourceBroken(
                    f"The Mercurial repository at {self.request.url} is "
                    f"broken: its history cannot be read ({detail})"
                ) from None
            raise
        with open(refs_path, encoding="utf-8") as stream:
            description = json.load(stream)
        self._new_marks = new_marks
        return description

    def _stage(self, refs: dict[str, dict]) -> None:
        marks = _read_marks(self._new_marks)
        wanted = {self.stagingRef(name): marks[ref["rev"] + 1]
                  for name, ref in refs.items()}
        current = self.target.refs("refs/codeimport/")
        lines = []
        for name, sha in sorted(wanted.items()):
            if current.get(name) != sha:
                lines.append(f"update {name} {sha}")
        for name in sorted(current):
            if name.startswith(SCRATCH_PREFIX) or (
                    name.startswith("refs/codeimport/staging/")
                    and name not in wanted):
                lines.append(f"delete {name}")
        if lines:
            script = "start\n" + "\n".join(lines) + "\nprepare\ncommit\n"
            subprocess.run(
                ["git", f"--git-dir={self.target.path}", "update-ref",
                 "--stdin"], input=script.encode("utf-8", "surrogateescape"),
                env=self.env, check=True, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)

    def _commitState(self, state: dict) -> None:
        os.replace(self._new_marks, self.target.statePath(MARKS))
        fd, temporary = tempfile.mkstemp(dir=self.target.state_dir,
                                         prefix=".hg-state-")
        with os.fdopen(fd, "w") as stream:
            json.dump(state, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.target.statePath(STATE))


class HgImporter(ConvertingImporter):
    """Imports a Mercurial repository into a Git target."""

    converter_class = HgConverter


def _read_marks(path: str) -> dict[int, str]:
    marks = {}
    with open(path) as stream:
        for line in stream:
            mark, sha = line.split()
            marks[int(mark[1:])] = sha
    return marks


def _abort_message(tail: str) -> str:
    """hg's own one-line reason (``abort: ...``) from its output."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("abort:"):
            return line[len("abort:"):].strip()
    return lines[-1] if lines else "no reason given"
