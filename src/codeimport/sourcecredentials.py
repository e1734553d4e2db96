"""Credentials for private sources: split off URLs, kept apart, handed on.

An import of a private source may be registered with its credentials in
the URL (``https://user:pass@host/repo``, ``:pserver:user:pass@host/path``)
or given separately (``add-import --source-username``).  Either way they
are kept apart from the URL (`split_url`, `split_cvs_root`): the stored
and displayed source never holds them, and they reach an import worker
only through the scheduler's ``getImportDataForJobID`` (its
``source_credentials`` member, `to_wire`/`from_wire`), then a file of
mode 0600 in a private directory (`write_file`/`read_file`), never an
argument, an environment variable or a log line.

Kept free of dependencies: the import worker uses it too.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from codeimport.errors import CodeImportValidationError
from codeimport.redact import redact

__all__ = [
    "CREDENTIAL_SCHEMES",
    "check_credential_scheme",
    "MAX_LENGTH",
    "SourceCredentials",
    "from_wire",
    "password_from_file",
    "read_file",
    "same_origin",
    "split_cvs_root",
    "split_url",
    "to_wire",
    "write_file",
]

#: Longer user names or passwords are refused (a token fits easily).
MAX_LENGTH = 1024
#: URL schemes whose servers take a user name and password: git://,
#: bzr:// and ftp:// sources cannot use credentials.
CREDENTIAL_SCHEMES = ("http", "https", "svn")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# :method:user:password@rest -- CVSROOT syntax (`validate_cvs_root`).
_CVS_PASSWORD = re.compile(
    r"^(?P<head>:[a-z]+:[^:@/]+):(?P<password>[^@/]*)(?P<tail>@.*)$")


@dataclass(frozen=True)
class SourceCredentials:
    """A user name and password for a private source.

    The password never shows in ``repr`` (tracebacks, debuggers, logs).
    """

    username: str
    password: str = field(repr=False)

    def __post_init__(self):
        for name in ("username", "password"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise CodeImportValidationError(
                    f"The source {name} must be text.")
            if len(value) > MAX_LENGTH:
                raise CodeImportValidationError(
                    f"The source {name} is longer than {MAX_LENGTH} "
                    "characters.")
            if _CONTROL.search(value):
                raise CodeImportValidationError(
                    f"The source {name} contains control characters.")
        if not self.username:
            raise CodeImportValidationError("The source user name is empty.")
        if ":" in self.username:
            raise CodeImportValidationError(
                "The source user name must not contain ':'.")

    @property
    def secrets(self) -> tuple[str, ...]:
        """What `codeimport.redact.redact` must hide: the password, and
        the user name too when there is no password (a token given as
        the user name, ``https://TOKEN@host/``)."""
        return (self.password,) if self.password else (self.username,)


def split_url(url: str) -> tuple[str, SourceCredentials | None]:
    """`url` without its user information, and the credentials it held
    (percent-decoded), or None.

    :raises CodeImportValidationError: for a URL that cannot be parsed or
        credentials that are not acceptable; the message never shows them.
    """
    if not isinstance(url, str) or "@" not in url or "://" not in url:
        return url, None
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as error:
        raise CodeImportValidationError(
            f"Invalid URL {redact(url)!r}: {redact(str(error))}") from None
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    credentials = SourceCredentials(unquote(username), unquote(password))
    url = urlunsplit(parts._replace(netloc=hostport))
    check_credential_scheme(url)
    return url, credentials


def check_credential_scheme(url: str) -> None:
    """Refuse credentials for `url` unless its scheme authenticates.

    :raises CodeImportValidationError: naming the schemes that do.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else "file"
    if scheme not in CREDENTIAL_SCHEMES:
        raise CodeImportValidationError(
            f"{scheme} sources cannot use credentials; use one of "
            f"{', '.join(CREDENTIAL_SCHEMES)}.")


def split_cvs_root(root: str) -> tuple[str, str | None]:
    """`root` without its password (the user name stays), and the
    password, or None."""
    if not isinstance(root, str):
        return root, None
    match = _CVS_PASSWORD.match(root)
    if match is None:
        return root, None
    password = match.group("password")
    if _CONTROL.search(password) or len(password) > MAX_LENGTH:
        raise CodeImportValidationError(
            "The CVS password contains control characters or is too long.")
    return match.group("head") + match.group("tail"), password


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs (without credentials) reach the same server:
    scheme, host and port.  Credentials stay with an import only while
    its URL does."""
    try:
        a, b = urlsplit(url), urlsplit(other)
        return (a.scheme.lower(), a.hostname, a.port) == (
            b.scheme.lower(), b.hostname, b.port)
    except (ValueError, AttributeError):
        return False


def with_credentials(url: str, credentials: SourceCredentials) -> str:
    """`url` with `credentials` as its user information (for libraries
    that take no other form; never shown or passed as an argument)."""
    parts = urlsplit(url)
    userinfo = quote(credentials.username, safe="")
    if credentials.password:
        userinfo += ":" + quote(credentials.password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def to_wire(credentials: SourceCredentials) -> dict[str, str]:
    """The ``source_credentials`` member of ``getImportDataForJobID``."""
    return {"username": credentials.username,
            "password": credentials.password}


def from_wire(value) -> SourceCredentials | None:
    """The credentials a ``source_credentials`` member holds, or None when
    there is none.

    :raises CodeImportValidationError: for a malformed member.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CodeImportValidationError(
            "source_credentials is not a struct.")
    return SourceCredentials(value.get("username"), value.get("password"))


def password_from_file(path: str) -> str:
    """The first line of `path` (``-``: standard input), without its line
    end: how commands take a password, never from their arguments.

    :raises CodeImportValidationError: when it cannot be read.
    """
    try:
        if path == "-":
            return sys.stdin.readline().rstrip("\r\n")
        with open(path, encoding="utf-8") as stream:
            return stream.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise CodeImportValidationError(
            f"Cannot read the password file: {reason}.") from None


def write_file(directory: str, credentials: SourceCredentials) -> str:
    """Write `credentials` into a new file of mode 0600 in `directory`
    (a private one: mode 0700) and return its path."""
    path = os.path.join(directory, "source-credentials.json")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(to_wire(credentials), stream)
    return path


def read_file(path: str) -> SourceCredentials:
    """The credentials `write_file` wrote.

    :raises CodeImportValidationError: when the file cannot be read or
        holds no credentials.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            return from_wire(json.load(stream))
    except (OSError, ValueError) as error:
        raise CodeImportValidationError(
            f"Cannot read the source credentials file: "
            f"{type(error).__name__}") from None
