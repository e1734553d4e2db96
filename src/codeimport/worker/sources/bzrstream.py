"""Reads a Bazaar branch with Breezy and writes a ``git fast-import`` stream.

Run as a program by the Bazaar converter (`codeimport.worker.sources.bzr`),
through `run_tool`, so that Breezy's network access happens in a process
started with the job's environment (the access policy's proxy settings)
and a timeout::

    python -m codeimport.worker.sources.bzrstream stream \\
        --policy FILE --known FILE --report FILE [--cache DIR] \\
        [--limit N] [--authors FILE] -- URL
    python -m codeimport.worker.sources.bzrstream export \\
        --policy FILE -- URL REVID DEST

``stream`` writes to standard output the revisions of the branch's
history that are not in ``--known`` (lines ``<git sha> <revision id>``),
parents before children, each commit naming its real parents: a parent
converted in an earlier run by its Git sha, one of this run by its mark.
It stops after ``--limit`` revisions.  With ``--cache``, the history is
first fetched into a local repository there (see `local_copy`).  The ``--report`` file (JSON) then
says which mark is which revision, which revision the branch should
point at, the tags, and whether the history is complete.  Standard error
carries ``progress DONE TOTAL`` lines, and ``error: ...`` on failure.

``export`` writes the tree of revision REVID into the empty directory
DEST, every file included (``brz export`` leaves out ``.bzrignore`` and
other ``.bzr*`` files, which the conversion keeps).

Exit status: 0, or `EXIT_INVALID` when there is no branch at the URL (or
it cannot be reached), or `EXIT_BROKEN` when its history cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from email.utils import parseaddr

EXIT_INVALID = 3
EXIT_BROKEN = 4
EXIT_FORBIDDEN = 5
EXIT_UNSUPPORTED = 6
# The ref the stream commits to; the converter sets the real refs itself.
SCRATCH_REF = b"refs/codeimport/bzr/import"
# Revisions whose trees and texts are read from the source at once.
BATCH = 100
NULL_REVISION = b"null:"

_MODES = {("file", False): b"100644", ("file", True): b"100755",
          ("symlink", False): b"120000", ("symlink", True): b"120000"}


class StreamError(Exception):
    """An expected failure, with the exit status to report it by."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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
    return b"%s %d %s%02d%02d" % (identity(user, authors), int(timestamp),
                                 sign, hours, minutes)


def quote_path(path: str) -> bytes:
    """A path as fast-import reads it: C-quoted when it has to be."""
    raw = path.encode("utf-8")
    if raw.startswith(b'"') or b"\n" in raw or b"\\" in raw:
        raw = (raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
               .replace(b"\n", b"\\n"))
        return b'"' + raw + b'"'
    return raw


# -- reading the source ------------------------------------------------------

def check_locations(branch, policy) -> None:
    """Refuse a branch that leads where the access policy forbids.

    The URL was checked before; Breezy may still have followed an HTTP
    redirect or a branch reference, or the branch may be stacked on
    another one, so the places actually read are checked too, before any
    history is.
    """
    from breezy import errors
    from breezy.branch import UnstackableBranchFormat

    places = [branch.base, branch.repository.user_url]
    try:
        places.append(branch.get_stacked_on_url())
    except (errors.NotStacked, UnstackableBranchFormat):
        pass
    for place in places:
        try:
            policy.check(place)
        except ValueError as error:
            raise StreamError(EXIT_FORBIDDEN, str(error)) from None


def load_policy(path: str):
    from codeimport.worker.policy import AccessPolicy

    with open(path, encoding="utf-8") as stream:
        data = json.load(stream)
    schemes = data["schemes"]
    return AccessPolicy(data["name"],
                        None if schemes is None else frozenset(schemes),
                        data["local"], data["excluded"])


def open_branch(url: str):
    """The branch at `url`, read-locked.

    :raises StreamError: when there is none, or it cannot be reached.
    """
    from breezy import errors
    from breezy.branch import Branch
    from breezy.transport import NoSuchFile
    from breezy.transport import UnsupportedProtocol

    import breezy.bzr  # noqa: F401  registers the Bazaar formats
    import breezy.plugins.launchpad  # noqa: F401  lp: URLs in the wild

    try:
        branch = Branch.open(url)
    except (errors.NotBranchError, NoSuchFile) as error:
        raise StreamError(EXIT_INVALID,
                          f"no Bazaar branch at {url}: {error}") from None
    except (UnsupportedProtocol, errors.UnknownFormatError,
            errors.UnsupportedFormatError) as error:
        raise StreamError(EXIT_INVALID,
                          f"cannot read {url} as a Bazaar branch: {error}"
                          ) from None
    except (errors.ConnectionError, ConnectionError, OSError) as error:
        raise StreamError(EXIT_INVALID,
                          f"cannot reach {url}: {error}") from None
    branch.lock_read()
    return branch


def new_revisions(repository, tip: bytes, known: dict) -> list[bytes]:
    """The revisions of `tip`'s history not in `known`, parents first.

    The order follows the mainline (left-hand) history from old to new;
    before each mainline revision come the revisions it merges.  Any
    prefix of it is a complete history, so a run may stop anywhere.
    Ghosts (parents the repository does not have) are left out.
    """
    parents: dict[bytes, tuple[bytes, ...]] = {}
    pending = {tip} if tip not in known and tip != NULL_REVISION else set()
    while pending:
        found = repository.get_parent_map(pending)
        pending = set()
        for revid, revision_parents in found.items():
            if revid in parents:
                continue
            parents[revid] = tuple(p for p in revision_parents
                                   if p != NULL_REVISION)
            for parent in parents[revid]:
                if parent not in known and parent not in parents:
                    pending.add(parent)
        pending -= parents.keys()
    for revid in parents:
        parents[revid] = tuple(p for p in parents[revid]
                               if p in parents or p in known)
    if not parents:
        return [], {}, []
    mainline = []
    revid = tip
    while revid in parents:
        mainline.append(revid)
        revid = parents[revid][0] if parents[revid] else None
    order, done = [], set()
    for head in reversed(mainline):
        # Depth first, left parent first, each revision after its parents.
        stack = [(head, iter(parents[head]))]
        while stack:
            revid, rest = stack[-1]
            for parent in rest:
                if parent in parents and parent not in done:
                    stack.append((parent, iter(parents[parent])))
                    break
            else:
                stack.pop()
                if revid not in done:
                    done.add(revid)
                    order.append(revid)
    return order, parents, mainline


def file_changes(old_tree, new_tree):
    """``(deleted paths, {path: (kind, executable, text key or target)})``
    turning `old_tree` into `new_tree`, by path as Git sees trees.

    Renames become a delete and an add; a directory that appears at a new
    path has all its content added again under that path, which covers
    its children that Breezy reports as unchanged.
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
            if moved:
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


def local_copy(branch, tip: bytes, path: str):
    """A local repository at `path` holding `tip`'s history, read-locked.

    One streaming fetch brings what the copy lacks; reading trees and
    changes locally is then many times faster than asking the server
    revision by revision.  A copy that cannot be opened is made anew.
    """
    import shutil

    from breezy import errors
    from breezy.controldir import ControlDir
    from breezy.controldir import format_registry
    from breezy.repository import Repository

    try:
        repository = Repository.open(path)
    except errors.BzrError:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        control = ControlDir.create(
            path, format=format_registry.make_controldir("2a"))
        repository = control.create_repository(shared=True)
    with repository.lock_write():
        repository.fetch(branch.repository, revision_id=tip)
    repository.lock_read()
    return repository


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
    # Converted revisions the head does not reach (a run that stopped
    # inside a merge): the converter keeps them with refs of their own.
    reached = _ancestry(head, parents) if head is not None else set()
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


def _ancestry(head: bytes, parents: dict) -> set:
    """`head` and its ancestors among the revisions in `parents`."""
    seen, pending = set(), [head]
    while pending:
        revid = pending.pop()
        if revid in seen or revid not in parents:
            continue
        seen.add(revid)
        pending.extend(parents[revid])
    return seen


def export_tree(branch, revid: bytes, destination: str) -> None:
    """Write the tree of `revid` into `destination`, all files included."""
    tree = branch.repository.revision_tree(revid)
    files = []
    with tree.lock_read():
        for path, entry in tree.iter_entries_by_dir():
            if not path:
                continue
            full = os.path.join(destination, path)
            if entry.kind == "directory":
                os.mkdir(full)
            elif entry.kind == "symlink":
                os.symlink(tree.get_symlink_target(path), full)
            elif entry.kind == "file":
                files.append((path, (full, entry.executable)))
        for (full, executable), chunks in tree.iter_files_bytes(files):
            with open(full, "wb") as stream:
                stream.writelines(chunks)
            if executable:
                os.chmod(full, 0o755)


def read_known(path: str) -> dict:
    known = {}
    try:
        with open(path, "rb") as stream:
            for line in stream:
                sha, revid = line.rstrip(b"\n").split(b" ", 1)
                known[revid] = sha.decode("ascii")
    except FileNotFoundError:
        pass
    return known


def main(argv=None) -> int:
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
            branch = open_branch(options.url)
            try:
                check_locations(branch, load_policy(options.policy))
                if options.command == "export":
                    export_tree(branch, options.revid.encode(
                        "utf-8", "surrogateescape"), options.destination)
                else:
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
