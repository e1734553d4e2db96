"""RCS ``,v`` files written directly: a CVS module's history for tests.

`CVSHistory` describes a module's history (commits on HEAD and on
branches, deletions, tags, branches, a vendor import, binary files,
non-ASCII authors and messages, CVS 1.12 commit ids) and writes it as
the ``,v`` files CVS keeps: the ``cvs`` client sleeps up to a second per
commit, so a history of thousands of changesets could not be made with
it in reasonable time.  Each stored revision holds a "replace
everything" edit script rather than a minimal diff; CVS reads those like
any other.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from dataclasses import field

__all__ = ["CVSHistory", "world_readable"]

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
        world_readable(base)


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


def world_readable(path: str) -> None:
    for directory, subdirs, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)
