"""Checks on what users name: hosts, people, branches and import sources.

Registration checks a source URL with `check_registered_url`, which
applies `codeimport.sourcekinds` (the one rule per kind the import worker
applies too), so no import is registered that no worker could run, and
`codeimport.addresses` (the one rule on source addresses, which the
worker applies too): a host that spells an internal address, or
``localhost``, is refused unless ``allowed_source_networks`` allows it.
CVSROOTs get the same address check (`check_registered_cvs_root`).

Every name has a length limit, so that no name makes a path the target
store cannot create or a line no terminal can show: `NAME_MAX_LENGTH`
for people, projects and branches (`validate_name`), `URL_MAX_LENGTH`
for source URLs, CVSROOTs and CVS modules, and `HOSTNAME_MAX_LENGTH` for
import machines, whose names must be host names (`validate_hostname`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from codeimport.addresses import AddressPolicy
from codeimport.addresses import ForbiddenAddress
from codeimport.enums import RevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.sourcekinds import SOURCE_KINDS
from codeimport.sourcekinds import check_source_url

__all__ = [
    "BRANCH_NAME",
    "DEFAULT_URL_SCHEMES",
    "HOSTNAME_MAX_LENGTH",
    "NAME_MAX_LENGTH",
    "PERSON_NAME",
    "RCS_KINDS",
    "URL_MAX_LENGTH",
    "check_registered_cvs_root",
    "check_registered_url",
    "normalise_url",
    "validate_cvs_module",
    "validate_cvs_root",
    "validate_hostname",
    "validate_name",
]

DEFAULT_URL_SCHEMES = ("http", "https", "svn", "git", "bzr", "ftp")

#: The longest person, team, project or branch name.
NAME_MAX_LENGTH = 100
#: The longest source URL, CVSROOT or CVS module.
URL_MAX_LENGTH = 2048
#: The longest host name (RFC 1035: 253 characters written out).
HOSTNAME_MAX_LENGTH = 253

#: People and teams: lower-case letters, digits, "+", "." and "-".
PERSON_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")
#: Projects and branches: the same, and "_".
BRANCH_NAME = re.compile(r"^[a-z0-9][a-z0-9+._-]*$")
# One label of a host name (RFC 1123 section 2.1).
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def _check_length(value: str, what: str, limit: int) -> None:
    if len(value) > limit:
        raise CodeImportValidationError(
            f"The {what} is {len(value):,} characters long; the limit is "
            f"{limit:,}.")


def validate_name(value, what: str, pattern=BRANCH_NAME) -> str:
    """Return `value` if it is an acceptable `what` name (e.g. "branch").

    :param pattern: `BRANCH_NAME` or `PERSON_NAME`.
    :raises CodeImportValidationError: for a name that breaks `pattern`
        or is longer than `NAME_MAX_LENGTH`.
    """
    if isinstance(value, str):
        _check_length(value, f"{what} name", NAME_MAX_LENGTH)
    if not isinstance(value, str) or not pattern.match(value):
        raise CodeImportValidationError(f"Invalid {what} name: {value!r}")
    return value


def validate_hostname(hostname) -> str:
    """Return `hostname` if it is a host name (RFC 1123): dot-separated
    labels of ASCII letters, digits and inner hyphens, each 1 to 63
    characters long, at most `HOSTNAME_MAX_LENGTH` in all.  A name in
    another script must be given in its IDNA form (``xn--...``).

    :raises CodeImportValidationError: otherwise.
    """
    prefix = "Invalid machine host name"
    if not isinstance(hostname, str) or not hostname.strip():
        raise CodeImportValidationError(f"{prefix}: {hostname!r}")
    if len(hostname) > HOSTNAME_MAX_LENGTH:
        raise CodeImportValidationError(
            f"{prefix}: it is {len(hostname):,} characters long; the limit "
            f"is {HOSTNAME_MAX_LENGTH}.")
    if not hostname.isascii():
        raise CodeImportValidationError(
            f"{prefix}: {hostname!r} is not ASCII; give its IDNA form "
            "(xn--...).")
    if not all(_HOST_LABEL.match(label) for label in hostname.split(".")):
        raise CodeImportValidationError(
            f"{prefix}: {hostname!r}: a host name is dot-separated labels "
            "of letters, digits and inner hyphens, 1 to 63 characters "
            "each.")
    return hostname


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
    _check_length(root, "CVSROOT", URL_MAX_LENGTH)
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
    if isinstance(module, str):
        _check_length(module, "CVS module", URL_MAX_LENGTH)
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
    """Return `url` without a trailing slash, its scheme and host in lower
    case (so that ``HTTP://Example.COM/x`` is the same source as
    ``http://example.com/x``), if it is an acceptable source.

    :raises CodeImportValidationError: for another scheme, a missing host
        (except for file: URLs), a query or a fragment, or a URL longer
        than `URL_MAX_LENGTH`.
    """
    if not isinstance(url, str) or not url.strip():
        raise CodeImportValidationError(f"Invalid URL: {url!r}")
    _check_length(url, "URL", URL_MAX_LENGTH)
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
    return _lower_scheme_and_host(parts).rstrip("/")


def _lower_scheme_and_host(parts) -> str:
    """`parts` as a URL with scheme and host in lower case; the user
    information, port and path exactly as given."""
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        host, bracket, port = hostport.partition("]")
        hostport = host.lower() + bracket + port
    else:
        host, colon, port = hostport.partition(":")
        hostport = host.lower() + colon + port
    return urlunsplit((parts.scheme.lower(), userinfo + at + hostport,
                       parts.path, parts.query, parts.fragment))


def check_source_host(host: str, allowed_networks=()) -> None:
    """Refuse a registered source's `host` if it spells an internal
    address (any spelling) or ``localhost`` that `allowed_networks` does
    not allow (`codeimport.addresses.AddressPolicy.checkLiteral`).

    :raises CodeImportValidationError: naming the host.
    """
    try:
        AddressPolicy(allowed_networks).checkLiteral(host)
    except ForbiddenAddress as error:
        raise CodeImportValidationError(
            f"Cannot import from {error}.") from None


def check_registered_cvs_root(root: str, allowed_networks=()) -> str:
    """`validate_cvs_root`, and `check_source_host` on its host."""
    validate_cvs_root(root)
    match = _CVS_ROOT.match(_normalise_cvs_root(root))
    check_source_host(match.group("host"), allowed_networks)
    return root


#: Each creatable source type's name in the worker argument contract.
RCS_KINDS = {
    RevisionControlSystems.BZR_SVN: "bzr-svn",
    RevisionControlSystems.CVS: "cvs",
    RevisionControlSystems.GIT: "git",
    RevisionControlSystems.BZR: "bzr",
    RevisionControlSystems.HG: "hg",
}


def check_registered_url(rcs_type, url: str, allowed_schemes,
                         allowed_networks=()) -> str:
    """The registration side of `check_source_url`: `url`, normalised, if
    the operator's `allowed_schemes` setting and the kind both allow it
    (local sources only when the setting includes ``file``), and its host
    passes `check_source_host` with the `allowed_networks` setting.

    :raises CodeImportValidationError: otherwise.
    """
    url = normalise_url(url, allowed_schemes)
    host = urlsplit(url).hostname
    if host:
        check_source_host(host, allowed_networks)
    kind = RCS_KINDS.get(rcs_type)
    if kind in SOURCE_KINDS:
        check_source_url(kind, url, local="file" in allowed_schemes)
    return url
