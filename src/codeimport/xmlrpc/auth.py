"""HTTP Basic credentials for the XML-RPC services (decision D4).

Credentials come from configuration only, never from the code:

* the environment variable ``CODEIMPORT_XMLRPC_CREDENTIALS``, holding
  ``user:secret`` pairs separated by commas;
* a credentials file (``codeimport serve --credentials-file``), holding
  one ``user:secret`` pair per line; blank lines and lines starting with
  ``#`` are ignored.  A secret may contain ``:`` and ``,`` there.

Both may be used at once; a user named twice is a configuration error.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import stat

from codeimport.errors import ConfigurationError

__all__ = ["CREDENTIALS_VARIABLE", "Credentials", "load_credentials"]

CREDENTIALS_VARIABLE = "CODEIMPORT_XMLRPC_CREDENTIALS"

log = logging.getLogger("codeimport.xmlrpc")

# Compared against when the user is unknown, so that a wrong user name
# takes as long to refuse as a wrong secret.
_DUMMY = b"\x00" * 32


class Credentials:
    """The users allowed to call the services, and their secrets."""

    def __init__(self, secrets: dict[str, str],
                 variable: str = CREDENTIALS_VARIABLE, kind: str = "XML-RPC"):
        if not secrets:
            raise ConfigurationError(
                f"No {kind} credentials are configured: set "
                f"${variable} or use --credentials-file.")
        self._secrets = {
            user: secret.encode("utf-8") for user, secret in secrets.items()
        }

    @property
    def users(self) -> list[str]:
        return sorted(self._secrets)

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


def _parse_pair(pair: str, source: str) -> tuple[str, str]:
    user, colon, secret = pair.partition(":")
    user = user.strip()
    if not colon or not user or not secret:
        # Never echo the text: it may be a secret.
        raise ConfigurationError(
            f"{source}: expected user:secret with a non-empty user and "
            "secret.")
    return user, secret


def _add(secrets: dict, user: str, secret: str, source: str) -> None:
    if user in secrets:
        raise ConfigurationError(f"{source}: user {user!r} is named twice.")
    secrets[user] = secret


def load_credentials(environ=None, path: str | None = None, *,
                     variable: str = CREDENTIALS_VARIABLE,
                     kind: str = "XML-RPC") -> Credentials:
    """Read credentials from `environ` (default `os.environ`) and `path`.

    :param variable: the environment variable holding ``user:secret``
        pairs, and `kind` what they are for, in messages (the web
        interface reads its own).

    :raises ConfigurationError: for a malformed pair, a user named twice,
        an unreadable file or no credentials at all.
    """
    environ = os.environ if environ is None else environ
    secrets: dict[str, str] = {}
    source = f"${variable}"
    for pair in environ.get(variable, "").split(","):
        if pair.strip():
            user, secret = _parse_pair(pair.strip(), source)
            _add(secrets, user, secret, source)
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
                user, secret = _parse_pair(line, source)
                _add(secrets, user, secret, source)
    return Credentials(secrets, variable, kind)
