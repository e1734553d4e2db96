"""Reading a Bazaar branch with Breezy, for the Bazaar exporter.

Opening the branch (and checking every place Breezy actually reads
against the access policy), a local copy of its history, the order in
which its new revisions are converted, and the export of a tree for the
fidelity check.  `codeimport.worker.sources.bzrstream` turns what these
return into a ``git fast-import`` stream.
"""

from __future__ import annotations

import json
import os

EXIT_INVALID = 3
EXIT_BROKEN = 4
EXIT_FORBIDDEN = 5
EXIT_UNSUPPORTED = 6
NULL_REVISION = b"null:"


class StreamError(Exception):
    """An expected failure, with the exit status to report it by."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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
    from codeimport.access import AccessPolicy

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
    import breezy.bzr  # noqa: F401  registers the Bazaar formats
    from breezy import errors
    from breezy.branch import Branch
    from breezy.transport import NoSuchFile
    from breezy.transport import UnsupportedProtocol

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


def ancestry(head: bytes, parents: dict) -> set:
    """`head` and its ancestors among the revisions in `parents`."""
    seen, pending = set(), [head]
    while pending:
        revid = pending.pop()
        if revid in seen or revid not in parents:
            continue
        seen.add(revid)
        pending.extend(parents[revid])
    return seen


def cached_repository(path: str | None, revid: bytes):
    """The local copy at `path` if it holds `revid`, read-locked; or None."""
    from breezy import errors
    from breezy.repository import Repository

    if not path:
        return None
    try:
        repository = Repository.open(path)
    except errors.BzrError:
        return None
    repository.lock_read()
    if repository.has_revision(revid):
        return repository
    repository.unlock()
    return None


def export_tree(repository, revid: bytes, destination: str) -> None:
    """Write the tree of `revid` into `destination`, all files included."""
    tree = repository.revision_tree(revid)
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
