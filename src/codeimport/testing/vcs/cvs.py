"""CVS repositories for tests, the demo and the benchmarks, and a pserver.

`CVSHistory` (from `rcsfiles`) builds a module's history and writes it
as ``,v`` files; `sample_history` and `synthetic_history` are the
histories the tests, the demo and the benchmark use.

`CVSServer` serves a repository root over the pserver protocol on
127.0.0.1 (a free port): a thread accepts connections and runs
``cvs -f --allow-root=ROOT pserver`` on each.  CVS refuses to serve as
root, so the repository maps ``anonymous`` to ``nobody`` (when we are
root) and is made world-readable.  The server is a daemon thread: it
stops with `stop()` or with the process.
"""

from __future__ import annotations

import datetime
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading

from codeimport.testing.vcs.rcsfiles import CVSHistory
from codeimport.testing.vcs.rcsfiles import world_readable

__all__ = [
    "CVSHistory",
    "CVSServer",
    "add_user",
    "make_root",
    "remove_root",
    "sample_history",
    "synthetic_history",
]

UTC = datetime.timezone.utc


def _server_user() -> str:
    """The system user anonymous works as: CVS refuses root."""
    if os.getuid() == 0:
        return "nobody"
    return pwd.getpwuid(os.getuid()).pw_name


def make_root(parent: str | None = None) -> str:
    """A new, empty CVS repository root a pserver can serve.

    Made in a world-readable directory (not under a private temporary
    directory), since the server runs as ``nobody``.
    """
    top = tempfile.mkdtemp(prefix="codeimport-cvs-", dir=parent)
    os.chmod(top, 0o755)
    root = os.path.join(top, "cvsroot")
    subprocess.run(["cvs", "-f", "-d", root, "init"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    locks = os.path.join(top, "locks")
    os.mkdir(locks)
    os.chmod(locks, 0o1777)
    with open(os.path.join(root, "CVSROOT", "passwd"), "w") as stream:
        stream.write(f"anonymous::{_server_user()}\n")
    with open(os.path.join(root, "CVSROOT", "config"), "a") as stream:
        stream.write(f"LockDir={locks}\nSystemAuth=no\n")
    world_readable(root)
    # The server (as nobody) records valid tag names there.
    for name in ("val-tags", "history"):
        path = os.path.join(root, "CVSROOT", name)
        open(path, "a").close()
        os.chmod(path, 0o666)
    return root


def add_user(root: str, user: str, password: str) -> None:
    """Let `user` in with `password` (crypt-hashed in CVSROOT/passwd)."""
    hashed = subprocess.run(
        ["openssl", "passwd", "-1", "-stdin"], input=password.encode(),
        check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    with open(os.path.join(root, "CVSROOT", "passwd"), "a") as stream:
        stream.write(f"{user}:{hashed}:{_server_user()}\n")


def remove_root(root: str) -> None:
    """Remove a root made by `make_root`, with its lock directory."""
    shutil.rmtree(os.path.dirname(root), ignore_errors=True)


class CVSServer:
    """A pserver for `root` on 127.0.0.1; ``cvsroot(...)`` names it."""

    def __init__(self, root: str, max_connections: int | None = None):
        self.root = root
        # Like servers that limit clients: more connections are closed.
        self.max_connections = max_connections
        self.refused = 0
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self._stopped = threading.Event()
        self._children: list[subprocess.Popen] = []
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"cvs-pserver-{self.port}")
        self._thread.start()

    def cvsroot(self, user: str = "anonymous", password: str = "") -> str:
        """The CVSROOT a client uses (``:pserver:anonymous@127.0.0.1:P/…``)."""
        auth = f"{user}:{password}" if password else user
        return f":pserver:{auth}@127.0.0.1:{self.port}{self.root}"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            if (self.max_connections is not None
                    and len(self._children) >= self.max_connections):
                # A client that just hung up: its server may still be
                # finishing.
                try:
                    self._children[0].wait(2)
                except subprocess.TimeoutExpired:
                    pass
            self._children = [c for c in self._children if c.poll() is None]
            if (self.max_connections is not None
                    and len(self._children) >= self.max_connections):
                self.refused += 1
                connection.close()
                continue
            with connection:
                child = subprocess.Popen(
                    ["cvs", "-f", f"--allow-root={self.root}", "pserver"],
                    stdin=connection, stdout=connection,
                    stderr=subprocess.DEVNULL, start_new_session=True)
            self._children = [c for c in self._children if c.poll() is None]
            self._children.append(child)

    def stop(self) -> None:
        self._stopped.set()
        try:
            # Wakes the accepting thread (closing alone does not).
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        self._thread.join(5)
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.wait()

    def __enter__(self) -> CVSServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


EPOCH = datetime.datetime(2020, 1, 1, tzinfo=UTC)


def sample_history(module: str = "proj",
                   start: datetime.datetime = EPOCH) -> CVSHistory:
    """A small module with everything an importer must handle: a vendor
    import with a binary file, non-ASCII authors and messages, a branch
    with a file added on it, tags, a deletion, and CVS 1.11-style
    commits without commit ids that only their time window groups."""
    hour = datetime.timedelta(hours=1)
    history = CVSHistory(module)
    history.vendor_import(
        {"README": b"hello\n", "src/a.py": b"print(1)\n",
         "logo.bin": b"\x00\x01@\n\xff\r\n$Id$"},
        "bob", "Initial import", start, binary=("logo.bin",))
    history.commit({"src/a.py": b"print(2)\n# $Id$\n"}, "j\u00fcrgen",
                   "\u00dcnicode message: caf\u00e9", start + hour)
    history.tag("v1_0")
    history.branch("stable")
    history.commit({"src/a.py": b"print(3)  # stable\n",
                    "doc/added-on-branch.txt": b"branch only\n"},
                   "alice", "Work on the branch", start + 2 * hour,
                   line="stable")
    history.commit({"README": None}, "alice", "Remove README",
                   start + 3 * hour)
    # Two files, one commit, no commit id: the window groups them.
    history.commit({"b.txt": b"no final newline"}, "carol",
                   "Add b and c", start + 4 * hour, commitid=False)
    history.commit({"src/c.txt": b"c\n"}, "carol", "Add b and c",
                   start + 4 * hour + datetime.timedelta(seconds=40),
                   commitid=False)
    history.tag("v1_1")
    return history


def synthetic_history(module: str, changesets: int, files: int = 200,
                      start: datetime.datetime = EPOCH) -> CVSHistory:
    """A large history for benchmarks: `changesets` commits of 1-3 files
    among `files` in 20 directories, a branch with a few commits and a
    tag every 250 changesets."""
    history = CVSHistory(module)
    paths = [f"dir{i % 20:02d}/file{i:04d}.txt" for i in range(files)]
    minute = datetime.timedelta(minutes=7)
    contents = {}
    on_branch = []
    for number in range(changesets):
        when = start + number * minute
        if number == changesets // 2:
            history.branch("release-1")
            on_branch = sorted(contents)
        if number and number % 250 == 0:
            history.tag(f"T{number}")
        line = "release-1" if (number > changesets // 2
                               and number % 50 == 0) else "HEAD"
        if line == "release-1":
            chosen = on_branch[number % len(on_branch):][:1]
        else:
            chosen = [paths[(number * 7 + k * 13) % files]
                      for k in range(1 + number % 3)]
        changes = {}
        for path in chosen:
            contents[path] = contents.get(path, b"") + (
                b"line %d of %s\n" % (number, path.encode()))
            changes[path] = contents[path]
        history.commit(changes, f"user{number % 5}",
                       f"Change {number}\n\nTouches {len(changes)} files.",
                       when, line=line)
    return history
