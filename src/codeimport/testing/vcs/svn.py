"""Subversion repositories and an ``svnserve`` for tests, demo and benchmarks.

Repositories are built from a generated dump (`History`) loaded with
``svnadmin load``: one program run however many revisions there are, and
every author, date, property and copy exactly as the test says.  The
server (`SvnServer`) is a real ``svnserve`` bound to 127.0.0.1 on a free
port; it dies with the process that started it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid as uuidlib
from dataclasses import dataclass
from dataclasses import field

__all__ = [
    "History",
    "SvnServer",
    "create_repository",
    "fast_directory",
    "standard_history",
]

_PR_SET_PDEATHSIG = 1


def _die_with_parent():  # pragma: no cover - runs in the child
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _props_block(props: dict[str, bytes | str]) -> bytes:
    out = b""
    for name, value in sorted(props.items()):
        key = name.encode()
        value = value.encode() if isinstance(value, str) else value
        out += b"K %d\n%s\nV %d\n%s\n" % (len(key), key, len(value), value)
    return out + b"PROPS-END\n"


@dataclass
class _Node:
    path: str
    action: str
    kind: str | None = None
    content: bytes | None = None
    props: dict | None = None
    copy: tuple[str, int] | None = None


@dataclass
class _Revision:
    author: str | None
    log: str
    date: str
    nodes: list[_Node] = field(default_factory=list)


class Revision:
    """The changes of one revision (returned by `History.revision`)."""

    def __init__(self, record: _Revision):
        self._record = record

    def _add(self, node: _Node) -> Revision:
        self._record.nodes.append(node)
        return self

    def mkdir(self, path, props=None, copy=None):
        """Add directory `path`, copied from ``(path, rev)`` if `copy`."""
        return self._add(_Node(path, "add", "dir", None, props, copy))

    def add(self, path, content=b"", props=None, copy=None):
        """Add file `path` (copied from ``(path, rev)`` if `copy`)."""
        if isinstance(content, str):
            content = content.encode()
        return self._add(_Node(path, "add", "file",
                               None if copy and not content else content,
                               props, copy))

    def change(self, path, content=None, props=None):
        """Change file `path`'s content and/or its properties (all of
        them: `props` replaces the old ones)."""
        if isinstance(content, str):
            content = content.encode()
        return self._add(_Node(path, "change", "file", content, props))

    def setprops(self, path, props):
        """Replace the properties of directory `path`."""
        return self._add(_Node(path, "change", "dir", None, props))

    def delete(self, path):
        return self._add(_Node(path, "delete"))

    def replace(self, path, kind="dir", copy=None, content=None, props=None):
        """Replace `path` by a new node (a copy, or new content)."""
        if isinstance(content, str):
            content = content.encode()
        return self._add(_Node(path, "replace", kind, content, props, copy))


class History:
    """A Subversion history written as a dump file.

    ``history.revision("alice", "message").add("trunk/a", b"x")`` adds a
    revision; revision numbers count from 1 in the order they are added.
    """

    def __init__(self, uuid: str | None = None, start: int = 1_700_000_000):
        self.uuid = uuid or str(
            uuidlib.uuid5(uuidlib.NAMESPACE_URL, "codeimport-test"))
        self._revisions: list[_Revision] = []
        self._start = start

    @property
    def youngest(self) -> int:
        return len(self._revisions)

    def revision(self, author: str | None, log: str = "",
                 date: int | None = None) -> Revision:
        number = len(self._revisions) + 1
        seconds = self._start + 60 * number if date is None else date
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                              time.gmtime(seconds))
        record = _Revision(author, log, stamp)
        self._revisions.append(record)
        return Revision(record)

    def dump(self, start: int = 1) -> bytes:
        """The dump of revisions `start`.. (an incremental dump unless
        `start` is 1)."""
        parts = [b"SVN-fs-dump-format-version: 2\n\n"]
        if start == 1:
            parts.append(b"UUID: %s\n\n" % self.uuid.encode())
            parts.append(self._revision_header(0, {
                "svn:date": "2023-11-14T22:13:20.000000Z"}))
        for number, record in enumerate(self._revisions[start - 1:], start):
            props = {"svn:date": record.date, "svn:log": record.log}
            if record.author is not None:
                props["svn:author"] = record.author
            parts.append(self._revision_header(number, props))
            for node in record.nodes:
                parts.append(self._node(node))
        return b"".join(parts)

    @staticmethod
    def _revision_header(number, props) -> bytes:
        block = _props_block(props)
        return (b"Revision-number: %d\nProp-content-length: %d\n"
                b"Content-length: %d\n\n%s\n"
                % (number, len(block), len(block), block))

    @staticmethod
    def _node(node: _Node) -> bytes:
        head = b"Node-path: %s\n" % node.path.encode()
        if node.kind and node.action != "delete":
            head += b"Node-kind: %s\n" % node.kind.encode()
        head += b"Node-action: %s\n" % node.action.encode()
        if node.copy:
            head += (b"Node-copyfrom-rev: %d\nNode-copyfrom-path: %s\n"
                     % (node.copy[1], node.copy[0].encode()))
        props = b""
        if node.props is not None or (
                node.action in ("add", "replace") and not node.copy):
            props = _props_block(node.props or {})
        text = node.content
        if text is None and node.kind == "file" and node.action in (
                "add", "replace") and not node.copy:
            text = b""
        if props:
            head += b"Prop-content-length: %d\n" % len(props)
        if text is not None:
            head += b"Text-content-length: %d\n" % len(text)
        if props or text is not None:
            head += b"Content-length: %d\n" % (len(props) + len(text or b""))
        return head + b"\n" + props + (text or b"") + b"\n\n"


def fast_directory(prefix: str = "codeimport-svn-") -> str:
    """A new directory on tmpfs when there is one: ``svnadmin load``
    writes a file per revision and is several times faster there."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def create_repository(path, history: History | None = None) -> str:
    """Create a repository at `path` holding `history`; its file:// URL."""
    path = str(path)
    subprocess.run(["svnadmin", "create", "--", path], check=True)
    # Faster loads; nothing here needs deduplicated storage.
    with open(os.path.join(path, "db", "fsfs.conf"), "a") as conf:
        conf.write("\n[rep-sharing]\nenable-rep-sharing = false\n")
    if history is not None and history.youngest:
        load(path, history)
    return "file://" + path


def load(path, history: History, start: int = 1) -> None:
    """Load `history`'s revisions from `start` into the repository."""
    subprocess.run(
        ["svnadmin", "load", "-q", "--no-flush-to-disk", "-M", "64", "--",
         str(path)],
        input=history.dump(start), check=True, stdout=subprocess.DEVNULL)


class SvnServer:
    """``svnserve`` serving the repositories under `root` read-only.

    Use as a context manager.  It listens on 127.0.0.1 on a free port
    and gets SIGTERM when the process that started it dies.
    """

    def __init__(self, root):
        self.root = str(root)
        self.port = None
        self._process = None

    def url(self, name: str) -> str:
        return f"svn://127.0.0.1:{self.port}/{name}"

    def start(self) -> SvnServer:
        for _ in range(5):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            process = subprocess.Popen(
                ["svnserve", "-d", "--foreground", "-T", "-r", self.root,
                 "--listen-host", "127.0.0.1", "--listen-port", str(port)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
            if self._wait_listening(process, port):
                self._process, self.port = process, port
                return self
        raise RuntimeError("svnserve did not start")

    @staticmethod
    def _wait_listening(process, port) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False    # the port was taken meanwhile: try again
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return True
            except OSError:
                time.sleep(0.01)
        process.kill()
        process.wait()
        return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stderr.close()
            self._process = None

    close = stop

    def __enter__(self) -> SvnServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


BINARY = bytes(range(256)) * 4 + b"\x00\x01\x02\xff"


def standard_history() -> History:
    """A small standard-layout history with everything the importer maps:
    branches, annotated tags, a merge, a deleted branch, a rename, a
    binary file, an executable, a symlink, paths with spaces and
    non-ASCII, a non-ASCII author and message, an empty commit, a
    commit on a tag, and svn:externals."""
    h = History()
    h.revision("alice", "Layout").mkdir("trunk").mkdir("branches").mkdir(
        "tags")
    (h.revision("alice", "Initial import")
     .add("trunk/README", "hello\n")
     .mkdir("trunk/src")
     .add("trunk/src/main.c", "int main() { return 0; }\n")
     .add("trunk/logo.bin", BINARY,
          {"svn:mime-type": "application/octet-stream"})
     .add("trunk/run.sh", "#!/bin/sh\necho hi\n", {"svn:executable": "*"})
     .add("trunk/link", "link src/main.c", {"svn:special": "*"})
     .mkdir("trunk/dir with space")
     .add("trunk/dir with space/ünïcode file.txt", "ü\n"))         # r2
    h.revision("jürgen", "Ünïcödé commit message: café ☕").change(
        "trunk/README", "hello\nwelt\n")                                # r3
    h.revision("bob", "Create feature-x").mkdir(
        "branches/feature-x", copy=("trunk", 3))                        # r4
    h.revision("bob", "Work on feature-x").add(
        "branches/feature-x/feature.txt", "feature\n")                  # r5
    h.revision("carol", "Tag 1.0").mkdir("tags/1.0", copy=("trunk", 3))
    h.revision("dave", "Doomed branch").mkdir(
        "branches/doomed", copy=("trunk", 6))                           # r7
    h.revision("dave", "Doomed work").change(
        "branches/doomed/README", "doomed\n")                           # r8
    h.revision("dave", "Remove doomed").delete("branches/doomed")       # r9
    h.revision("alice", "Rename main.c").add(
        "trunk/src/app.c", copy=("trunk/src/main.c", 9)).delete(
        "trunk/src/main.c").change("trunk/link", "link src/app.c")     # r10
    (h.revision("alice", "Merge feature-x")
     .add("trunk/feature.txt", copy=("branches/feature-x/feature.txt", 10))
     .setprops("trunk", {"svn:mergeinfo": "/branches/feature-x:4-10"}))
    h.revision("alice", "Only an externals property").setprops(
        "trunk/src", {"svn:externals": "ext svn://example.invalid/x"})  # r12
    h.revision("carol", "Tag 1.1").mkdir("tags/1.1", copy=("trunk", 12))
    h.revision("carol", "Fix on the tag").change(
        "tags/1.1/README", "hello\nwelt\nfixed on tag\n")               # r14
    h.revision("alice", "Mode and binary changes").change(
        "trunk/run.sh", props={}).change(
        "trunk/logo.bin", BINARY[::-1],
        {"svn:mime-type": "application/octet-stream"})                  # r15
    return h
