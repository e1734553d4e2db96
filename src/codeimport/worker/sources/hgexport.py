"""Mercurial changesets as a ``git fast-import`` stream (run as a program).

    python -m codeimport.worker.sources.hgexport [--pull URL]
        [--unchanged-if FINGERPRINT] [--authors FILE] MIRROR FIRST LIMIT REFS

With ``--pull``, first creates the local mirror `MIRROR` if needed and
runs ``hg pull URL`` into it (Mercurial's own command, in this process:
the only network access of an import).  Then reads the mirror with
Mercurial's API and writes to standard output the changesets from local
revision number `FIRST` on, at most `LIMIT` of them (0: all), as a
``git fast-import`` stream.  Changeset ``r`` gets mark ``:r+1``, so the
marks of earlier runs (imported by fast-import) name the parents.  Then
it writes to `REFS` (JSON) the branch heads, bookmarks and tags of the
history converted so far, each with its node and revision; the caller
turns them into Git refs (`codeimport.worker.sources.hg`).  When the
mirror's `fingerprint` after the pull equals ``--unchanged-if``, it
converts nothing and writes ``{"unchanged": true}``.  ``--authors`` is
a JSON ``{hg user: [name, email]}``.

Standard error carries hg's own messages and ``progress DONE TOTAL``
lines.  Exit status 4 means the pull failed (hg's ``abort:`` line says
why), 3 that the mirror's history cannot be read (a broken source); any
other failure is one line, never a traceback.

The mirror's revision numbers follow the server's (it is only ever
pulled whole, see ``hg.py``), so a chunked import converts the same
changesets in the same order as a one-shot import.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time

BROKEN = 3
PULL_FAILED = 4
# Every hg command here: no network wait beyond this; and when the
# environment names a proxy (the access policy's egress proxy), every
# connection goes through it, even to localhost, which hg would
# otherwise reach directly.
HG_CONFIG = [b"--config", b"http.timeout=300",
             b"--config", b"http_proxy.always=true"]
# Where commits are written while the stream runs; deleted afterwards.
SCRATCH_PREFIX = b"refs/codeimport/hg-scratch/"
_PROGRESS_EVERY = 0.5


def git_identity(user: bytes, authors: dict | None = None) -> bytes:
    """``Name <email>`` for a Mercurial user string.

    The operator's authors file wins.  Otherwise, as git-remote-hg does
    (so that commits get the same ids as with it): double quotes are
    dropped; ``Name <email>`` stays as it is; a bare address gets the
    name ``Unknown``; a bare name gets the email ``unknown``.
    """
    text = user.decode("utf-8", "surrogateescape")
    if authors and text.strip() in authors:
        name, email = authors[text.strip()]
        return f"{name} <{email}>".encode("utf-8", "surrogateescape")
    user = user.replace(b'"', b"")
    match = re.match(rb"^([^<>]+?)? ?[<>]([^<>]*)(?:$|>)", user)
    if match:
        name, email = match.group(1), match.group(2).strip()
    else:
        address = re.match(rb"([^ \t<>]+@[^ \t<>]+)", user)
        if address:
            name, email = None, address.group(1)
        else:
            plain = re.match(rb"^([^<>]+)", user)
            name = plain.group(1).strip() if plain else None
            email = None
    return b"%s <%s>" % (name or b"Unknown", email or b"unknown")


def git_date(when: float, offset: int) -> bytes:
    """Git's ``SECONDS +HHMM`` for Mercurial's (time, seconds west of UTC)."""
    east = -offset
    sign = b"+" if east >= 0 else b"-"
    hours, minutes = divmod(abs(east) // 60, 60)
    return b"%d %s%02d%02d" % (int(when), sign, hours, minutes)


def git_mode(flags: bytes) -> bytes:
    if b"l" in flags:
        return b"120000"
    if b"x" in flags:
        return b"100755"
    return b"100644"


def quote_path(path: bytes) -> bytes:
    """A path as fast-import reads it (C-quoted when it must be)."""
    if path.startswith(b'"') or b"\n" in path or b"\\" in path:
        return b'"' + path.replace(b"\\", b"\\\\").replace(
            b'"', b'\\"').replace(b"\n", b"\\n") + b'"'
    return path


class Exporter:
    """Writes changesets of `repo` (unfiltered) to `out`."""

    def __init__(self, repo, out, authors=None, progress=None):
        self.repo = repo
        self.out = out
        self.authors = authors
        self.progress = progress or (lambda done, total: None)
        self.changelog = repo.changelog
        self._manifests: dict = {}
        self._scratch: dict[bytes, bytes] = {}
        self._tips: dict[bytes, int] = {}
        self._filelog = functools.lru_cache(maxsize=4096)(repo.file)

    def manifest(self, rev: int):
        node = self.changelog.changelogrevision(rev).manifest
        cached = self._manifests.get(node)
        if cached is None:
            cached = self.repo.manifestlog[node].read()
            # Keep a few: a changeset's first parent is nearly always
            # among the last ones converted.
            if len(self._manifests) >= 8:
                self._manifests.pop(next(iter(self._manifests)))
            self._manifests[node] = cached
        return cached

    def export(self, first: int, end: int) -> None:
        total = len(self.changelog)
        write = self.out.write
        write(b"feature done\n")
        last_report = time.monotonic()
        for rev in range(first, end):
            self.commit(rev)
            now = time.monotonic()
            if now - last_report >= _PROGRESS_EVERY or rev == end - 1:
                last_report = now
                self.progress(rev + 1, total)
        write(b"done\n")

    def commit(self, rev: int) -> None:
        entry = self.changelog.changelogrevision(rev)
        extra = entry.extra
        branch = extra.get(b"branch", b"default")
        p1, p2 = self.changelog.parentrevs(rev)
        if p1 < 0 and p2 >= 0:
            p1, p2 = p2, -1
        ref = self._scratch.setdefault(
            branch, SCRATCH_PREFIX + b"%d" % len(self._scratch))
        manifest = self.manifest(rev)
        parent_manifest = self.manifest(p1) if p1 >= 0 else None
        if parent_manifest is None:
            changes = {path: (None, (node, flags))
                       for path, node, flags in manifest.iterentries()}
        else:
            changes = {path: (old, new) for path, (old, new)
                       in parent_manifest.diff(manifest).items()}
        who = git_identity(entry.user, self.authors)
        when = git_date(*entry.date)
        message = entry.description + b"\n"
        out = [
            b"reset %s\n" % ref if p1 < 0 else b"",
            b"commit %s\nmark :%d\n" % (ref, rev + 1),
            b"author %s %s\ncommitter %s %s\n" % (who, when, who, when),
            b"data %d\n%s\n" % (len(message), message),
        ]
        if p1 >= 0:
            out.append(b"from :%d\n" % (p1 + 1))
        if p2 >= 0:
            out.append(b"merge :%d\n" % (p2 + 1))
        # Deletions first: a file replaced by a directory of the same
        # name must be gone before the directory's files arrive.
        paths = sorted(changes)
        for path in paths:
            if changes[path][1][0] is None:
                out.append(b"D %s\n" % quote_path(path))
        for path in paths:
            node, flags = changes[path][1]
            if node is None:
                continue
            data = self._filelog(path).read(node)
            out.append(b"M %s inline %s\ndata %d\n" % (
                git_mode(flags), quote_path(path), len(data)))
            out.append(data)
            out.append(b"\n")
        out.append(b"\n")
        self.out.write(b"".join(out))


def describe(repo, end: int) -> dict:
    """Branch heads, bookmarks and tags of local revisions ``0..end-1``."""
    changelog = repo.changelog
    view = repo if end == len(changelog) else _upto(repo, end)

    def node_info(node):
        rev = changelog.rev(node)
        extra = changelog.changelogrevision(rev).extra
        return {"node": node.hex(), "rev": rev, "closed": b"close" in extra}

    branches = {}
    for name, heads in view.branchmap().items():
        branches[_text(name)] = sorted(
            (node_info(node) for node in heads), key=lambda h: h["rev"])
    bookmarks = {}
    for name, node in view._bookmarks.items():
        rev = changelog.index.get_rev(node)
        if rev is not None and rev < end:
            bookmarks[_text(name)] = {"node": node.hex(), "rev": rev}
    tags = {}
    for name, node in view.tags().items():
        if name == b"tip":
            continue
        rev = changelog.index.get_rev(node)
        if rev is not None and rev < end:
            tags[_text(name)] = {"node": node.hex(), "rev": rev}
    return {"converted": end, "total": len(changelog),
            "branches": branches, "bookmarks": bookmarks, "tags": tags}


def _text(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


_VIEW = b"codeimport-converted"


def _upto(repo, end: int):
    """A view of `repo` without the revisions from `end` on (not yet
    converted in this chunk)."""
    from mercurial import repoview

    repoview.filtertable[_VIEW] = (
        lambda repo, visibilityexceptions=None:
        frozenset(range(end, len(repo.unfiltered().changelog))))
    return repo.filtered(_VIEW)


def _forget_view_caches(mirror: str) -> None:
    """Mercurial caches branch heads and tags per view; ours changes
    with every chunk, so its caches are only litter."""
    import glob
    import os

    pattern = os.path.join(mirror, ".hg", "cache", "*-" + _VIEW.decode())
    for path in glob.glob(pattern):
        os.unlink(path)


def fingerprint(mirror: str) -> str:
    """What changes in the mirror when a pull brings anything: the
    changelog's size and the bookmarks."""
    import hashlib
    import os

    digest = hashlib.sha1()
    for name in ("store/00changelog.i", "store/00changelog.d", "bookmarks"):
        path = os.path.join(mirror, ".hg", name)
        try:
            with open(path, "rb") as stream:
                data = stream.read() if name == "bookmarks" else b""
            digest.update(b"%s %d %s\n" % (
                name.encode(), os.path.getsize(path), data))
        except FileNotFoundError:
            digest.update(b"%s missing\n" % name.encode())
    return digest.hexdigest()


def _hg(*args: bytes) -> int:
    """Run an hg command in this process; its output goes to stderr."""
    from mercurial import dispatch

    request = dispatch.request([*HG_CONFIG, *args],
                               fout=sys.stderr.buffer,
                               ferr=sys.stderr.buffer)
    return dispatch.dispatch(request) or 0


def pull(mirror: str, url: str) -> bool:
    """Bring the mirror up to date with `url`; False if hg failed.

    The first time, a streaming clone (the server's own files, several
    times cheaper for both sides than a pull; a server that refuses it
    gets a normal clone), without the server's caches, which we do not
    trust to say where the heads are.
    """
    import os
    import shutil

    source = url.encode("utf-8", "surrogateescape")
    if not os.path.isdir(os.path.join(mirror, ".hg")):
        if _hg(b"clone", b"--stream", b"-U", b"-q", b"--", source,
               mirror.encode()):
            return False
        shutil.rmtree(os.path.join(mirror, ".hg", "cache"),
                      ignore_errors=True)
        return True
    if os.path.exists(os.path.join(mirror, ".hg", "store", "journal")):
        # A run killed while pulling: roll its transaction back.
        _hg(b"recover", b"-R", mirror.encode())
    return _hg(b"pull", b"-q", b"-R", mirror.encode(), b"--", source) == 0


def archive(argv: list[str]) -> int:
    """``archive MIRROR NODE DEST [NODE DEST ...]``: ``hg archive`` of
    each node (without ``.hg_archival.txt``), in this one process."""
    mirror, pairs = argv[0].encode(), argv[1:]
    for node, destination in zip(pairs[::2], pairs[1::2]):
        if _hg(b"archive", b"-R", mirror, b"--config",
               b"ui.archivemeta=false", b"--no-decode", b"-t", b"files",
               b"-r", node.encode(), b"--", destination.encode()):
            return BROKEN
    return 0


def main(argv: list[str]) -> int:
    # Every connection this program makes goes through the worker's
    # egress proxy, whatever the library does (codeimport.worker.egress).
    from codeimport.worker.egress import guard_sockets

    guard_sockets()
    import argparse

    if argv[:1] == ["archive"]:
        return archive(argv[1:])
    parser = argparse.ArgumentParser(prog="hgexport")
    parser.add_argument("--pull")
    parser.add_argument("--unchanged-if")
    parser.add_argument("--authors")
    parser.add_argument("mirror")
    parser.add_argument("first", type=int)
    parser.add_argument("limit", type=int)
    parser.add_argument("refs")
    options = parser.parse_args(argv)
    mirror, first, limit = options.mirror, options.first, options.limit
    refs_path = options.refs
    authors = None
    if options.authors:
        with open(options.authors, encoding="utf-8") as stream:
            authors = {name: tuple(value)
                       for name, value in json.load(stream).items()}
    try:
        from mercurial import error
        from mercurial import hg
        from mercurial import ui as uimod
    except ImportError as problem:
        print(f"Mercurial is not installed here: {problem}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    try:
        if options.pull:
            try:
                pulled = pull(mirror, options.pull)
            except Exception as problem:  # hg lets some through
                print(f"abort: {type(problem).__name__}: "
                      f"{_message(problem)}", file=sys.stderr)
                pulled = False
            if not pulled:
                return PULL_FAILED
        mark = fingerprint(mirror)
        if options.unchanged_if == mark:
            out.write(b"feature done\ndone\n")
            out.flush()
            with open(refs_path, "w", encoding="utf-8") as stream:
                json.dump({"unchanged": True}, stream)
            return 0
        ui = uimod.ui()
        ui.setconfig(b"ui", b"quiet", b"true")
        repo = hg.repository(ui, mirror.encode()).unfiltered()
        total = len(repo.changelog)
        end = total if not limit else min(total, first + limit)

        def progress(done, total):
            sys.stderr.write(f"progress {done} {total}\n")
            sys.stderr.flush()

        Exporter(repo, out, authors, progress).export(first, end)
        out.flush()
        description = describe(repo, end)
        _forget_view_caches(mirror)
        description["fingerprint"] = mark
        with open(refs_path, "w", encoding="utf-8") as stream:
            json.dump(description, stream)
    except BrokenPipeError:
        print("Broken pipe: the importer stopped reading", file=sys.stderr)
        return 1
    except (error.StorageError, error.RevlogError, error.LookupError,
            error.Abort, ValueError, KeyError, IndexError) as problem:
        print(f"cannot read the history: {_message(problem)}",
              file=sys.stderr)
        return BROKEN
    except Exception as problem:  # one line, never a traceback
        print(f"unexpected {type(problem).__name__}: {_message(problem)}",
              file=sys.stderr)
        return 1
    return 0


def _message(problem: BaseException) -> str:
    text = problem.args[0] if problem.args else problem
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
