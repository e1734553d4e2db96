"""Mercurial repositories and an ``hg serve`` for tests, demo and benchmarks.

`HgRepo` writes changesets with Mercurial's own API (``memctx``): no
working directory, no program run per commit, every author, date,
branch, parent, copy and flag exactly as the caller says, so even a
2,000-changeset history takes seconds.  `HgServer` is a real ``hg
serve`` bound to 127.0.0.1 on a free port, serving every repository
under one directory (``http://127.0.0.1:PORT/<name>``); it dies with
the process that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys

__all__ = ["HgRepo", "HgServer", "build_fixture", "generate_history"]

_PR_SET_PDEATHSIG = 1
# Fixed dates keep fixtures, and so their imports, identical run to run.
BASE_DATE = 1_700_000_000


def _die_with_parent():  # pragma: no cover - runs in the child
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _b(text) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


class HgRepo:
    """A Mercurial repository at `path`, created when missing."""

    def __init__(self, path):
        from mercurial import hg
        from mercurial import ui as uimod

        self.path = str(path)
        ui = uimod.ui()
        ui.setconfig(b"ui", b"quiet", b"true")
        create = not os.path.isdir(os.path.join(self.path, ".hg"))
        self.repo = hg.repository(ui, _b(self.path), create=create)
        self._clock = BASE_DATE + len(self.repo) * 60

    def close(self):
        self.repo.close()

    def __len__(self):
        return len(self.repo.unfiltered())

    def tip(self, branch=None) -> str:
        """The node (hex) of the newest changeset, or of `branch`'s tip."""
        repo = self.repo.unfiltered()
        if branch is None:
            return repo[b"tip"].hex()
        return repo.branchtip(_b(branch)).hex()

    def commit(self, message, files=None, *, user="Alice <alice@example.org>",
               branch=None, parents=None, close=False, copies=None,
               execs=(), links=(), date=None) -> str:
        """Write one changeset and return its node (hex).

        :param files: ``{path: content}``; content None deletes the path.
            Paths left out keep their first parent's content.
        :param parents: node hexes (default: the tip of `branch`, or of
            the whole repository for a new branch).
        :param copies: ``{new path: source path}`` recorded as copies.
        :param execs: paths that are executable.
        :param links: paths that are symbolic links (content: target).
        """
        from mercurial import context
        from mercurial.node import bin

        repo = self.repo.unfiltered()
        files = {_b(path): value for path, value in (files or {}).items()}
        copies = {_b(k): _b(v) for k, v in (copies or {}).items()}
        execs = {_b(p) for p in execs}
        links = {_b(p) for p in links}
        if parents is None:
            if len(repo) == 0:
                parents = [None]
            elif branch is not None and _b(branch) in repo.branchmap():
                parents = [repo.branchtip(_b(branch)).hex()]
            else:
                parents = [repo[b"tip"].hex()]
        parents = [bin(p) if p else None for p in parents] + [None]
        if branch is None:
            branch = (repo[parents[0]].branch() if parents[0] is not None
                      else b"default")

        def filectx(repo_, memctx, path):
            content = files[path]
            if content is None:
                return None
            return context.memfilectx(
                repo_, memctx, path, _b(content),
                islink=path in links, isexec=path in execs,
                copysource=copies.get(path))

        extra = {b"branch": _b(branch)}
        if close:
            extra[b"close"] = b"1"
        if date is None:
            self._clock += 60
            date = (self._clock, 0)
        ctx = context.memctx(
            repo, parents[:2], _b(message), sorted(files), filectx,
            user=_b(user), date=date, extra=extra)
        with repo.wlock(), repo.lock():
            return repo.commitctx(ctx).hex()

    def tag(self, name, node, *, user="Alice <alice@example.org>",
            branch=None) -> str:
        """Tag `node` as Mercurial does: a changeset adding a line to
        ``.hgtags`` (on `branch`'s tip, default the tagged branch)."""
        repo = self.repo.unfiltered()
        branch = _b(branch) if branch else repo[_b(node)].branch()
        head = repo.branchtip(branch)
        ctx = repo[head]
        old = ctx[b".hgtags"].data() if b".hgtags" in ctx else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        line = b"%s %s\n" % (_b(node), _b(name))
        return self.commit(f"Added tag {name}", {".hgtags": old + line},
                           user=user, parents=[head.hex()])

    @contextlib.contextmanager
    def batch(self):
        """Write many changesets in one transaction (much faster)."""
        repo = self.repo.unfiltered()
        with repo.wlock(), repo.lock(), repo.transaction(b"batch"):
            yield self

    def bookmark(self, name, node=None):
        """Point bookmark `name` at `node`; None deletes it."""
        from mercurial.node import bin

        repo = self.repo.unfiltered()
        with repo.wlock(), repo.lock(), repo.transaction(b"bookmark") as tr:
            marks = repo._bookmarks
            changes = [(_b(name), bin(node) if node else None)]
            marks.applychanges(repo, tr, changes)


def build_fixture(path) -> dict[str, str]:
    """The standard small history every Mercurial test starts from.

    Named branches ``default``, ``stable`` and ``doomed`` (closed), a
    bookmark ``feature-bm`` on an extra head of default, tags ``v1.0``
    and ``v1.1``, a merge, a rename, a symlink, an executable, a binary
    file and non-ASCII authors and messages.  Returns its nodes by role.
    """
    repo = HgRepo(path)
    n = {}
    n["initial"] = repo.commit("Initial import", {
        "README": "Hello\n", "src/main.c": "int main() {}\n",
        "logo.bin": bytes(range(256)) + b"\x00\x01\x02\xff",
        "run.sh": "#!/bin/sh\necho hi\n", "link": "README",
    }, execs=["run.sh"], links=["link"])
    n["unicode"] = repo.commit(
        "Ünïcödé commit message: café ☕", {"README": "Hello, wörld\n"},
        user="Jürgen Ü <juergen@example.org>")
    n["v1.0"] = repo.tag("v1.0", n["unicode"])
    fixed = "int main() { return 1; }\n"
    n["stable"] = repo.commit("Stable fix", {"src/main.c": fixed},
                              branch="stable", user="bob")
    n["doomed"] = repo.commit("Doomed work", {"doomed.txt": "x\n"},
                              branch="doomed", parents=[n["v1.0"]])
    n["doomed-closed"] = repo.commit("Give up", branch="doomed",
                                     close=True)
    n["merge"] = repo.commit("Merge stable", {"src/main.c": fixed},
                             branch="default",
                             parents=[n["v1.0"], n["stable"]])
    n["rename"] = repo.commit("Rename README",
                              {"README": None, "README.txt": "Hello, wörld\n"},
                              copies={"README.txt": "README"},
                              parents=[n["merge"]])
    n["v1.1"] = repo.tag("v1.1", n["rename"])
    # A second head on default, bookmarked, then one more commit on the
    # main line: two heads on default.
    n["feature"] = repo.commit("Feature work", {"feature.txt": "new\n"},
                               parents=[n["rename"]])
    repo.bookmark("feature-bm", n["feature"])
    n["main"] = repo.commit("More on default", {"main.txt": "main\n"},
                            parents=[n["v1.1"]])
    # An unbookmarked third head on default.
    n["anonymous"] = repo.commit("Anonymous head", {"anon.txt": "a\n"},
                                 parents=[n["merge"]], user="carol")
    repo.close()
    return n


def generate_history(path, revisions: int, files: int = 200) -> HgRepo:
    """Add `revisions` changesets to the repository at `path` (made when
    missing), as the benchmarks want them: `files` small files in 20
    directories, 1-3 changed per changeset; on a fresh repository also a
    named branch every 250 changesets (a fifth of the changesets land on
    them), a tag every 400 and 4 bookmarks.  Deterministic."""
    repo = HgRepo(path)
    start = len(repo)
    branches = []
    with repo.batch():
        for number in range(start, start + revisions):
            changed = {
                f"dir{(number * 7 + k) % 20}/file{(number * 13 + k) % files}"
                f".txt": f"revision {number} change {k}\n" * (1 + k)
                for k in range(1 + number % 3)}
            branch = None
            if number and number % 250 == 0:
                branches.append(f"branch-{number}")
                branch = branches[-1]
            elif branches and number % 5 == 0:
                branch = branches[number % len(branches)]
            node = repo.commit(f"Change {number}", changed, branch=branch,
                               user=f"Dev {number % 7} <dev{number % 7}"
                                    "@example.org>")
            if start == 0 and number and number % 400 == 0:
                repo.tag(f"v{number // 400}", node)
        if start == 0:
            for k in range(4):
                repo.bookmark(f"bm{k}", repo.tip())
    return repo


class HgServer:
    """``hg serve`` on 127.0.0.1 for every repository under `root`."""

    def __init__(self, root, log_path=None):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        config = os.path.join(self.root, "..", "hgweb-" +
                              os.path.basename(self.root) + ".conf")
        self._config = os.path.abspath(config)
        with open(self._config, "w") as stream:
            stream.write(f"[paths]\n/ = {self.root}/**\n"
                         "[web]\nallow-archive =\npush_ssl = false\n"
                         # Find repositories made after the start.
                         "refreshinterval = 0\n")
        self._log = open(log_path or os.devnull, "ab")
        env = dict(os.environ, HGRCPATH="", HGPLAIN="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mercurial", "serve", "--web-conf",
             self._config, "-a", "127.0.0.1", "-p", "0",
             "--config", "web.push_ssl=false"],
            stdout=subprocess.PIPE, stderr=self._log, env=env,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline().decode()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"hg serve did not start: {line!r}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def urlFor(self, name) -> str:
        return f"{self.url}/{name}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
