"""Which source URLs an import worker may read (its access policy).

The scheduler sends ``--exclude-host`` for hosts that must never be
imported from (our own site, so that nothing mirrors itself, and the
configured blacklist).  The policy adds a list of allowed URL schemes:

``default``
    http, https, git, svn, ftp and bzr URLs on hosts that are not excluded.
    Local paths and ``file:`` URLs are refused, so that a registered
    import cannot read the worker machine's own disk.
``anything``
    any scheme, plus local paths and ``file:`` URLs; for demos and tests
    that import from repositories made on the spot.  Excluded hosts are
    still refused.

A host is excluded together with its subdomains: excluding
``launchpad.test`` also refuses ``git.launchpad.test``.

Where a source may be on the network is the other half of a policy:
`AccessPolicy.addresses`, the source address rule
(`codeimport.addresses.AddressPolicy`, with the operator's
``allowed_source_networks``; ``anything`` allows every address).
`AccessPolicy.check` applies what a URL spells; the worker's egress
(`codeimport.worker.egress`) applies it to every connection.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

from codeimport.addresses import AddressPolicy
from codeimport.addresses import ForbiddenAddress
from codeimport.errors import CodeImportError

__all__ = [
    "AccessPolicy",
    "DEFAULT_SCHEMES",
    "ForbiddenURL",
    "POLICY_NAMES",
    "make_policy",
    "split_location",
]

DEFAULT_SCHEMES = frozenset({"http", "https", "git", "svn", "ftp", "bzr"})
POLICY_NAMES = ("default", "anything")

# ``user@host:path`` or ``host:path`` without "://": git's scp-like syntax,
# which means ssh.  A leading "/" or "." makes it a local path instead.
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!//)")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class ForbiddenURL(CodeImportError, ValueError):
    """The access policy refuses to read from a URL."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"Forbidden URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


def split_location(location: str) -> tuple[str, str | None]:
    """Return ``(scheme, host)`` for a URL, scp-like address or path.

    Local paths give ``("file", None)`` and scp-like addresses
    ``("ssh", host)``.  The host is lower-cased.

    :raises ValueError: when `location` cannot be parsed.
    """
    if not location or _CONTROL.search(location):
        raise ValueError("empty, or contains spaces or control characters")
    if "://" not in location:
        if location.startswith(("/", ".")):
            return "file", None
        match = _SCP_LIKE.match(location)
        if match:
            return "ssh", match.group("host").lower()
        return "file", None
    parts = urllib.parse.urlsplit(location)
    scheme = parts.scheme.lower()
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise ValueError("no valid scheme")
    parts.port  # noqa: B018  raises ValueError for a bad port
    host = parts.hostname
    if scheme == "file":
        return scheme, host or None
    if not host:
        raise ValueError("no host")
    return scheme, host.lower()


class AccessPolicy:
    """Decides whether a source location may be read.

    :param name: the policy name, for messages.
    :param allowed_schemes: URL schemes allowed, or None for any.
    :param allow_local: whether local paths and ``file:`` URLs are allowed.
    :param excluded_hosts: hosts (and their subdomains) never read.
    :param addresses: the source address rule, or None for a policy
        that judges names only (the puller's).
    """

    def __init__(
        self,
        name: str,
        allowed_schemes: frozenset[str] | None,
        allow_local: bool,
        excluded_hosts: Iterable[str] = (),
        addresses: AddressPolicy | None = None,
    ):
        self.name = name
        self.allowed_schemes = allowed_schemes
        self.allow_local = allow_local
        self.excluded_hosts = tuple(
            host.lower().rstrip(".") for host in excluded_hosts if host
        )
        self.addresses = addresses

    def check(self, location: str) -> None:
        """Refuse `location` unless this policy allows it.

        :raises ForbiddenURL: with the reason.
        """
        try:
            scheme, host = split_location(location)
        except ValueError as error:
            raise ForbiddenURL(
                location, f"not a valid URL ({error})"
            ) from None
        if scheme == "file":
            if not self.allow_local:
                raise ForbiddenURL(
                    location,
                    f"local paths are not allowed by the {self.name} policy",
                )
        elif (
            self.allowed_schemes is not None
            and scheme not in self.allowed_schemes
        ):
            raise ForbiddenURL(
                location,
                f"scheme {scheme!r} is not allowed by the {self.name} policy",
            )
        if host is not None and self.isExcluded(host):
            raise ForbiddenURL(location, f"host {host} is excluded")
        if host is not None and self.addresses is not None:
            try:
                self.addresses.checkLiteral(host)
            except ForbiddenAddress as error:
                raise ForbiddenURL(location, str(error)) from None

    def isExcluded(self, host: str) -> bool:
        """Whether `host` is, or is under, an excluded host."""
        host = host.lower().rstrip(".")
        return any(
            host == excluded or host.endswith("." + excluded)
            for excluded in self.excluded_hosts
        )


def make_policy(name: str, excluded_hosts: Iterable[str] = (),
                allowed_networks=()) -> AccessPolicy:
    """Build the policy called `name` (one of `POLICY_NAMES`), with the
    source address rule for `allowed_networks` (CIDR blocks).

    :raises ValueError: for an unknown name or a bad network.
    """
    excluded_hosts = tuple(excluded_hosts)
    if name not in POLICY_NAMES:
        raise ValueError(f"Unknown access policy {name!r}")
    addresses = AddressPolicy(allowed_networks, excluded_hosts,
                              allow_all=name == "anything")
    if name == "default":
        return AccessPolicy(name, DEFAULT_SCHEMES, False, excluded_hosts,
                            addresses)
    return AccessPolicy(name, None, True, excluded_hosts, addresses)
