"""CVS history as changesets: ``rlog`` parsing, line mapping, grouping.

CVS versions files, not trees.  This module reads the ``rlog`` of a
module (every file's revisions, symbols and keyword mode) and turns it
into the changesets a Git history needs:

*Lines.*  A revision ``1.N`` is on the trunk (the module's HEAD, which
becomes ``master``); ``1.2.2.N`` is on the branch whose symbol is
``1.2.0.2`` in that file; a branch without a symbol is
``unlabeled-1.2.2``.

*Vendor branch.*  ``cvs import`` writes each new file as ``1.1`` and
``1.1.1.1`` (the same text, the same time) and makes the vendor branch
``1.1.1`` the file's default branch, so that HEAD is the newest vendor
revision until someone commits ``1.2`` on the trunk.  We follow what
HEAD meant at each moment: ``1.1.1.1`` is the same change as ``1.1``
(one commit, with the import's message); later vendor revisions are on
``master`` while the default branch was in force (for the whole file
history, or up to the time of ``1.2``), and on the vendor branch's own
line after that.

*Skipped.*  The dead trunk revision CVS writes for a file added on a
branch (``file x was initially added on branch b.``) is no change.

*Changesets.*  Revisions of one line with the same CVS 1.12 commit id
are one changeset.  Revisions without a commit id (CVS 1.11 and older)
are grouped by line, author and message, in time order, and a changeset
is cut where two consecutive revisions are more than `WINDOW` seconds
apart or a file would appear twice.  Grouping depends only on the
revisions not yet converted and each group only on its own members, so
converting a prefix of the changesets (a chunk) and grouping the rest
later gives the same changesets as grouping everything at once.
"""

from __future__ import annotations

import calendar
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field

__all__ = [
    "Changeset",
    "FileLog",
    "History",
    "RlogError",
    "Revision",
    "WINDOW",
    "clean_cut",
    "group_changesets",
    "parse_rlog",
]

#: Revisions without a commit id, by one author with one message, that
#: follow each other within this many seconds are one changeset (the
#: 5 minutes cvsps and cvs2svn use by default).
WINDOW = 300

_SEPARATOR = b"-" * 28
_END = b"=" * 77
_REVISION = re.compile(rb"^revision (\d+(?:\.\d+)+)(?:\s|$)")
_DATE = re.compile(
    rb"^date: (\d{4})[-/](\d\d)[-/](\d\d) (\d\d):(\d\d):(\d\d)"
    rb"(?: ([+-])(\d\d)(\d\d))?;")
_FIELD = re.compile(rb"\s*([a-z]+): ([^;]*);")
_ADDED_ON_BRANCH = re.compile(rb"^file .+ was (?:initially )?added on branch ")


class RlogError(ValueError):
    """The rlog output is not what CVS writes."""


@dataclass
class Revision:
    path: str
    number: str
    time: int
    author: bytes
    state: str
    message: bytes
    commitid: str | None = None
    line: str = ""

    @property
    def dead(self) -> bool:
        return self.state == "dead"


@dataclass
class FileLog:
    """One file's ``rlog`` entry.

    :ivar path: the file's path below the repository root, without
        ``,v`` and ``Attic/`` (``module/dir/name``).
    """

    path: str
    head: str = ""
    # The RCS file name as rlog gives it (with Attic/ and ,v).
    rcs_name: str = ""
    default_branch: str | None = None
    keyword: str = "kv"
    symbols: dict[str, str] = field(default_factory=dict)
    revisions: dict[str, Revision] = field(default_factory=dict)
    # A revision number standing for another with the same text and
    # time (the vendor import's 1.1.1.1 for 1.1).
    aliases: dict[str, str] = field(default_factory=dict)

    def canonical(self, number: str) -> str:
        return self.aliases.get(number, number)

    def branch_names(self) -> dict[str, str]:
        """``{branch number: symbol}`` (``1.2.2`` -> ``stable``)."""
        names = {}
        for name, value in self.symbols.items():
            branch = branch_of_symbol(value)
            if branch is not None:
                names.setdefault(branch, name)
        return names


def branch_of_symbol(value: str) -> str | None:
    """The branch number a symbol names, or None for a tag:
    ``1.2.0.4`` -> ``1.2.4``, ``1.1.1`` (a vendor branch) -> ``1.1.1``."""
    parts = value.split(".")
    if len(parts) % 2 == 1:
        return value
    if len(parts) >= 4 and parts[-2] == "0":
        return ".".join(parts[:-2] + parts[-1:])
    return None


def _time(match: re.Match) -> int:
    year, month, day, hour, minute, second = (
        int(match.group(i)) for i in range(1, 7))
    stamp = calendar.timegm((year, month, day, hour, minute, second))
    if match.group(7):
        offset = int(match.group(8)) * 3600 + int(match.group(9)) * 60
        stamp -= offset if match.group(7) == b"+" else -offset
    return stamp


class _Reader:
    """Lines with one line of look-ahead that can be pushed back."""

    def __init__(self, lines):
        self._lines = iter(lines)
        self._pending = None

    def take(self) -> bytes | None:
        if self._pending is not None:
            line, self._pending = self._pending, None
            return line
        return next(self._lines, None)

    def push_back(self, line: bytes) -> None:
        self._pending = line


def parse_rlog(lines, root_path: str) -> list[FileLog]:
    """Parse ``rlog`` output (an iterable of byte lines without ends).

    :param root_path: the repository root, stripped from RCS file names.
    :raises RlogError: on output that does not follow rlog's format.
    """
    files = []
    reader = _Reader(lines)
    prefix = root_path.rstrip("/") + "/"
    while True:
        line = reader.take()
        if line is None:
            return files
        if not line.startswith(b"RCS file: "):
            continue
        name = line[10:].decode("utf-8", "surrogateescape")
        if not name.endswith(",v"):
            raise RlogError(f"not an RCS file name: {name!r}")
        name = name[:-2]
        if name.startswith(prefix):
            name = name[len(prefix):]
        parts = name.split("/")
        if len(parts) > 1 and parts[-2] == "Attic":
            del parts[-2]
        current = FileLog("/".join(parts), rcs_name=line[10:].decode(
            "utf-8", "surrogateescape"))
        files.append(current)
        if _parse_header(current, reader):
            _parse_revisions(current, reader.take, reader.push_back)


def _parse_header(current: FileLog, reader: _Reader) -> bool:
    """Read a file's header; return whether revisions follow."""
    in_symbols = False
    while True:
        line = reader.take()
        if line is None:
            raise RlogError(f"{current.path}: output ends early")
        if line == _END:
            return False
        if line == _SEPARATOR:
            reader.push_back(line)
            return True
        if in_symbols and line.startswith(b"\t"):
            name, _, value = line.strip().partition(b": ")
            current.symbols[name.decode("utf-8", "replace")] = (
                value.decode("ascii", "replace").strip())
            continue
        in_symbols = False
        if line.startswith(b"head:"):
            current.head = line[5:].strip().decode("ascii", "replace")
        elif line.startswith(b"branch:"):
            current.default_branch = (
                line[7:].strip().decode("ascii", "replace") or None)
        elif line.startswith(b"symbolic names:"):
            in_symbols = True
        elif line.startswith(b"keyword substitution:"):
            current.keyword = line[21:].strip().decode("ascii", "replace")


def _parse_revisions(current: FileLog, take, push_back) -> None:
    line = take()
    while True:
        if line != _SEPARATOR:
            raise RlogError(f"{current.path}: unexpected {line[:60]!r}")
        header = take()
        match = _REVISION.match(header or b"")
        if match is None:
            raise RlogError(f"{current.path}: no revision after separator")
        number = match.group(1).decode("ascii")
        dateline = take() or b""
        date = _DATE.match(dateline)
        if date is None:
            raise RlogError(f"{current.path} {number}: bad date line")
        fields = dict(
            (k.decode(), v) for k, v in _FIELD.findall(dateline[date.end():]))
        message = []
        line = take()
        if line is not None and line.startswith(b"branches:"):
            line = take()
        while True:
            if line is None:
                raise RlogError(f"{current.path}: output ends early")
            if line == _END:
                break
            if line == _SEPARATOR:
                following = take()
                if following is not None and _REVISION.match(following):
                    push_back(following)
                    break
                message.append(line)
                line = following
                continue
            message.append(line)
            line = take()
        current.revisions[number] = Revision(
            path=current.path,
            number=number,
            time=_time(date),
            author=fields.get("author", b"").strip(),
            state=fields.get("state", b"Exp").strip().decode(
                "ascii", "replace"),
            message=b"\n".join(message),
            commitid=(fields["commitid"].strip().decode("ascii", "replace")
                      if "commitid" in fields else None),
        )
        if line == _END:
            return
        line = _SEPARATOR


class History:
    """The revisions of a module placed on lines (see the module doc).

    :ivar files: ``{path: FileLog}``.
    :ivar revisions: every revision that is a change, with its `line`.
    """

    def __init__(self, files: list[FileLog]):
        self.files = {f.path: f for f in files}
        self.revisions: list[Revision] = []
        for f in files:
            self._place(f)

    def _place(self, f: FileLog) -> None:
        names = f.branch_names()
        trunk2 = f.revisions.get("1.2")
        for number, rev in f.revisions.items():
            parts = number.split(".")
            if len(parts) == 2:
                if rev.dead and _ADDED_ON_BRANCH.match(rev.message):
                    continue
                vendor = f.revisions.get(number + ".1.1")
                if number == "1.1" and vendor is not None and (
                        vendor.time == rev.time):
                    # The import: one change, told by the import's message.
                    f.aliases["1.1.1.1"] = "1.1"
                    rev.message = vendor.message
                    rev.commitid = vendor.commitid or rev.commitid
                rev.line = "HEAD"
                self.revisions.append(rev)
                continue
            branch = ".".join(parts[:-1])
            if f.aliases.get(number) or (
                    number == "1.1.1.1" and "1.1" in f.revisions
                    and f.revisions["1.1"].time == rev.time):
                continue
            if _is_vendor(branch) and (
                    f.default_branch == branch
                    or trunk2 is not None and rev.time < trunk2.time):
                rev.line = "HEAD"
            else:
                rev.line = names.get(branch, "unlabeled-" + branch)
            self.revisions.append(rev)

    def symbol_lines(self) -> dict[str, str]:
        """``{symbol: "branch" or "tag"}``; a name used as a branch in
        any file is a branch."""
        kinds = {}
        for f in self.files.values():
            for name, value in f.symbols.items():
                if branch_of_symbol(value) is not None:
                    kinds[name] = "branch"
                else:
                    kinds.setdefault(name, "tag")
        return kinds

    def tag_map(self, name: str) -> dict[str, str]:
        """``{path: revision}`` of the live files tag `name` names."""
        result = {}
        for f in self.files.values():
            value = f.symbols.get(name)
            if value is None or branch_of_symbol(value) is not None:
                continue
            rev = f.revisions.get(value)
            if rev is not None and not rev.dead:
                result[f.path] = f.canonical(value)
        return result

    def branch_base(self, name: str) -> tuple[dict[str, str], str | None]:
        """What branch `name` starts from: ``({path: revision}, parent
        line)``.  For a vendor branch, the newest of its revisions that
        were on HEAD count as its start."""
        result = {}
        parents = defaultdict(int)
        for f in self.files.values():
            value = f.symbols.get(name)
            branch = branch_of_symbol(value) if value else None
            if branch is None:
                continue
            on_head = [
                r for n, r in f.revisions.items()
                if n.rsplit(".", 1)[0] == branch and r.line == "HEAD"
            ]
            if on_head:
                number = max(on_head, key=lambda r: _key(r.number)).number
            else:
                number = branch.rsplit(".", 1)[0]
            rev = f.revisions.get(number)
            if rev is None:
                continue
            parents[rev.line or ("HEAD" if number == "1.1" else "")] += 1
            if not rev.dead:
                result[f.path] = f.canonical(number)
        parent = max(parents, key=parents.get) if parents else None
        return result, parent

    def branch_tip(self, name: str) -> dict[str, str]:
        """``{path: revision}`` of the live files at the newest point of
        branch `name` (what ``cvs export -r name`` gives)."""
        result = {}
        for f in self.files.values():
            value = f.symbols.get(name)
            branch = branch_of_symbol(value) if value else None
            if branch is None:
                continue
            on_branch = [n for n in f.revisions
                         if n.rsplit(".", 1)[0] == branch]
            number = (max(on_branch, key=_key) if on_branch
                      else branch.rsplit(".", 1)[0])
            rev = f.revisions.get(number)
            if rev is not None and not rev.dead:
                result[f.path] = f.canonical(number)
        return result


def _key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def _is_vendor(branch: str) -> bool:
    parts = branch.split(".")
    return len(parts) == 3 and int(parts[-1]) % 2 == 1


@dataclass
class Changeset:
    """Revisions committed together on one line."""

    line: str
    revisions: list[Revision]

    @property
    def time(self) -> int:
        return max(r.time for r in self.revisions)

    @property
    def first_time(self) -> int:
        return min(r.time for r in self.revisions)

    @property
    def author(self) -> bytes:
        return self.revisions[0].author

    @property
    def message(self) -> bytes:
        return self.revisions[0].message

    def sort_key(self):
        return (self.time, self.first_time, self.line,
                sorted((r.path, _key(r.number)) for r in self.revisions))


def group_changesets(revisions: list[Revision],
                     window: int = WINDOW) -> list[Changeset]:
    """Group `revisions` into changesets, oldest first (module doc)."""
    clusters = defaultdict(list)
    for rev in revisions:
        if rev.commitid:
            key = (rev.line, "id", rev.commitid)
        else:
            key = (rev.line, "am", rev.author, rev.message)
        clusters[key].append(rev)
    changesets = []
    for key, members in clusters.items():
        members.sort(key=lambda r: (r.time, r.path, _key(r.number)))
        current: list[Revision] = []
        paths: set[str] = set()
        for rev in members:
            if current and (
                    rev.path in paths
                    or key[1] == "am"
                    and rev.time - current[-1].time > window):
                changesets.append(Changeset(key[0], current))
                current, paths = [], set()
            current.append(rev)
            paths.add(rev.path)
        if current:
            changesets.append(Changeset(key[0], current))
    changesets.sort(key=Changeset.sort_key)
    return changesets


def clean_cut(changesets: list[Changeset], wanted: int,
              forward: bool) -> int:
    """Where to cut `changesets` near `wanted` so that no revision after
    the cut is as old as the newest one before it: then "the line as of
    the newest converted time" (``cvs export -D``) is exactly what was
    converted.  Moves forward from `wanted` or back from it."""
    count = len(changesets)
    wanted = max(0, min(wanted, count))
    later = [0] * (count + 1)
    later[count] = 2 ** 62
    for index in range(count - 1, -1, -1):
        later[index] = min(later[index + 1], changesets[index].first_time)
    newest = [0] * (count + 1)
    for index in range(count):
        newest[index + 1] = max(newest[index], changesets[index].time)

    def clean(n: int) -> bool:
        return n == 0 or n == count or newest[n] < later[n]

    n = wanted
    while not clean(n):
        n += 1 if forward else -1
    return n


def now() -> int:
    return int(time.time())
