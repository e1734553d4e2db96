"""A CVS client/server protocol client: the CVS importer's only network code.

The importer reads a repository through this client instead of running
the ``cvs`` program once per file revision: one connection carries the
``rlog`` of the whole module and then one ``co`` request per revision
number, whose ``Created`` responses frame every file's exact bytes
(binary files included), so no output has to be parsed for content.

Transports: ``:pserver:`` (a TCP connection to the host and port of the
CVSROOT, the password scrambled as the protocol wants, never logged),
and for ``:local:`` roots, only under the ``anything`` policy, the
``cvs server`` program on pipes.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

from codeimport.errors import CodeImportError

__all__ = [
    "CVSConnection",
    "CVSProtocolError",
    "CVSRoot",
    "CVSServerError",
    "parse_cvsroot",
    "scramble",
]

DEFAULT_PORT = 2401
TIMEOUT = 300.0
# Responses this client understands (sent as Valid-responses).
VALID_RESPONSES = (
    "ok error Valid-requests Checked-in New-entry Checksum Copy-file "
    "Updated Created Update-existing Merged Mode Mod-time Removed "
    "Remove-entry Set-static-directory Clear-static-directory Set-sticky "
    "Clear-sticky Template Clear-template Notified Module-expansion "
    "Wrapper-rcsOption M Mbinary E F"
)
# Not "MT": with it, CVS 1.12 sends each rlog date line as a dozen
# tagged pieces, which makes reading the log several times slower.

_ROOT = re.compile(
    r"^:(?P<method>[a-z]+):"
    r"(?:(?P<user>[^:@/]+)(?::(?P<password>[^@/]*))?@)?"
    r"(?P<host>[^:/]*)"
    r"(?::(?P<port>\d+))?"
    r":?(?P<path>/.*)$"
)


class CVSProtocolError(CodeImportError):
    """The server could not be reached or did not speak CVS."""


class CVSServerError(CodeImportError):
    """The server answered a request with ``error``.

    :ivar messages: the ``E`` lines it sent before.
    """

    def __init__(self, text: str, messages: list[str]):
        self.messages = messages
        super().__init__(text)


@dataclass(frozen=True)
class CVSRoot:
    """A parsed CVSROOT.  `password` is never part of `display`."""

    method: str
    user: str | None
    password: str | None
    host: str | None
    port: int
    path: str

    @property
    def display(self) -> str:
        """The root as shown in logs and given to programs: no password."""
        if self.method == "local":
            return f":local:{self.path}"
        user = f"{self.user}@" if self.user else ""
        return f":{self.method}:{user}{self.host}:{self.port}{self.path}"


def parse_cvsroot(text: str) -> CVSRoot:
    """Parse `text` (``:pserver:user[:password]@host[:port]/path``,
    ``:local:/path`` or ``/path``).

    :raises ValueError: when it is none of those.
    """
    if text.startswith("/"):
        text = ":local:" + text
    match = _ROOT.match(text)
    if match is None or "\n" in text or "\0" in text:
        raise ValueError(f"not a CVSROOT: {text!r}")
    method = match.group("method")
    path = os.path.normpath(match.group("path"))
    if method == "local":
        return CVSRoot("local", None, None, None, 0, path)
    if not match.group("host"):
        raise ValueError(f"no host in CVSROOT {text!r}")
    return CVSRoot(
        method=method,
        user=match.group("user") or "anonymous",
        password=match.group("password"),
        host=match.group("host").lower(),
        port=int(match.group("port") or DEFAULT_PORT),
        path=path,
    )


# The protocol's password "scrambling" (a fixed substitution table).
_SHIFTS = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    114, 120, 53, 79, 96, 109, 72, 108, 70, 64, 76, 67, 116, 74, 68, 87,
    111, 52, 75, 119, 49, 34, 82, 81, 95, 65, 112, 86, 118, 110, 122, 105,
    41, 57, 83, 43, 46, 102, 40, 89, 38, 103, 45, 50, 42, 123, 91, 35,
    125, 55, 54, 66, 124, 126, 59, 47, 92, 71, 115, 78, 88, 107, 106, 56,
    36, 121, 117, 104, 101, 100, 69, 73, 99, 63, 94, 93, 39, 37, 61, 48,
    58, 113, 32, 90, 44, 98, 60, 51, 33, 97, 62, 77, 84, 80, 85, 223,
)


def scramble(password: str) -> str:
    """The pserver form of `password` (``A`` followed by its bytes mapped)."""
    data = password.encode("latin-1", "replace")
    return "A" + "".join(
        chr(_SHIFTS[b]) if b < len(_SHIFTS) else chr(b) for b in data)


@dataclass
class FileContent:
    """One file a ``co`` request sent: where it lives and its bytes."""

    repository_path: str
    entry: str
    mode: str
    data: bytes

    @property
    def revision(self) -> str:
        return self.entry.split("/")[2]

    @property
    def executable(self) -> bool:
        user = [p for p in self.mode.split(",") if p.startswith("u=")]
        return bool(user) and "x" in user[0]


class CVSConnection:
    """One conversation with a CVS server.

    :param root: where to connect.
    :param env: the environment for a local ``cvs server``.
    :param timeout: seconds a single read may wait.
    :param addresses: the source address rule
        (`codeimport.addresses.AddressPolicy`): a pserver connection is
        made only to an address it checked; None connects anywhere.
    """

    def __init__(self, root: CVSRoot, env: dict[str, str],
                 timeout: float = TIMEOUT, addresses=None):
        self.root = root
        self._addresses = addresses
        self._checkouts = 0
        self._process = None
        self._socket = None
        if root.method == "pserver":
            self._open_pserver(timeout)
        elif root.method in ("local", "fork"):
            self._open_local(env)
        else:
            raise CVSProtocolError(
                f"CVS access method {root.method!r} is not supported "
                "(use :pserver:)")
        self._send(f"Root {root.path}\n"
                   f"Valid-responses {VALID_RESPONSES}\n"
                   "valid-requests\n")
        self.valid_requests = set()
        for kind, text in self._responses():
            if kind == "Valid-requests":
                self.valid_requests = set(text.split())

    def _open_pserver(self, timeout: float) -> None:
        root = self.root
        try:
            if self._addresses is not None:
                # Raises ForbiddenAddress, which is not ours to explain.
                self._socket = self._addresses.connect(
                    root.host, root.port, timeout=timeout)
            else:
                self._socket = socket.create_connection(
                    (root.host, root.port), timeout=timeout)
        except OSError as error:
            raise CVSProtocolError(
                f"cannot connect to {root.host}:{root.port}: "
                f"{error.strerror or error}") from None
        self._reader = self._socket.makefile("rb")
        self._writer = self._socket.makefile("wb")
        self._send(
            "BEGIN AUTH REQUEST\n"
            f"{root.path}\n{root.user}\n{scramble(root.password or '')}\n"
            "END AUTH REQUEST\n")
        answer = self._readline()
        if answer == b"I LOVE YOU":
            return
        detail = answer.decode("utf-8", "replace")
        if answer.startswith(b"E "):
            # The server explains itself in E lines, then "error".
            lines = [detail[2:]]
            while True:
                line = self._readline()
                if not line.startswith(b"E "):
                    break
                lines.append(line[2:].decode("utf-8", "replace"))
            detail = "; ".join(line for line in lines if line)
        elif answer == b"I HATE YOU":
            detail = "the server refused the user or password"
        raise CVSProtocolError(
            f"the server did not let us in ({detail or 'no answer'})")

    def _open_local(self, env: dict[str, str]) -> None:
        try:
            self._process = subprocess.Popen(
                ["cvs", "-f", "server"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=env, start_new_session=True)
        except FileNotFoundError:
            raise CVSProtocolError("cvs is not installed") from None
        self._reader = self._process.stdout
        self._writer = self._process.stdin

    def close(self) -> None:
        for stream in (getattr(self, "_writer", None),
                       getattr(self, "_reader", None)):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if self._socket is not None:
            self._socket.close()
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> CVSConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- low level --

    def _send(self, text: str | bytes) -> None:
        data = text.encode("utf-8", "surrogateescape") if isinstance(
            text, str) else text
        try:
            self._writer.write(data)
            self._writer.flush()
        except OSError as error:
            raise CVSProtocolError(
                f"the connection broke: {error}") from None

    def _readline(self) -> bytes:
        try:
            line = self._reader.readline()
        except (OSError, socket.timeout) as error:
            raise CVSProtocolError(
                f"the connection broke: {error}") from None
        if not line.endswith(b"\n"):
            raise CVSProtocolError("the server closed the connection")
        return line[:-1]

    def _read(self, length: int) -> bytes:
        try:
            data = self._reader.read(length)
        except (OSError, socket.timeout) as error:
            raise CVSProtocolError(
                f"the connection broke: {error}") from None
        if len(data) != length:
            raise CVSProtocolError("the server closed the connection")
        return data

    def _responses(self, on_file: Callable[[FileContent], None]
                   | None = None) -> Iterator[tuple[str, bytes | str]]:
        """Read responses up to ``ok``; yield ``(name, text)`` for the
        ones the caller wants (M, MT, E, Valid-requests)."""
        errors = []
        while True:
            line = self._readline()
            name, _, rest = line.partition(b" ")
            kind = name.decode("ascii", "replace")
            if kind == "ok":
                return
            if kind == "error":
                text = rest.decode("utf-8", "replace").strip()
                raise CVSServerError(
                    "; ".join(e for e in errors if e) or text or "error",
                    errors)
            if kind in ("M", "MT"):
                yield kind, rest
            elif kind == "E":
                errors.append(rest.decode("utf-8", "replace"))
                yield kind, rest
            elif kind == "Valid-requests":
                yield kind, rest.decode("ascii", "replace")
            elif kind in ("Created", "Updated", "Update-existing",
                          "Merged"):
                repository = self._readline().decode(
                    "utf-8", "surrogateescape")
                entry = self._readline().decode("utf-8", "surrogateescape")
                mode = self._readline().decode("ascii", "replace")
                size = self._readline()
                if size.startswith(b"z"):
                    raise CVSProtocolError("unexpected compressed file")
                data = self._read(int(size))
                if on_file is not None:
                    on_file(FileContent(repository, entry, mode, data))
            elif kind in ("Template",):
                self._readline()
                self._read(int(self._readline()))
            elif kind == "Mbinary":
                self._read(int(self._readline()))
            elif kind in ("Checked-in", "New-entry", "Set-sticky"):
                self._readline()
                self._readline()
            elif kind == "Copy-file":
                self._readline()
                self._readline()
            elif kind in ("Removed", "Remove-entry", "Set-static-directory",
                          "Clear-static-directory", "Clear-sticky",
                          "Clear-template", "Notified"):
                self._readline()
            elif kind in ("Mode", "Mod-time", "Checksum", "Module-expansion",
                          "Wrapper-rcsOption", "F"):
                pass
            else:
                raise CVSProtocolError(
                    f"unexpected response {kind[:40]!r} from the server")

    def _request(self, command: str, arguments: list[str]) -> None:
        parts = []
        for argument in arguments:
            first, *more = argument.split("\n")
            parts.append(f"Argument {first}\n")
            parts.extend(f"Argumentx {line}\n" for line in more)
        self._send("".join(parts) + command)

    # -- commands --

    def rlog(self, paths: str | list[str],
             headers_only: bool = False) -> Iterator[bytes]:
        """The ``rlog`` output of a module or of files (`paths`), line by
        line (bytes); only each file's header with `headers_only`
        (``rlog -h``).

        :raises CVSServerError: if the module does not exist.
        """
        if isinstance(paths, str):
            paths = [paths]
        self._request("rlog\n", ["-h"] * headers_only + ["--", *paths])
        # CVS 1.12 sends the date lines as tagged text (MT): pieces of
        # one line, ended by "MT newline".
        pending = b""
        for kind, text in self._responses():
            if kind == "M":
                yield text
            elif kind == "MT":
                tag, _, value = text.partition(b" ")
                if tag == b"newline":
                    yield pending
                    pending = b""
                elif not tag.startswith((b"+", b"-")):
                    pending += value

    def checkout(self, revision: str, paths: list[str],
                 on_file: Callable[[FileContent], None]) -> list[str]:
        """Send every file of `paths` (``module/dir/file``) at `revision`
        (a number) to `on_file`, without keyword expansion.

        :return: the server's messages (E lines).
        """
        # A fresh directory each time: the server keeps what it checked
        # out for the session and would not send a file again.
        self._checkouts += 1
        self._request(
            "Directory .\n" + self.root.path + "\nco\n",
            ["-N", "-ko", "-r", revision, "-d", f"c{self._checkouts}",
             "--", *paths])
        return [text.decode("utf-8", "replace") for kind, text
                in self._responses(on_file) if kind == "E"]
