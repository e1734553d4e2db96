"""Git sources for tests, the demo and benchmarks: ``git daemon`` and
repositories built with ``git fast-import``.

`GitDaemon` serves every repository under a directory over ``git://`` on
127.0.0.1.  It listens itself, on a port the system chooses, and hands
each connection to ``git daemon --inetd`` (the real daemon, one process
per connection), which is what lets a test *stall* the source: while
`GitDaemon.gate` is closed, connections are accepted but not served, so
a client's fetch hangs in the middle of talking to the source until the
gate opens again (or the client is killed)::

    daemon = GitDaemon(tmp_path / "served").start()
    path = make_history(daemon.path("project"), commits=20)
    url = daemon.url("project")        # git://127.0.0.1:PORT/project
    daemon.gate.clear()                # fetches from now on hang ...
    daemon.gate.set()                  # ... until this
    daemon.stall(after=1)              # one more connection, then hang
    daemon.close()

An import makes two connections (it lists the source, then fetches), so
``stall(after=1)`` holds an import *in the middle of its fetch*;
`GitDaemon.waiting` says how many connections are being held.

`make_history` writes a history of `commits` commits in one
``git fast-import`` run (2,000 commits take well under a second), with
the features an importer must keep: branches, annotated and lightweight
tags, a merge, a deleted file, a binary file, an executable file, a
symbolic link and non-ASCII authors and messages.  `add_commits` adds
more commits to one branch; `git_refs` lists a repository's refs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading

__all__ = ["GitDaemon", "add_commits", "git", "git_refs", "make_history"]

# Commits are dated from here, a minute apart: the same history every time.
EPOCH = 1_600_000_000
AUTHORS = (
    "Ada Lovelace <ada@example.com>",
    "Jürgen Größe <jurgen@example.com>",
    "李小龙 <li@example.com>",
)


def _env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LANG": "C.UTF-8",
    }


def git(*args: str, input: bytes | None = None, cwd=None) -> str:
    """Run git with no user or system configuration and no hooks (a test
    may plant some to prove the importer runs none); return stdout."""
    return subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", *map(str, args)],
        input=input, cwd=cwd, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
    ).stdout.decode("utf-8", "surrogateescape")


def git_refs(path) -> dict[str, str]:
    """``{ref: sha}`` of the branches and tags of the repository at
    `path` (tags as their own objects, not peeled)."""
    output = git("--git-dir", path, "for-each-ref",
                 "--format=%(objectname) %(refname)", "refs/heads",
                 "refs/tags")
    return dict(reversed(line.split(" ", 1)) for line in output.splitlines())


class _Stream:
    """A ``git fast-import`` stream being written."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.mark = 0

    def data(self, content: bytes) -> None:
        self.parts.append(b"data %d\n" % len(content) + content + b"\n")

    def line(self, text: str) -> None:
        self.parts.append(text.encode("utf-8") + b"\n")

    def commit(self, ref: str, number: int, message: str, files,
               parent: str | None = None, merge: str | None = None) -> str:
        self.mark += 1
        mark = f":{self.mark}"
        author = AUTHORS[number % len(AUTHORS)]
        when = f"{EPOCH + 60 * number} +0000"
        self.line(f"commit {ref}")
        self.line(f"mark {mark}")
        self.line(f"author {author} {when}")
        self.line(f"committer {author} {when}")
        self.data(message.encode("utf-8"))
        if parent:
            self.line(f"from {parent}")
        if merge:
            self.line(f"merge {merge}")
        for change in files:
            self.parts.append(change)
        return mark

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def _modify(path: str, content: bytes, mode: str = "100644") -> bytes:
    return (f"M {mode} inline {path}\n".encode("utf-8")
            + b"data %d\n" % len(content) + content + b"\n")


def _delete(path: str) -> bytes:
    return f"D {path}\n".encode("utf-8")


def _ordinary(number: int) -> list[bytes]:
    return [_modify(f"src/file{number % 50}.txt",
                    f"line {number}\nrévision {number}\n".encode())]


def make_history(path, commits: int = 20, *, features: bool = True) -> str:
    """Create a bare repository at `path` with `commits` commits on
    master; return its path.

    With `features` (and at least 5 commits) it also has a ``stable``
    branch with its own commit merged back into master, an annotated tag
    ``v1.0`` and a lightweight tag ``light``, a binary file, an
    executable script, a symbolic link, a deleted file and non-ASCII
    authors, messages and file names.
    """
    path = str(path)
    git("init", "--quiet", "--bare", "--initial-branch=master", path)
    stream = _Stream()
    master = None
    stable = None
    for number in range(commits):
        files = _ordinary(number)
        message = f"Change {number}: édition numéro {number}\n"
        if features and number == 0:
            files += [
                _modify("bin/data.bin", bytes(range(256)) * 4),
                _modify("tools/run.sh", b"#!/bin/sh\necho hi\n", "100755"),
                _modify("link", b"tools/run.sh", "120000"),
                _modify("doomed.txt", b"short-lived\n"),
                _modify("docs/ñandú.txt", "pájaro\n".encode()),
            ]
        if features and number == 2:
            files.append(_delete("doomed.txt"))
        master = stream.commit("refs/heads/master", number, message, files,
                               parent=master)
        if features and number == 1:
            stable = stream.commit(
                "refs/heads/stable", number, "Stable fix\n",
                [_modify("STABLE", b"1\n")], parent=master)
            stream.line("tag v1.0")
            stream.line(f"from {stable}")
            stream.line(f"tagger {AUTHORS[1]} {EPOCH} +0000")
            stream.data("Release 1.0 — first\n".encode())
        if features and number == 3 and stable:
            master = stream.commit(
                "refs/heads/master", number, "Merge stable\n", [],
                parent=master, merge=stable)
    if features and commits:
        stream.line("reset refs/tags/light")
        stream.line(f"from {master}")
    git("--git-dir", path, "fast-import", "--quiet", input=stream.bytes())
    return path


def add_commits(path, count: int, branch: str = "master") -> str:
    """Add `count` commits to `branch` (created from nothing if
    missing) of the repository at `path`; return the new tip."""
    path = str(path)
    ref = f"refs/heads/{branch}"
    try:
        tip = git("--git-dir", path, "rev-parse", "--verify", "--quiet",
                  ref).strip()
        start = int(git("--git-dir", path, "rev-list", "--count",
                        ref).strip())
    except subprocess.CalledProcessError:
        tip, start = None, 0
    stream = _Stream()
    parent = tip
    for number in range(start, start + count):
        parent = stream.commit(ref, number, f"More {number} on {branch}\n",
                               _ordinary(number), parent=parent)
    git("--git-dir", path, "fast-import", "--quiet", input=stream.bytes())
    return git("--git-dir", path, "rev-parse", ref).strip()


class GitDaemon:
    """``git daemon`` serving the repositories under `base` (see module
    doc).

    :ivar gate: a `threading.Event`; cleared, connections wait unserved.
    :ivar connections: how many connections were accepted so far.
    """

    def __init__(self, base):
        self.base = os.path.realpath(str(base))
        os.makedirs(self.base, exist_ok=True)
        self.gate = threading.Event()
        self.gate.set()
        self.connections = 0
        self.waiting = 0
        self._free = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = None
        self.port = None

    def start(self) -> GitDaemon:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stall(self, after: int = 0) -> None:
        """Serve `after` more connections, then hold every later one
        until the gate opens again (``gate.set()``)."""
        with self._lock:
            self._free = after
            self.gate.clear()

    def path(self, name: str) -> str:
        """Where the repository served as `name` lives."""
        return os.path.join(self.base, name)

    def url(self, name: str) -> str:
        """The ``git://`` URL of the repository served as `name`."""
        return f"git://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(connection,),
                             daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            with self._lock:
                free = not self.gate.is_set() and self._free > 0
                if free:
                    self._free -= 1
                else:
                    self.waiting += 1
            try:
                while not free and not self.gate.wait(0.2):
                    if self._closed.is_set():
                        return
            finally:
                if not free:
                    with self._lock:
                        self.waiting -= 1
            if self._closed.is_set():
                return
            connection.setblocking(True)
            process = subprocess.Popen(
                ["git", "daemon", "--inetd", "--export-all",
                 "--informative-errors", "--timeout=60",
                 f"--base-path={self.base}", self.base],
                stdin=connection.fileno(), stdout=connection.fileno(),
                stderr=subprocess.DEVNULL, env=_env())
            process.wait()

    def close(self) -> None:
        self._closed.set()
        self.gate.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
