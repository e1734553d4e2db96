"""Checks on import source details (URLs, CVSROOTs, CVS modules)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from codeimport.errors import CodeImportValidationError

__all__ = [
    "DEFAULT_URL_SCHEMES",
    "normalise_url",
    "validate_cvs_module",
    "validate_cvs_root",
]

DEFAULT_URL_SCHEMES = ("http", "https", "svn", "git", "bzr", "ftp")

# :method:[user[:password]@]host[:port][:]/path -- unlike the original,
# a numeric port is accepted (decision D7).
_CVS_ROOT = re.compile(
    r"^:(?P<method>[a-z]+):"
    r"(?:(?P<user>[^:@/]+)(?::(?P<password>[^@/]*))?@)?"
    r"(?P<host>[^:/]*)"
    r"(?::(?P<port>\d+))?"
    r":?(?P<path>/.*)$"
)
_CVS_MODULE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_/.+-]*$")


def _normalise_cvs_root(root: str) -> str:
    if not root:
        raise CodeImportValidationError("bad CVSROOT: ''")
    if root.startswith(":"):
        return root
    if root.startswith("/"):
        return ":local:" + root
    if ":" not in root:
        if "/" not in root:
            raise CodeImportValidationError(f"bad CVSROOT: {root!r}")
        host, path = root.split("/", 1)
        return f":ext:{host}:/{path}"
    return ":ext:" + root


def validate_cvs_root(root: str) -> str:
    """Return `root` if it is an acceptable remote CVSROOT.

    :raises CodeImportValidationError: with the original's messages.
    """
    if not isinstance(root, str):
        raise CodeImportValidationError(f"bad CVSROOT: {root!r}")
    match = _CVS_ROOT.match(_normalise_cvs_root(root))
    if match is None:
        raise CodeImportValidationError(f"bad CVSROOT: {root!r}")
    if match.group("method") == "local":
        raise CodeImportValidationError("Local CVS roots are not allowed.")
    host = match.group("host")
    if not host:
        raise CodeImportValidationError("CVS root is invalid.")
    if "." not in host:
        raise CodeImportValidationError(
            "Please use a fully qualified host name."
        )
    return root


def validate_cvs_module(module: str) -> str:
    """Return `module` if it is an acceptable CVS module name."""
    if not isinstance(module, str) or not _CVS_MODULE.match(module):
        raise CodeImportValidationError(
            "The CVS module contains illegal characters."
        )
    if module == "CVS":
        raise CodeImportValidationError(
            'A CVS module can not be called "CVS".'
        )
    return module


def normalise_url(url: str, schemes=DEFAULT_URL_SCHEMES) -> str:
    """Return `url` without a trailing slash if it is an acceptable source.

    :raises CodeImportValidationError: for another scheme, a missing host
        (except for file: URLs), a query or a fragment.
    """
    if not isinstance(url, str) or not url.strip():
        raise CodeImportValidationError(f"Invalid URL: {url!r}")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as error:
        raise CodeImportValidationError(f"Invalid URL {url!r}: {error}")
    if parts.scheme not in schemes:
        raise CodeImportValidationError(
            f"The URL scheme {parts.scheme!r} is not allowed; use one of "
            f"{', '.join(schemes)}."
        )
    if parts.scheme != "file" and not parts.hostname:
        raise CodeImportValidationError(f"The URL {url!r} has no host.")
    if parts.query or parts.fragment:
        raise CodeImportValidationError(
            f"The URL {url!r} must not have a query or a fragment."
        )
    return url.strip().rstrip("/")
