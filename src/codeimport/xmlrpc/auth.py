"""HTTP Basic credentials for the XML-RPC services (decision D4).

Credentials come from configuration only, never from the code:

* a credentials file (``codeimport serve --credentials-file``), one
  credential a line; blank lines and lines starting with ``#`` are
  ignored;
* the environment variable ``CODEIMPORT_XMLRPC_CREDENTIALS``, one
  credential a line (lines separated by newlines).  A value whose every
  comma-separated piece is a plain ``NAME:SECRET`` may still separate
  them with commas, as before grants existed.

A line reads ``NAME:SECRET[:ENDPOINTS[:HOSTS]]`` (see
`codeimport.xmlrpc.authorization`): ENDPOINTS a comma-separated list of
``codeimportscheduler``, ``authserver`` and ``metrics``, HOSTS a
comma-separated list of host names or shell patterns (``importer-*``)
of the machines the credential may act for.  Without HOSTS it acts for
every machine; a line with only ``NAME:SECRET`` may call every endpoint
for every machine, as every credential could before, and the service
warns about such lines once at start (`warn_about_unscoped`).

Fields are separated by ``:``; write a ``:`` inside a field (a secret)
as ``\\:`` and a backslash before a ``:`` or at the end of a field as
``\\\\``.  Any other backslash stands for itself.

Both may be used at once; a user named twice is a configuration error,
and so is a malformed line, which is named by its place, never by its
text (it may hold a secret).

The web interface's sign-in passwords (``scoped=False``) are plain
``NAME:SECRET`` pairs, the secret running to the end of the line (or
of the comma-separated piece of its variable).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import stat

from codeimport.errors import ConfigurationError
from codeimport.xmlrpc.authorization import ENDPOINT_NAMES
from codeimport.xmlrpc.authorization import Grant

__all__ = ["CREDENTIALS_VARIABLE", "Credentials", "load_credentials",
           "parse_line", "warn_about_unscoped"]

CREDENTIALS_VARIABLE = "CODEIMPORT_XMLRPC_CREDENTIALS"

log = logging.getLogger("codeimport.xmlrpc")

# Compared against when the user is unknown, so that a wrong user name
# takes as long to refuse as a wrong secret.
_DUMMY = b"\x00" * 32

# A host name, or a shell pattern of host names.
_HOST_PATTERN = re.compile(r"^[A-Za-z0-9*?\[\]!._-]{1,255}$")


class Credentials:
    """The users allowed to call the services, their secrets and grants.

    :param secrets: user -> secret.
    :param grants: user -> `Grant`; a user without one (a plain
        ``NAME:SECRET`` line) may do everything.
    """

    def __init__(self, secrets: dict[str, str],
                 variable: str = CREDENTIALS_VARIABLE, kind: str = "XML-RPC",
                 grants: dict[str, Grant] | None = None):
        if not secrets:
            raise ConfigurationError(
                f"No {kind} credentials are configured: set "
                f"${variable} or use --credentials-file.")
        self._secrets = {
            user: secret.encode("utf-8") for user, secret in secrets.items()
        }
        grants = grants or {}
        self._grants = {user: grants.get(user) or Grant(user)
                        for user in secrets}
        self._unscoped = sorted(set(secrets) - set(grants))

    @property
    def users(self) -> list[str]:
        return sorted(self._secrets)

    @property
    def unscoped_users(self) -> list[str]:
        """Users given without a grant (plain ``NAME:SECRET`` lines)."""
        return list(self._unscoped)

    def grant(self, user: str) -> Grant:
        """What `user` (an authenticated user) may do."""
        return self._grants[user]

    def authenticate(self, authorization: str | None) -> str | None:
        """Return the user an ``Authorization`` header proves, or None."""
        if not authorization:
            return None
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
            user, colon, secret = decoded.decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if not colon:
            return None
        return user if self.check(user, secret) else None

    def check(self, user: str, secret: str) -> bool:
        """Return whether `secret` is `user`'s, in constant time."""
        expected = self._secrets.get(user)
        matches = hmac.compare_digest(
            secret.encode("utf-8"), expected if expected else _DUMMY)
        return matches and expected is not None


def _fields(line: str) -> list[str]:
    """Split `line` on unescaped ':' and undo the escapes."""
    fields, current, index = [], [], 0
    while index < len(line):
        character = line[index]
        if character == "\\" and line[index + 1:index + 2] in ("\\", ":"):
            current.append(line[index + 1])
            index += 2
            continue
        if character == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(character)
        index += 1
    fields.append("".join(current))
    return fields


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",")]


def parse_line(line: str, source: str) -> tuple[str, str, Grant | None]:
    """Read one ``NAME:SECRET[:ENDPOINTS[:HOSTS]]`` line: the name, the
    secret and the grant (None for a plain ``NAME:SECRET``).

    :raises ConfigurationError: naming `source` and what is wrong, never
        quoting the line.
    """
    fields = _fields(line)
    hint = " (write a ':' inside a secret as '\\:')"
    if len(fields) > 4:
        raise ConfigurationError(
            f"{source}: expected NAME:SECRET[:ENDPOINTS[:HOSTS]], found "
            f"{len(fields)} ':'-separated fields{hint}.")
    user = fields[0].strip()
    secret = fields[1] if len(fields) > 1 else ""
    if not user or not secret:
        raise ConfigurationError(
            f"{source}: expected NAME:SECRET[:ENDPOINTS[:HOSTS]] with a "
            "non-empty name and secret.")
    if len(fields) == 2:
        return user, secret, None
    endpoints = _list(fields[2])
    if not all(endpoint in ENDPOINT_NAMES for endpoint in endpoints):
        raise ConfigurationError(
            f"{source}: the endpoints of {user!r} must be a comma-separated "
            f"list of {', '.join(ENDPOINT_NAMES)}{hint}.")
    hosts = None
    if len(fields) == 4:
        hosts = tuple(_list(fields[3]))
        if not all(_HOST_PATTERN.match(host) for host in hosts):
            raise ConfigurationError(
                f"{source}: the hosts of {user!r} must be a comma-separated "
                "list of host names or shell patterns (importer-*)"
                f"{hint}.")
    return user, secret, Grant(user, frozenset(endpoints), hosts)


def _parse_pair(pair: str, source: str) -> tuple[str, str, None]:
    """Read a plain ``NAME:SECRET`` pair (web sign-in passwords)."""
    user, colon, secret = pair.partition(":")
    user = user.strip()
    if not colon or not user or not secret:
        # Never echo the text: it may be a secret.
        raise ConfigurationError(
            f"{source}: expected user:secret with a non-empty user and "
            "secret.")
    return user, secret, None


def _variable_entries(value: str, scoped: bool) -> list[str]:
    """The entries of the variable: its lines, or its comma-separated
    pieces when they are all plain pairs (or for plain pairs only)."""
    if not scoped:
        return value.split(",")
    if "\n" not in value:
        pieces = value.split(",")
        if all(len(_fields(piece)) <= 2 for piece in pieces):
            return pieces
    return value.splitlines()


def _add(secrets: dict, grants: dict, entry, source: str) -> None:
    user, secret, grant = entry
    if user in secrets:
        raise ConfigurationError(f"{source}: user {user!r} is named twice.")
    secrets[user] = secret
    if grant is not None:
        grants[user] = grant


def load_credentials(environ=None, path: str | None = None, *,
                     variable: str = CREDENTIALS_VARIABLE,
                     kind: str = "XML-RPC", scoped: bool = True
                     ) -> Credentials:
    """Read credentials from `environ` (default `os.environ`) and `path`.

    :param variable: the environment variable holding the credentials,
        and `kind` what they are for, in messages (the web interface
        reads its own).
    :param scoped: read ``NAME:SECRET[:ENDPOINTS[:HOSTS]]`` lines (the
        services); False for plain ``NAME:SECRET`` pairs whose secret
        may hold any character (the web interface's passwords).

    :raises ConfigurationError: for a malformed line, a user named twice,
        an unreadable file or no credentials at all.
    """
    environ = os.environ if environ is None else environ
    parse = parse_line if scoped else _parse_pair
    secrets: dict[str, str] = {}
    grants: dict[str, Grant] = {}
    source = f"${variable}"
    for entry in _variable_entries(environ.get(variable, ""), scoped):
        if entry.strip():
            _add(secrets, grants, parse(entry.strip(), source), source)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as stream:
                mode = os.fstat(stream.fileno()).st_mode
                lines = stream.read().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(
                f"Cannot read the credentials file {path}: {error}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("the credentials file %s is readable by other "
                        "users; chmod 600 it", path)
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                source = f"{path}:{number}"
                _add(secrets, grants, parse(line, source), source)
    return Credentials(secrets, variable, kind, grants)


def warn_about_unscoped(credentials: Credentials) -> None:
    """Log one warning naming the plain ``NAME:SECRET`` credentials, if
    any (the service calls it once, at start)."""
    unscoped = credentials.unscoped_users
    if unscoped:
        log.warning(
            "credentials %s are plain NAME:SECRET lines: each may call "
            "every endpoint for every machine; bind them with "
            "NAME:SECRET:ENDPOINTS[:HOSTS] (README, Services)",
            ", ".join(repr(user) for user in unscoped))
