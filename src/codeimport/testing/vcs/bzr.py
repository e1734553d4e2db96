"""Bazaar branches for tests, the demo and the benchmarks, and a server.

`BzrServer` serves a directory of branches with ``brz serve`` on
127.0.0.1 (a free port, read-only).  It runs under a small watcher
process that exits, taking the server with it, when the process that
started it goes away, so no server outlives its test.

`SampleBranch` builds a small branch with everything an importer must
keep (merges, tags, renames, deletions, binary and executable files,
symbolic links, an empty directory, non-ASCII authors and messages)
through a real Breezy working tree.  `build_history` writes a large
synthetic history straight into a repository with Breezy's
inventory-delta API (a few hundred revisions a second, where working
trees manage a few dozen).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

__all__ = ["BzrServer", "SampleBranch", "build_history", "breezy_state"]

_STATE = None


def breezy_state():
    """Initialise Breezy once for this process (quiet, no plug-ins)."""
    global _STATE
    if _STATE is None:
        os.environ.setdefault("BRZ_PLUGIN_PATH", "-site:-user")
        import breezy
        import breezy.bzr  # noqa: F401
        import breezy.trace
        import breezy.ui

        _STATE = breezy.initialize(setup_ui=False)
        breezy.ui.ui_factory = breezy.ui.SilentUIFactory()
        breezy.trace.be_quiet(True)
    return _STATE


class SampleBranch:
    """A standalone Bazaar branch with a working tree at `path`."""

    def __init__(self, path: str):
        breezy_state()
        from breezy.controldir import ControlDir
        from breezy.controldir import format_registry

        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)
        self.tree = ControlDir.create_standalone_workingtree(
            self.path, format=format_registry.make_controldir("2a"))
        self.clock = 1_600_000_000

    @classmethod
    def sprout(cls, source: SampleBranch, path: str) -> SampleBranch:
        """A new branch at `path` with `source`'s history."""
        branch = cls.__new__(cls)
        branch.path = str(path)
        branch.tree = source.tree.controldir.sprout(
            branch.path).open_workingtree()
        branch.clock = source.clock + 1000
        return branch

    @property
    def branch(self):
        return self.tree.branch

    def write(self, relpath: str, content: bytes | str,
              executable: bool = False) -> None:
        """Write (and version, if new) a file."""
        full = os.path.join(self.path, relpath)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        self._addParents(relpath)
        with open(full, "wb") as stream:
            stream.write(content.encode() if isinstance(content, str)
                         else content)
        os.chmod(full, 0o755 if executable else 0o644)
        if not self.tree.is_versioned(relpath):
            self.tree.add([relpath])

    def _addParents(self, relpath: str) -> None:
        parts = relpath.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            os.makedirs(os.path.join(self.path, directory), exist_ok=True)
            if not self.tree.is_versioned(directory):
                self.tree.add([directory])

    def mkdir(self, relpath: str) -> None:
        """Version an (empty) directory."""
        self._addParents(relpath + "/x")

    def symlink(self, relpath: str, target: str) -> None:
        self._addParents(relpath)
        os.symlink(target, os.path.join(self.path, relpath))
        self.tree.add([relpath])

    def rename(self, old: str, new: str) -> None:
        self.tree.rename_one(old, new)

    def remove(self, relpath: str) -> None:
        self.tree.remove([relpath], keep_files=False)

    def commit(self, message: str,
               committer: str = "Alice <alice@example.com>",
               authors: list[str] | None = None) -> bytes:
        """Commit everything; return the revision id."""
        from breezy.commit import NullCommitReporter

        self.clock += 60
        return self.tree.commit(
            message, committer=committer, authors=authors,
            timestamp=self.clock, timezone=3600,
            reporter=NullCommitReporter())

    def merge(self, other: SampleBranch, message: str, **kwargs) -> bytes:
        """Merge `other`'s branch and commit the merge."""
        self.tree.merge_from_branch(other.branch)
        return self.commit(message, **kwargs)

    def tag(self, name: str, revid: bytes | None = None) -> None:
        self.branch.tags.set_tag(name, revid or self.branch.last_revision())

    def revno(self) -> int:
        return self.branch.revno()

    def tip(self) -> bytes:
        return self.branch.last_revision()

    @classmethod
    def example(cls, root: str, name: str = "trunk") -> SampleBranch:
        """The sample history the tests and the demo import."""
        trunk = cls(os.path.join(root, name))
        trunk.write("README", "Hello\n")
        trunk.write("bin/run", "#!/bin/sh\necho run\n", executable=True)
        trunk.write("data/logo.bin", bytes(range(256)) * 4 + b"\0\r\n")
        trunk.symlink("link-to-readme", "README")
        trunk.mkdir("empty")
        trunk.commit("Initial import")
        trunk.write("README", "Hello, wörld\n")
        trunk.commit("Ünïcödé message: grüße 日本",
                     committer="Jürgen Ü <juergen@example.com>")
        trunk.tag("v1.0")
        feature = cls.sprout(trunk, os.path.join(root, name + "-feature"))
        feature.write("feature.txt", "feature\n")
        feature.commit("Feature work", committer="Bob <bob@example.com>")
        trunk.rename("README", "README.txt")
        trunk.write("docs/guide.txt", "guide\n")
        trunk.commit("Rename README", authors=[
            "Carol Author <carol@example.com>", "Dan <dan@example.com>"])
        trunk.merge(feature, "Merge feature")
        trunk.tag("v1.1")
        trunk.rename("docs", "manual")
        trunk.remove("link-to-readme")
        trunk.commit("Move docs, drop the link")
        return trunk


def _text_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def build_history(path: str, revisions: int, files: int = 200,
                  merge_every: int = 250, side_length: int = 5,
                  start: int = 0, clock: int = 1_500_000_000) -> bytes:
    """Write (or extend) a synthetic branch at `path`; return its tip.

    `revisions` revisions in all: a trunk, each revision changing one of
    `files` small files in 20 directories; every `merge_every` revisions a side
    line of `side_length` revisions (in ``side/``) is merged.  Calling it
    again with `start` set to the number already made extends the same
    branch the same way.
    """
    breezy_state()
    from breezy import osutils
    from breezy.bzr import inventory
    from breezy.controldir import ControlDir
    from breezy.controldir import format_registry
    from breezy.revision import Revision

    if start == 0:
        os.makedirs(path, exist_ok=True)
        control = ControlDir.create(
            path, format=format_registry.make_controldir("2a"))
        control.create_repository()
        branch = control.create_branch()
    else:
        branch = ControlDir.open(path).open_branch()
    repo = branch.repository
    made = [start]
    tip = branch.last_revision()

    def new_revid(kind):
        return b"%s-%d@example.com" % (kind, made[0])

    def directory(file_id, name, parent, revid):
        entry = inventory.InventoryDirectory(file_id, name, parent)
        entry.revision = revid
        repo.texts.add_lines((file_id, revid), [], [])
        return entry

    def text(file_id, name, parent, revid, data, previous):
        entry = inventory.InventoryFile(file_id, name, parent)
        entry.revision = revid
        entry.text_sha1 = osutils.sha_string(data)
        entry.text_size = len(data)
        repo.texts.add_lines((file_id, revid),
                             [(file_id, previous)] if previous else [],
                             _text_lines(data))
        return entry

    inventories = {}

    def commit(parents, delta, revid, message, committer):
        basis = parents[0] if parents else b"null:"
        _, inventories[revid] = repo.add_inventory_by_delta(
            basis, delta, revid, parents,
            basis_inv=inventories.pop(basis, None), propagate_caches=True)
        made[0] += 1
        rev = Revision(
            revid, committer=committer, message=message,
            timestamp=clock + 60 * made[0], timezone=0,
            parent_ids=list(parents), properties={}, inventory_sha1=None)
        repo.add_revision(revid, rev)
        return revid

    last_text = {}
    with repo.lock_write():
        repo.start_write_group()
        try:
            if start == 0:
                revid = new_revid(b"trunk")
                delta = [(None, "", b"root-id",
                          directory(b"root-id", "", None, revid))]
                for d in range(20):
                    dir_id = b"dir-%d" % d
                    delta.append((None, f"d{d}", dir_id,
                                  directory(dir_id, f"d{d}", b"root-id",
                                            revid)))
                for f in range(files):
                    file_id = b"file-%d" % f
                    data = b"file %d\nline\n" % f
                    delta.append((None, f"d{f % 20}/f{f}.txt", file_id,
                                  text(file_id, f"f{f}.txt",
                                       b"dir-%d" % (f % 20), revid, data,
                                       None)))
                    last_text[file_id] = revid
                side_id = b"side-dir"
                delta.append((None, "side", side_id,
                              directory(side_id, "side", b"root-id", revid)))
                tip = commit([], delta, revid, "Initial files",
                             "Generator <gen@example.com>")
            for path, entry in repo.get_inventory(tip).iter_entries():
                if entry.kind == "file":
                    last_text[entry.file_id] = entry.revision
            while made[0] < start + revisions:
                number = made[0]
                room = start + revisions - number
                if (merge_every and number % merge_every == 0 and number
                        and room >= 2):
                    side, added = tip, []
                    for step in range(side_length):
                        revid = new_revid(b"side")
                        file_id = b"side-%d-%d" % (number, step)
                        data = b"side %d %d\n" % (number, step)
                        path = f"side/s{number}-{step}.txt"
                        entry = text(file_id, f"s{number}-{step}.txt",
                                     b"side-dir", revid, data, None)
                        added.append((None, path, file_id, entry))
                        side = commit([side], [added[-1]], revid,
                                      f"Side work {number}.{step}",
                                      "Sider Side <side@example.com>")
                        if made[0] >= start + revisions - 1:
                            break
                    revid = new_revid(b"merge")
                    tip = commit([tip, side], added, revid,
                                 f"Merge side work {number}",
                                 "Generator <gen@example.com>")
                    continue
                f = (number * 7) % files
                file_id = b"file-%d" % f
                revid = new_revid(b"trunk")
                data = b"file %d\nrevision %d\n" % (f, number)
                delta = [(f"d{f % 20}/f{f}.txt", f"d{f % 20}/f{f}.txt",
                          file_id,
                          text(file_id, f"f{f}.txt", b"dir-%d" % (f % 20),
                               revid, data, last_text.get(file_id)))]
                last_text[file_id] = revid
                tip = commit([tip], delta, revid, f"Change {number}",
                             "Generator <gen@example.com>")
        except BaseException:
            repo.abort_write_group()
            raise
        repo.commit_write_group()
    with branch.lock_write():
        graph = repo.get_graph()
        branch.set_last_revision_info(
            graph.find_distance_to_null(tip, []), tip)
    return tip


class BzrServer:
    """``brz serve`` of directory `root` on 127.0.0.1; see the module doc.

    Use as a context manager, or call `close`.  `url(name)` is the URL of
    the branch at ``root/name``.
    """

    def __init__(self, root: str):
        self.root = str(root)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.testing.vcs.bzr", "serve",
             self.root],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, BRZ_PLUGIN_PATH="-site:-user",
                     HOME=self.root + ".home"),
        )
        self.port = None
        for line in self._process.stdout:
            text = line.decode("utf-8", "replace")
            if "listening on port:" in text:
                self.port = int(text.rsplit(":", 1)[1])
                break
        if self.port is None:
            self.close()
            raise RuntimeError("brz serve did not start")
        # Keep reading, so that the server never blocks on a full pipe.
        threading.Thread(target=self._process.stdout.read,
                         daemon=True).start()

    def url(self, name: str = "") -> str:
        return f"bzr://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> BzrServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _serve(root: str) -> None:
    """The watcher: serve `root` until standard input closes."""
    os.makedirs(os.environ["HOME"], exist_ok=True)
    brz = os.path.join(os.path.dirname(sys.executable), "brz")
    server = subprocess.Popen(
        [brz if os.path.exists(brz) else "brz", "serve", "--listen",
         "127.0.0.1", "--port", "0", "--directory", root],
        stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        sys.stdin.buffer.read()
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve(sys.argv[2])
