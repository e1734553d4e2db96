"""Bazaar branches into Git: the ``bzr`` converter.

The branch at the import's URL becomes ``master`` (HEAD), its tags
become lightweight tags, merges stay merges.  The history is read by our
own exporter on Breezy's API (`codeimport.worker.sources.bzrstream`, run
as a program) and written by ``git fast-import``.  Why not Breezy's own
tools: ``brz fast-export`` cannot continue an export (its ``--marks``
mode crashes, its ``-r`` ranges drop parents already exported, and in
``--plain`` mode it loses directory renames), and ``git-remote-bzr`` is
about four times slower and cannot stop after N revisions.

State, kept in the target (`TargetRepository.statePath`), so any machine
can continue: ``bzr-revisions``, one ``<git sha> <bazaar revision id>``
line per converted revision.  It is rewritten only after ``git
fast-import`` succeeded and the staged refs were set, so a failed run
leaves it as it was (the next run converts the same revisions again, to
the same commits).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import urllib.parse

from codeimport.worker.conversion import ConversionError
from codeimport.worker.conversion import Converter
from codeimport.worker.conversion import ConvertingImporter
from codeimport.worker.conversion import Outcome
from codeimport.worker.conversion import SourceBroken
from codeimport.worker.conversion import SourceForbidden
from codeimport.worker.conversion import SourceInvalid
from codeimport.worker.conversion import Unsupported
from codeimport.worker.fastimport import read_marks
from codeimport.worker.sources import bzrsource
from codeimport.worker.sources import bzrstream
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_pipeline
from codeimport.worker.tools import run_tool

__all__ = ["BzrConverter", "BzrImporter", "git_tag_name"]

STATE_FILE = "bzr-revisions"
CACHE_DIRECTORY = "bzr-cache"
# Refs keeping the commits of a run that stopped inside a merge alive
# (not published: they are outside the staging namespace).
KEEP_PREFIX = "refs/codeimport/bzr/keep/"

_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)")


def git_tag_name(name: str) -> str | None:
    """`name` if Git can hold it as ``refs/tags/<name>``, else None."""
    if (not name or _BAD_REF.search(name) or name.startswith(("/", ".", "-"))
            or name.endswith(("/", ".")) or name == "@"):
        return None
    return name


class BzrConverter(Converter):
    """See the module doc."""

    rcs = "bzr"
    progress_unit = "r"

    def _driver(self, command: str, *args: str) -> list[str]:
        return [sys.executable, "-m", "codeimport.worker.sources.bzrstream",
                command, *args]

    def _policyFile(self) -> str:
        policy = self.policy
        path = os.path.join(self.work_dir, "bzr-policy.json")
        with open(path, "w", encoding="utf-8") as stream:
            json.dump({
                "name": policy.name,
                "schemes": (None if policy.allowed_schemes is None
                            else sorted(policy.allowed_schemes)),
                "local": policy.allow_local,
                "excluded": list(policy.excluded_hosts),
            }, stream)
        return path

    def _fail(self, error: ToolFailed, lines: list[str]) -> None:
        """Raise the conversion error the exporter's exit status names."""
        message = next((line[len("error: "):] for line in reversed(lines)
                        if line.startswith("error: ")), None)
        if error.returncode == bzrsource.EXIT_INVALID:
            raise SourceInvalid(f"Cannot import: {message}.") from None
        if error.returncode == bzrsource.EXIT_FORBIDDEN:
            raise SourceForbidden(f"Cannot import: {message}.") from None
        if error.returncode == bzrsource.EXIT_BROKEN:
            raise SourceBroken(f"Cannot import: {message}.") from None
        if error.returncode == bzrsource.EXIT_UNSUPPORTED:
            raise Unsupported(f"Cannot import: {message}.") from None
        if message is None:
            # Not the exporter's own report (git fast-import): its last
            # line says what, without a traceback.
            message = (lines[-1] if lines else str(error)).strip()
        raise ConversionError(f"Cannot import: {message}.") from None

    def _writeAuthentication(self) -> None:
        """For a private source, Breezy's ``authentication.conf`` in the
        job's private home (``BRZ_HOME``, mode 0600): credentials for the
        source's scheme, host, port and path only, so they are in no
        argument and no message, and go to no other server.  (Breezy's
        ``password_encoding = base64`` hands the password on as bytes,
        which its HTTP client cannot use: the values are quoted instead.)
        """
        if self.credentials is None:
            return
        parts = urllib.parse.urlsplit(self.request.url)
        lines = ["[source]", f"scheme = {parts.scheme}",
                 f"host = {parts.hostname}", f"path = {parts.path or '/'}",
                 f"user = {_quoted(self.credentials.username)}",
                 f"password = {_quoted(self.credentials.password)}"]
        if parts.port:
            lines.append(f"port = {parts.port}")
        directory = os.path.join(self.env["BRZ_HOME"], "breezy")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = os.path.join(directory, "authentication.conf")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")

    def convert(self, limit):
        """See `Converter`."""
        known_path = self.target.statePath(STATE_FILE)
        known = bzrsource.read_known(known_path)
        report_path = os.path.join(self.work_dir, "bzr-report.json")
        marks_path = os.path.join(self.work_dir, "bzr-marks")
        argv = ["stream", "--known", known_path, "--report", report_path,
                "--policy", self._policyFile(),
                "--cache", self.target.statePath(CACHE_DIRECTORY)]
        if limit is not None:
            argv += ["--limit", str(limit)]
        if self.authors:
            authors_path = os.path.join(self.work_dir, "bzr-authors.json")
            with open(authors_path, "w", encoding="utf-8") as stream:
                json.dump(self.authors, stream)
            argv += ["--authors", authors_path]
        argv += ["--", self.request.url]
        lines: list[str] = []
        git_lines: list[str] = []
        before = len(known)

        def on_line(line: str) -> None:
            if line.startswith("progress "):
                done, total = (int(n) for n in line.split()[1:3])
                self.progress(before + done, before + total, done=done,
                              final=done == total)
            elif line.startswith("note: "):
                self.say(line[len("note: "):])
            else:
                lines.append(line)

        self._writeAuthentication()
        try:
            run_pipeline(
                self._driver(*argv),
                ["git", f"--git-dir={self.target.path}", "fast-import",
                 "--quiet", "--done", f"--export-marks={marks_path}"],
                env=self.env, on_line=on_line,
                consumer_on_line=git_lines.append,
            )
        except ToolFailed as error:
            if error.argv[0] == sys.executable:
                self._fail(error, lines)
            self._fail(error, git_lines)
        with open(report_path, encoding="utf-8") as stream:
            report = json.load(stream)
        shas = read_marks(marks_path)
        for mark, revid in report["marks"]:
            known[revid.encode("utf-8", "surrogateescape")] = shas[mark]
        self._setRefs(report, known)
        if report["marks"]:
            self._writeKnown(known_path, known)
        for name in report["skipped_tags"]:
            self.say(f"Tag {name!r} skipped: its revision is not in the "
                     "branch's history.")
        return Outcome(complete=report["complete"],
                       done=len(report["marks"]))

    def _setRefs(self, report: dict, known: dict) -> None:
        """Stage master and the tags; keep loose commits alive."""
        wanted = {}
        if report["head"] is not None:
            head = report["head"].encode("utf-8", "surrogateescape")
            wanted[self.stagingRef("refs/heads/master")] = known[head]
        for name, revid in sorted(report["tags"].items()):
            if git_tag_name(name) is None:
                self.say(f"Tag {name!r} skipped: Git cannot name a tag so.")
                continue
            wanted[self.stagingRef(f"refs/tags/{name}")] = known[
                revid.encode("utf-8", "surrogateescape")]
        for number, revid in enumerate(report["loose"]):
            wanted[f"{KEEP_PREFIX}{number}"] = known[
                revid.encode("utf-8", "surrogateescape")]
        current = self.target.refs(self.stagingRef("refs/"))
        current.update(self.target.refs(KEEP_PREFIX))
        current.update(self.target.refs(bzrstream.SCRATCH_REF.decode()))
        commands = []
        for name, sha in sorted(wanted.items()):
            if current.get(name) != sha:
                commands.append(f"update {name} {sha}")
        for name in sorted(current.keys() - wanted.keys()):
            commands.append(f"delete {name}")
        if not commands:
            return
        script = os.path.join(self.work_dir, "bzr-refs")
        with open(script, "w", encoding="utf-8", errors="surrogateescape"
                  ) as stream:
            stream.write("\n".join(commands) + "\n")
        with open(script, "rb") as stream:
            run_tool(["git", f"--git-dir={self.target.path}", "update-ref",
                      "--stdin"], env=self.env, stdin=stream.fileno())

    def _writeKnown(self, path: str, known: dict) -> None:
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path),
                                         prefix=".bzr-revisions-")
        with os.fdopen(fd, "wb") as stream:
            for revid, sha in known.items():
                stream.write(sha.encode() + b" " + revid + b"\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)

    def exportTree(self, ref, destination):
        """See `Converter`: the branch's tree at the revision converted
        last, written by Breezy from its copy of the source's history
        (every file, ``.bzrignore`` included)."""
        if ref != "refs/heads/master":
            raise Unsupported(f"{ref} has no Bazaar counterpart")
        sha = self.target.stagedRefs()[ref]
        revid = next(r for r, s in bzrsource.read_known(
            self.target.statePath(STATE_FILE)).items() if s == sha)
        lines: list[str] = []
        try:
            run_tool(self._driver(
                "export", "--policy", self._policyFile(), "--cache",
                self.target.statePath(CACHE_DIRECTORY), "--",
                self.request.url, revid.decode("utf-8", "surrogateescape"),
                destination), env=self.env, on_line=lines.append)
        except ToolFailed as error:
            self._fail(error, lines)


class BzrImporter(ConvertingImporter):
    """Imports a Bazaar branch into a Git target."""

    converter_class = BzrConverter


def _quoted(value: str) -> str:
    """`value` as a ConfigObj value (Breezy's configuration files):
    between triple quotes, whichever kind it does not hold.

    :raises Unsupported: for a value no quoting can hold.
    """
    for quote in ('"""', "'''"):
        if quote not in value and not value.endswith(quote[0]):
            return f"{quote}{value}{quote}"
    raise Unsupported("These source credentials cannot be given to Breezy "
                      "(they hold both kinds of triple quotes).")
