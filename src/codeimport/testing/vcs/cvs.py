"""CVS repositories for tests, the demo and the benchmarks, and a pserver.

`CVSHistory` describes a module's history (commits on HEAD and on
branches, deletions, tags, branches, a vendor import, binary files,
non-ASCII authors and messages, CVS 1.12 commit ids) and writes it as
RCS ``,v`` files directly: the ``cvs`` client sleeps up to a second per
commit, so a history of thousands of changesets could not be made with
it in reasonable time.  Each stored revision holds a "replace
everything" edit script rather than a minimal diff; CVS reads those like
any other.

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
from dataclasses import dataclass
from dataclasses import field

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


@dataclass
class _Revision:
    number: str
    date: datetime.datetime
    author: str
    state: str
    text: bytes
    log: str
    commitid: str | None = None
    branches: list[str] = field(default_factory=list)


@dataclass
class _File:
    path: str
    binary: bool = False
    revisions: dict[str, _Revision] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)
    # The default branch (a vendor branch) while it is in force.
    default_branch: str | None = None

    def trunk(self) -> list[str]:
        return sorted((n for n in self.revisions if n.count(".") == 1),
                      key=_key)

    def on_branch(self, branch: str) -> list[str]:
        prefix = branch + "."
        return sorted(
            (n for n in self.revisions
             if n.startswith(prefix)
             and n.count(".") == branch.count(".") + 1),
            key=_key)


def _key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def _branch_of_symbol(value: str) -> str | None:
    """``1.2.0.4`` -> ``1.2.4``; ``1.1.1`` (vendor) -> ``1.1.1``."""
    parts = value.split(".")
    if len(parts) % 2 == 1:
        return value
    if len(parts) >= 4 and parts[-2] == "0":
        return ".".join(parts[:-2] + parts[-1:])
    return None


class CVSHistory:
    """The history of one module, built in memory and written as ``,v``.

    Paths are relative to the module (``src/a.py``).  Lines are ``HEAD``
    or a branch name made by `branch`.
    """

    def __init__(self, module: str):
        self.module = module
        self.files: dict[str, _File] = {}
        self._commitids = 0

    # -- reading the state being built --

    def _tip(self, f: _File, line: str) -> str | None:
        """The newest revision of `f` on `line`, or None."""
        if line == "HEAD":
            if f.default_branch:
                revs = f.on_branch(f.default_branch)
                if revs:
                    return revs[-1]
            trunk = f.trunk()
            return trunk[-1] if trunk else None
        value = f.symbols.get(line)
        if value is None:
            return None
        branch = _branch_of_symbol(value)
        revs = f.on_branch(branch)
        if revs:
            return revs[-1]
        return branch.rsplit(".", 1)[0]

    def snapshot(self, line: str = "HEAD") -> dict[str, bytes]:
        """``{path: content}`` of the live files at the tip of `line`."""
        result = {}
        for path, f in self.files.items():
            number = self._tip(f, line)
            if number and f.revisions[number].state != "dead":
                result[path] = f.revisions[number].text
        return result

    # -- making history --

    def commit(self, changes: dict[str, bytes | None], author: str,
               message: str, when: datetime.datetime, line: str = "HEAD",
               commitid: bool | str = True,
               binary: tuple[str, ...] = ()) -> None:
        """One commit: `changes` maps paths to new content, or None to
        remove.  `commitid` True makes a fresh CVS 1.12 commit id, False
        none (as CVS 1.11 wrote)."""
        cid = self._commitid(commitid)
        for path, content in sorted(changes.items()):
            f = self.files.get(path)
            if f is None:
                if content is None:
                    raise ValueError(f"cannot remove unknown {path}")
                f = self.files[path] = _File(path, binary=path in binary)
            self._add_revision(f, line, content, author, message, when, cid)

    def _commitid(self, commitid: bool | str) -> str | None:
        if commitid is True:
            self._commitids += 1
            return f"{self._commitids:04d}testcommitid"[:16]
        return commitid or None

    def _add_revision(self, f, line, content, author, message, when, cid):
        state = "dead" if content is None else "Exp"
        text = b"" if content is None else content
        tip = self._tip(f, line)
        if line == "HEAD":
            f.default_branch = None
            trunk = f.trunk()
            number = (f"1.{int(trunk[-1].split('.')[1]) + 1}" if trunk
                      else "1.1")
            self._store(f, number, when, author, state, text, message, cid)
            return
        value = f.symbols.get(line)
        if value is None:
            # A file first added on a branch: CVS writes a dead 1.1 on
            # the trunk, then the branch from it.
            if f.revisions:
                raise ValueError(f"{f.path} is not on branch {line}")
            self._store(f, "1.1", when, author, "dead", b"",
                        f"file {os.path.basename(f.path)} was initially "
                        f"added on branch {line}.\n", cid)
            f.symbols[line] = "1.1.0.2"
            value = "1.1.0.2"
        branch = _branch_of_symbol(value)
        revs = f.on_branch(branch)
        number = (f"{branch}.{int(revs[-1].rsplit('.', 1)[1]) + 1}"
                  if revs else f"{branch}.1")
        if not revs:
            f.revisions[branch.rsplit(".", 1)[0]].branches.append(number)
        del tip
        self._store(f, number, when, author, state, text, message, cid)

    def _store(self, f, number, when, author, state, text, log, cid):
        if not log.endswith("\n"):
            log += "\n"
        f.revisions[number] = _Revision(number, when, author, state, text,
                                        log, cid)

    def vendor_import(self, files: dict[str, bytes], author: str,
                      message: str, when: datetime.datetime,
                      vendor: str = "vendor", release: str = "start",
                      binary: tuple[str, ...] = ()) -> None:
        """``cvs import``: new files get 1.1 and 1.1.1.1 with the vendor
        branch as default branch; files still on it get 1.1.1.N."""
        cid = self._commitid(True)
        for path, content in sorted(files.items()):
            f = self.files.get(path)
            if f is None:
                f = self.files[path] = _File(path, binary=path in binary)
                self._store(f, "1.1", when, author, "Exp", content,
                            "Initial revision\n", cid)
                self._store(f, "1.1.1.1", when, author, "Exp", content,
                            message, cid)
                f.revisions["1.1"].branches.append("1.1.1.1")
                f.default_branch = "1.1.1"
                f.symbols[vendor] = "1.1.1"
            elif f.default_branch == "1.1.1":
                revs = f.on_branch("1.1.1")
                number = f"1.1.1.{int(revs[-1].rsplit('.', 1)[1]) + 1}"
                self._store(f, number, when, author, "Exp", content,
                            message, cid)
            else:
                raise ValueError(f"{path} has left the vendor branch")
            f.symbols[release] = f"1.1.1.{len(f.on_branch('1.1.1'))}"

    def tag(self, name: str, line: str = "HEAD") -> None:
        """``cvs rtag``: tag the live tip of `line` of every file."""
        for f in self.files.values():
            number = self._tip(f, line)
            if number and f.revisions[number].state != "dead":
                f.symbols[name] = number

    def branch(self, name: str, line: str = "HEAD") -> None:
        """``cvs rtag -b``: a branch from the live tip of `line`."""
        for f in self.files.values():
            number = self._tip(f, line)
            if not number or f.revisions[number].state == "dead":
                continue
            used = {
                int(_branch_of_symbol(v).rsplit(".", 1)[1])
                for v in f.symbols.values()
                if _branch_of_symbol(v)
                and _branch_of_symbol(v).rsplit(".", 1)[0] == number
            }
            used.update(int(b.split(".")[-2]) for b in
                        f.revisions[number].branches)
            even = 2
            while even in used:
                even += 2
            f.symbols[name] = f"{number}.0.{even}"

    # -- writing --

    def write(self, root: str) -> None:
        """Write the module's ``,v`` files under `root` (made by
        `make_root`), replacing any earlier version."""
        base = os.path.join(root, self.module)
        for f in self.files.values():
            trunk = f.trunk()
            dead_head = f.revisions[trunk[-1]].state == "dead"
            directory = os.path.join(base, os.path.dirname(f.path))
            name = os.path.basename(f.path) + ",v"
            live = os.path.join(directory, name)
            attic = os.path.join(directory, "Attic", name)
            wanted, other = (attic, live) if dead_head else (live, attic)
            os.makedirs(os.path.dirname(wanted), exist_ok=True)
            data = _rcs_file(f)
            temporary = wanted + ".tmp"
            with open(temporary, "wb") as stream:
                stream.write(data)
            os.chmod(temporary, 0o444)
            os.replace(temporary, wanted)
            if os.path.exists(other):
                os.unlink(other)
        _world_readable(base)


def _at(data: bytes) -> bytes:
    return b"@" + data.replace(b"@", b"@@") + b"@"


def _lines(text: bytes) -> int:
    if not text:
        return 0
    return text.count(b"\n") + (0 if text.endswith(b"\n") else 1)


def _edit(old: bytes, new: bytes) -> bytes:
    """An RCS edit script turning `old` into `new` (replace it all)."""
    script = b""
    n_old = _lines(old)
    if n_old:
        script += b"d1 %d\n" % n_old
    n_new = _lines(new)
    if n_new:
        script += b"a%d %d\n" % (n_old, n_new) + new
    return script


def _rcs_date(when: datetime.datetime) -> bytes:
    return when.astimezone(UTC).strftime("%Y.%m.%d.%H.%M.%S").encode()


def _rcs_file(f: _File) -> bytes:
    trunk = f.trunk()
    head = trunk[-1]
    out = [b"head\t" + head.encode() + b";\n"]
    if f.default_branch:
        out.append(b"branch\t" + f.default_branch.encode() + b";\n")
    out.append(b"access;\nsymbols")
    for name, value in sorted(f.symbols.items(),
                              key=lambda item: item[0], reverse=True):
        out.append(b"\n\t" + name.encode() + b":" + value.encode())
    out.append(b";\nlocks; strict;\ncomment\t@# @;\n")
    if f.binary:
        out.append(b"expand\t@b@;\n")
    out.append(b"\n")
    order = list(reversed(trunk))
    for number in trunk:
        for start in f.revisions[number].branches:
            branch = start.rsplit(".", 1)[0]
            order.extend(f.on_branch(branch))
    for number in order:
        rev = f.revisions[number]
        if number.count(".") == 1:
            index = trunk.index(number)
            following = trunk[index - 1] if index else ""
        else:
            branch = f.on_branch(number.rsplit(".", 1)[0])
            index = branch.index(number)
            following = branch[index + 1] if index + 1 < len(branch) else ""
        out.append(
            b"\n" + number.encode() + b"\ndate\t" + _rcs_date(rev.date)
            + b";\tauthor " + rev.author.encode() + b";\tstate "
            + rev.state.encode() + b";\nbranches"
            + b"".join(b"\n\t" + b.encode() for b in rev.branches)
            + b";\nnext\t" + following.encode() + b";\n")
        if rev.commitid:
            out.append(b"commitid\t" + rev.commitid.encode() + b";\n")
    out.append(b"\n\ndesc\n@@\n")
    for number in order:
        rev = f.revisions[number]
        if number == head:
            text = rev.text
        elif number.count(".") == 1:
            newer = trunk[trunk.index(number) + 1]
            text = _edit(f.revisions[newer].text, rev.text)
        else:
            branch = f.on_branch(number.rsplit(".", 1)[0])
            index = branch.index(number)
            parent = (branch[index - 1] if index
                      else number.rsplit(".", 2)[0])
            text = _edit(f.revisions[parent].text, rev.text)
        out.append(b"\n\n" + number.encode() + b"\nlog\n"
                   + _at(rev.log.encode()) + b"\ntext\n" + _at(text) + b"\n")
    return b"".join(out)


def _world_readable(path: str) -> None:
    for directory, subdirs, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)


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
    _world_readable(root)
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

    def __init__(self, root: str):
        self.root = root
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
