"""Checks on import source details (URLs, CVSROOTs, CVS modules).

`SOURCE_KINDS` says, once for each kind of source, which URLs a worker
can import it from; registration (`codeimport.model`) and the import
worker (`codeimport.worker.importworker.run_import`) both apply it with
`check_source_url`, so no import is registered that no worker could run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from codeimport.enums import RevisionControlSystems
from codeimport.errors import CodeImportValidationError

__all__ = [
    "DEFAULT_URL_SCHEMES",
    "RCS_KINDS",
    "SOURCE_KINDS",
    "SourceKind",
    "check_registered_url",
    "check_source_url",
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


@dataclass(frozen=True)
class SourceKind:
    """What one kind of source may be read from: the one rule both
    registration and the import worker apply (`check_source_url`).

    :ivar name: the kind's name in the worker argument contract.
    :ivar label: its name for people.
    :ivar schemes: URL schemes a worker can import it from.
    :ivar local_schemes: schemes allowed only where local sources are
        (the worker's ``anything`` policy; registration when the
        ``allowed_url_schemes`` setting includes ``file``).
    """

    name: str
    label: str
    schemes: tuple[str, ...]
    local_schemes: tuple[str, ...] = ("file",)


#: The URL-addressed source kinds, by worker contract name.  CVS sources
#: are a CVSROOT and a module (`validate_cvs_root`, `validate_cvs_module`).
SOURCE_KINDS = {
    kind.name: kind for kind in (
        SourceKind("git", "Git", ("http", "https", "git"), ("file", "ssh")),
        SourceKind("bzr-svn", "Subversion", ("svn", "http", "https")),
        SourceKind("hg", "Mercurial", ("http", "https")),
        SourceKind("bzr", "Bazaar", ("bzr", "http", "https")),
    )
}


#: Each creatable source type's name in the worker argument contract.
RCS_KINDS = {
    RevisionControlSystems.BZR_SVN: "bzr-svn",
    RevisionControlSystems.CVS: "cvs",
    RevisionControlSystems.GIT: "git",
    RevisionControlSystems.BZR: "bzr",
    RevisionControlSystems.HG: "hg",
}


def check_registered_url(rcs_type, url: str, allowed_schemes) -> str:
    """The registration side of `check_source_url`: `url`, normalised, if
    the operator's `allowed_schemes` setting and the kind both allow it
    (local sources only when the setting includes ``file``).

    :raises CodeImportValidationError: otherwise.
    """
    url = normalise_url(url, allowed_schemes)
    kind = RCS_KINDS.get(rcs_type)
    if kind in SOURCE_KINDS:
        check_source_url(kind, url, local="file" in allowed_schemes)
    return url


def check_source_url(kind: str, url: str, local: bool) -> str:
    """Refuse `url` unless a worker can import a `kind` source from it;
    return its scheme (``file`` for a local path).

    :param kind: a `SOURCE_KINDS` name.
    :param local: whether local sources (``file:`` URLs, paths) may be
        read here.
    :raises CodeImportValidationError: naming what the kind accepts.
    """
    from codeimport.access import split_location

    source = SOURCE_KINDS[kind]
    try:
        scheme, _ = split_location(url)
    except ValueError as error:
        raise CodeImportValidationError(f"Invalid URL {url!r}: {error}")
    allowed = source.schemes + (source.local_schemes if local else ())
    if scheme not in allowed:
        raise CodeImportValidationError(
            f"{source.label} imports cannot read {scheme} URLs; use "
            f"{', '.join(allowed)}."
        )
    return scheme
