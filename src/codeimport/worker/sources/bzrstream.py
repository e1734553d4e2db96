"""Reads a Bazaar branch with Breezy and writes a ``git fast-import`` stream.

Run as a program by the Bazaar converter (`codeimport.worker.sources.bzr`),
through `run_tool`, so that Breezy's network access happens in a process
started with the job's environment (the access policy's proxy settings)
and a timeout::

    python -m codeimport.worker.sources.bzrstream stream \\
        --policy FILE --known FILE --report FILE [--cache DIR] \\
        [--limit N] [--authors FILE] -- URL
    python -m codeimport.worker.sources.bzrstream export \\
        --policy FILE [--cache DIR] -- URL REVID DEST

``stream`` writes to standard output the revisions of the branch's
history that are not in ``--known`` (lines ``<git sha> <revision id>``),
parents before children, each commit naming its real parents: a parent
converted in an earlier run by its Git sha, one of this run by its mark.
It stops after ``--limit`` revisions.  With ``--cache``, the history is
first fetched into a local repository there (see `local_copy`).  The
``--report`` file (JSON) then says which mark is which revision, which
revision the branch should point at, the tags, and whether the history
is complete.  Standard error
carries ``progress DONE TOTAL`` lines, and ``error: ...`` on failure.

``export`` writes the tree of revision REVID into the empty directory
DEST, every file included (``brz export`` leaves out ``.bzrignore`` and
other ``.bzr*`` files, which the conversion keeps), from the local copy
of the history (``--cache``) when it has the revision.

Exit status: 0, or one of the ``EXIT_*`` of
`codeimport.worker.sources.bzrsource`: no branch at the URL (or it
cannot be reached), history that cannot be read, a place the access
policy forbids, something Git cannot hold.
"""

from __future__ import annotations

import argparse
import json
import sys
from email.utils import parseaddr

from codeimport.worker.sources.bzrsource import EXIT_BROKEN
from codeimport.worker.sources.bzrsource import EXIT_UNSUPPORTED
from codeimport.worker.sources.bzrsource import NULL_REVISION
from codeimport.worker.sources.bzrsource import StreamError
from codeimport.worker.sources.bzrsource import ancestry
from codeimport.worker.sources.bzrsource import cached_repository
from codeimport.worker.sources.bzrsource import check_locations
from codeimport.worker.sources.bzrsource import export_tree
from codeimport.worker.sources.bzrsource import load_policy
from codeimport.worker.sources.bzrsource import local_copy
from codeimport.worker.sources.bzrsource import new_revisions
from codeimport.worker.sources.bzrsource import open_branch
from codeimport.worker.sources.bzrsource import read_known

# The ref the stream commits to; the converter sets the real refs itself.
SCRATCH_REF = b"refs/codeimport/bzr/import"
# Revisions whose trees and texts are read from the source at once.
BATCH = 100

_MODES = {("file", False): b"100644", ("file", True): b"100755",
          ("symlink", False): b"120000", ("symlink", True): b"120000"}


# -- identities, paths -------------------------------------------------------

def _clean(text: str) -> str:
    """Git refuses ``<``, ``>`` and line ends inside a name or address."""
    for bad in "<>\n\r\0":
        text = text.replace(bad, "")
    return text.strip()


def identity(user: str, authors: dict) -> bytes:
    """``Name <email>`` of a Bazaar user string for a Git commit.

    A bare user name the operator mapped in the authors file becomes the
    mapped identity; any other string without an address keeps its text
    as the name and an empty address, so nothing is invented.
    """
    user = user or ""
    if "<" not in user:
        mapped = authors.get(user.strip())
        if mapped is not None:
            name, email = mapped
        else:
            name, email = user, ""
    else:
        name, email = parseaddr(user)
        if not name and not email:
            name, email = user, ""
    name, email = _clean(name), _clean(email)
    text = f"{name} <{email}>" if name else f"<{email}>"
    return text.encode("utf-8")


def who_when(user: str, timestamp: float, offset: int | None,
             authors: dict) -> bytes:
    offset = offset or 0
    sign = b"-" if offset < 0 else b"+"
    offset = abs(offset)
    hours, minutes = offset // 3600, (offset // 60) % 60
    return b"%s %d %s%02d%02d" % (
        identity(user, authors), int(timestamp), sign, hours, minutes)


def quote_path(path: str) -> bytes:
    """A path as fast-import reads it: C-quoted when it has to be."""
    raw = path.encode("utf-8")
    if raw.startswith(b'"') or b"\n" in raw or b"\\" in raw:
        raw = (raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
               .replace(b"\n", b"\\n"))
        return b'"' + raw + b'"'
    return raw


def file_changes(old_tree, new_tree):
    """``(deleted paths, {path: (kind, executable, text key or target)})``
    turning `old_tree` into `new_tree`, by path as Git sees trees.

    Renames become a delete and an add; a directory renamed or moved has
    all its content added again under its new path, which covers the
    children Breezy reports as unchanged.
    """
    deleted, added = [], {}

    def add(path, entry, tree):
        if entry.kind == "file":
            added[path] = ("file", bool(entry.executable),
                           (entry.file_id, entry.revision, path))
        elif entry.kind == "symlink":
            added[path] = ("symlink", False, tree.get_symlink_target(path))

    inventory = new_tree.root_inventory
    for change in new_tree.iter_changes(old_tree, include_unchanged=False):
        old_path, new_path = change.path
        old_kind, new_kind = change.kind
        moved = old_path != new_path or old_kind != new_kind
        if old_path and (moved or not change.versioned[1]):
            deleted.append(old_path)
        if not new_path or new_kind is None:
            continue
        if new_kind == "directory":
            # Only a directory that was somewhere else has children
            # Breezy does not report (they did not change themselves).
            if old_path is not None and old_path != new_path:
                for child, entry in inventory.iter_entries(
                        from_dir=change.file_id):
                    add(f"{new_path}/{child}", entry, new_tree)
        elif new_kind in ("file", "symlink"):
            add(new_path, inventory.get_entry(change.file_id), new_tree)
        else:
            raise StreamError(
                EXIT_UNSUPPORTED,
                f"{new_path} is a {new_kind}, which Git cannot hold")
    return deleted, added


def write_stream(branch, known: dict, limit: int | None, out, report_path,
                 authors: dict, cache: str | None = None) -> None:
    tip = branch.last_revision()
    tags = branch.tags.get_tag_dict() if branch.supports_tags() else {}
    repository = branch.repository
    if cache and tip not in known and tip != NULL_REVISION:
        repository = local_copy(branch, tip, cache)
    order, parents, mainline = new_revisions(repository, tip, known)
    total = len(order)
    if limit is not None:
        order = order[:limit]
    complete = len(order) == total
    marks: dict[bytes, int] = {}
    progress = sys.stderr
    out.write(b"feature done\n")
    trees: dict[bytes, object] = {}

    def ref_of(revid):
        if revid in marks:
            return b":%d" % marks[revid]
        return known[revid].encode("ascii")

    for start in range(0, len(order), BATCH):
        batch = order[start:start + BATCH]
        revisions = {rev.revision_id: rev
                     for rev in repository.get_revisions(batch)}
        wanted = set(batch)
        for revid in batch:
            if parents[revid]:
                wanted.add(parents[revid][0])
        missing = [r for r in wanted if r not in trees]
        for tree in repository.revision_trees(missing):
            trees[tree.get_revision_id()] = tree
        empty = repository.revision_tree(NULL_REVISION)
        commits = []
        keys = {}
        for revid in batch:
            first = parents[revid][0] if parents[revid] else None
            old = trees[first] if first else empty
            deleted, added = file_changes(old, trees[revid])
            commits.append((revid, deleted, added))
            for path, (kind, _, key) in added.items():
                if kind == "file":
                    keys[key[:2]] = None
        texts = {}
        for key, chunks in repository.iter_files_bytes(
                [(key[0], key[1], key) for key in keys]):
            texts[key] = b"".join(chunks)
        for revid, deleted, added in commits:
            rev = revisions[revid]
            mark = len(marks) + 1
            author = rev.get_apparent_authors()[0]
            message = rev.message.encode("utf-8")
            lines = []
            if not parents[revid]:
                lines.append(b"reset " + SCRATCH_REF)
            lines += [
                b"commit " + SCRATCH_REF,
                b"mark :%d" % mark,
                b"author " + who_when(author, rev.timestamp, rev.timezone,
                                      authors),
                b"committer " + who_when(rev.committer, rev.timestamp,
                                         rev.timezone, authors),
                b"data %d" % len(message),
            ]
            out.write(b"\n".join(lines) + b"\n" + message + b"\n")
            if parents[revid]:
                out.write(b"from " + ref_of(parents[revid][0]) + b"\n")
                for parent in parents[revid][1:]:
                    out.write(b"merge " + ref_of(parent) + b"\n")
            for path in deleted:
                out.write(b"D " + quote_path(path) + b"\n")
            for path in sorted(added):
                kind, executable, value = added[path]
                mode = _MODES[kind, executable]
                data = (texts[value[:2]] if kind == "file"
                        else value.encode("utf-8"))
                out.write(b"M %s inline %s\ndata %d\n" % (
                    mode, quote_path(path), len(data)))
                out.write(data + b"\n")
            out.write(b"\n")
            marks[revid] = mark
            progress.write(f"progress {len(marks)} {total}\n")
            progress.flush()
        # Keep only the trees later batches may need as first parents.
        keep = set(order[start + BATCH:start + 2 * BATCH]) | {
            parents[r][0] for r in order[start + BATCH:] if parents[r]}
        trees = {r: t for r, t in trees.items() if r in keep}
    out.write(b"done\n")
    out.flush()
    # The branch points at the newest mainline revision converted, so
    # that everything it reaches is complete.
    converted = marks.keys() | known.keys()
    head = tip if tip in converted else None
    if head is None:
        for revid in mainline:
            if revid in converted:
                head = revid
                break
        else:
            # None of the new mainline revisions yet (the run converted
            # only revisions merged into the first): the branch stays
            # where the last run left it.
            oldest = parents[mainline[-1]] if mainline else ()
            head = oldest[0] if oldest else None
    # Converted revisions the head does not reach (a run that stopped
    # inside a merge): the converter keeps them with refs of their own.
    reached = ancestry(head, parents) if head is not None else set()
    loose = [r for r in marks if r not in reached]
    loose_parents = {p for r in loose for p in parents[r]}
    report = {
        "loose": [r.decode("utf-8", "surrogateescape") for r in loose
                  if r not in loose_parents],
        "marks": [[mark, revid.decode("utf-8", "surrogateescape")]
                  for revid, mark in marks.items()],
        "head": None if head is None else head.decode(
            "utf-8", "surrogateescape"),
        "tags": {name: revid.decode("utf-8", "surrogateescape")
                 for name, revid in tags.items() if revid in converted},
        "skipped_tags": sorted(name for name, revid in tags.items()
                               if revid not in converted and complete),
        "complete": complete,
        "total": total,
    }
    with open(report_path, "w", encoding="utf-8") as stream:
        json.dump(report, stream)


def main(argv=None) -> int:
    # Every connection this program makes goes through the worker's
    # egress proxy, whatever the library does (codeimport.worker.egress).
    from codeimport.worker.egress import guard_sockets

    guard_sockets()
    parser = argparse.ArgumentParser(prog="bzrstream")
    commands = parser.add_subparsers(dest="command", required=True)
    stream = commands.add_parser("stream")
    stream.add_argument("url")
    stream.add_argument("--policy", required=True)
    stream.add_argument("--known", required=True)
    stream.add_argument("--report", required=True)
    stream.add_argument("--limit", type=int)
    stream.add_argument("--authors")
    stream.add_argument("--cache")
    export = commands.add_parser("export")
    export.add_argument("--policy", required=True)
    export.add_argument("--cache")
    export.add_argument("url")
    export.add_argument("revid")
    export.add_argument("destination")
    options = parser.parse_args(argv)

    import breezy
    import breezy.ui
    from breezy import errors

    with breezy.initialize(setup_ui=False):
        breezy.ui.ui_factory = breezy.ui.SilentUIFactory()
        try:
            if options.command == "export":
                revid = options.revid.encode("utf-8", "surrogateescape")
                # The local copy of the source, fetched by Breezy, spares
                # reading every file over the network again.
                repository = cached_repository(options.cache, revid)
                if repository is None:
                    branch = open_branch(options.url)
                    check_locations(branch, load_policy(options.policy))
                    repository = branch.repository
                export_tree(repository, revid, options.destination)
                return 0
            branch = open_branch(options.url)
            try:
                check_locations(branch, load_policy(options.policy))
                authors = {}
                if options.authors:
                    with open(options.authors, encoding="utf-8") as f:
                        authors = {k: tuple(v)
                                   for k, v in json.load(f).items()}
                write_stream(branch, read_known(options.known),
                             options.limit, sys.stdout.buffer,
                             options.report, authors, options.cache)
            finally:
                branch.unlock()
        except StreamError as error:
            sys.stderr.write(f"error: {error}\n")
            return error.status
        except BrokenPipeError:
            return EXIT_BROKEN
        except (errors.BzrError, OSError) as error:
            sys.stderr.write(
                f"error: cannot read the branch's history: "
                f"{type(error).__name__}: {error}\n")
            return EXIT_BROKEN
        except Exception as error:  # noqa: BLE001  one line, no traceback
            sys.stderr.write(
                f"error: unexpected failure of the Bazaar exporter: "
                f"{type(error).__name__}: {error}\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
