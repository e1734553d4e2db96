"""Which network addresses an import may read from: the one rule that
registration (`codeimport.validators`) and the import worker's egress
(`codeimport.worker.egress`) both apply.

A source may be on a *public* address only: loopback, private,
shared (CGNAT), link-local, multicast, unspecified, reserved and
documentation addresses are *internal*, whatever their spelling
(``127.1``, ``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``,
``[::1]``; IPv6 forms that embed an IPv4 address are judged by the IPv4
address), and so is every name under ``localhost``.  An operator allows
internal networks explicitly with the ``allowed_source_networks``
setting (CIDR blocks); the worker's ``anything`` access policy allows
every address.

Registration can only judge what a URL spells (`check_registered_host`):
it never resolves names, since a name's addresses can change after
registration.  The worker judges every address a name resolves to, at
the moment it connects, and connects to the address it judged
(`AddressPolicy.resolve`), so a name that changes its answer in between
gains nothing.

Hosts excluded by name (``--exclude-host``: the blacklist, our own
site) are refused with their subdomains, and also by address: an
excluded address in any spelling, and an address an excluded name
resolves to.

Refusals say only that the place is not allowed: never the address a
name resolved to, so that job logs cannot map internal networks.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

from codeimport.errors import CodeImportError

__all__ = [
    "AddressPolicy",
    "ForbiddenAddress",
    "REFUSAL",
    "is_internal",
    "literal_address",
    "parse_networks",
]

#: What a refused source or connection is told: no address, no detail.
REFUSAL = ("it is on a network this import machine may not read from "
           "(see allowed_source_networks)")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What resolvers read as an IPv4 address (inet_aton: 1 to 4 parts, each
# decimal, octal or hex).  A name of letters is never one.
_IPV4_LIKE = re.compile(r"^[0-9][0-9a-fA-FxX.]*$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class ForbiddenAddress(CodeImportError):
    """A host or address the policy refuses; the message names neither
    the address nor why it is internal (see `REFUSAL`)."""

    def __init__(self, host: str):
        super().__init__(f"{host}: {REFUSAL}")
        self.host = host


def parse_networks(value) -> tuple[IPNetwork, ...]:
    """CIDR blocks from a comma-separated string or an iterable.

    Host bits are allowed (``127.0.0.1/8`` is ``127.0.0.0/8``); a bare
    address is a block of one.

    :raises ValueError: naming the first entry that is not a CIDR block.
    """
    if isinstance(value, str):
        value = value.split(",")
    networks = []
    for entry in value:
        if isinstance(entry, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            networks.append(entry)
            continue
        entry = str(entry).strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not a CIDR block") from None
    return tuple(networks)


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, as a resolver reads it, or None for a
    name.

    Accepts IPv6 with or without brackets (and a zone), and every IPv4
    form ``inet_aton`` accepts: ``127.1``, ``2130706433``, ``0x7f.1``,
    ``0177.0.0.1``, with or without a trailing dot.
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    host = host.rstrip(".") if host.count(".") <= 4 else host
    if not _IPV4_LIKE.match(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4,
    Teredo, IPv4-compatible), or None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _IPV4_COMPATIBLE
                             and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _unwrap(address: IPAddress) -> IPAddress:
    return _embedded_ipv4(address) or address


def is_internal(address: IPAddress) -> bool:
    """Whether `address` is not a public unicast address (see the module
    doc), judging an IPv6 address that embeds an IPv4 one by the latter.
    """
    address = _unwrap(address)
    return (not address.is_global or address.is_private
            or address.is_loopback or address.is_link_local
            or address.is_multicast or address.is_unspecified
            or address.is_reserved
            or getattr(address, "is_site_local", False))


def _is_localhost(name: str) -> bool:
    name = name.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


class AddressPolicy:
    """Decides which hosts and addresses an import may connect to.

    :param allowed_networks: CIDR blocks allowed although internal
        (`parse_networks` input).
    :param excluded_hosts: names (with their subdomains) and addresses
        never connected to, even when allowed.
    :param allow_all: allow every address that is not excluded (the
        worker's ``anything`` policy).
    :param resolver: ``getaddrinfo``-like; for tests of the rule itself.
    """

    def __init__(self, allowed_networks=(), excluded_hosts: Iterable[str] = (),
                 allow_all: bool = False, resolver=socket.getaddrinfo):
        self.allowed_networks = parse_networks(allowed_networks)
        self.allow_all = allow_all
        self.excluded_names = []
        self.excluded_addresses = set()
        for host in excluded_hosts:
            if not host:
                continue
            address = literal_address(host)
            if address is None:
                self.excluded_names.append(host.lower().rstrip("."))
            else:
                self.excluded_addresses.add(_unwrap(address))
        self._resolver = resolver
        self._resolved_exclusions = None

    def isExcludedName(self, host: str) -> bool:
        """Whether `host` is, or is under, an excluded name."""
        host = host.lower().rstrip(".")
        return any(host == name or host.endswith("." + name)
                   for name in self.excluded_names)

    def _excludedAddresses(self) -> set:
        """The excluded addresses, with those the excluded names resolve
        to (looked up once, on first use; a name that does not resolve
        adds nothing)."""
        if self._resolved_exclusions is None:
            found = set(self.excluded_addresses)
            for name in self.excluded_names:
                try:
                    infos = self._resolver(name, None,
                                           type=socket.SOCK_STREAM)
                except (OSError, UnicodeError):
                    continue
                found.update(_unwrap(_info_address(info)) for info in infos)
            self._resolved_exclusions = found
        return self._resolved_exclusions

    def allowsAddress(self, address: IPAddress) -> bool:
        """Whether a connection to `address` may be made."""
        plain = _unwrap(address)
        if plain in self._excludedAddresses():
            return False
        if self.allow_all or not is_internal(address):
            return True
        return any(candidate.version == network.version
                   and candidate in network
                   for network in self.allowed_networks
                   for candidate in {address, plain})

    def checkLiteral(self, host: str) -> None:
        """Refuse `host` if what it spells is refused, without resolving:
        an address, or a name under ``localhost`` (refused unless
        127.0.0.1 or ::1 is allowed) or an excluded name.  Names are otherwise allowed.

        :raises ForbiddenAddress: naming `host` only.
        """
        if self.isExcludedName(host):
            raise ForbiddenAddress(host)
        address = literal_address(host)
        if address is not None:
            addresses = [address]
        elif _is_localhost(host):
            # Either loopback allowed will do: `resolve` then judges the
            # addresses the name really has.
            addresses = [ipaddress.ip_address("127.0.0.1"),
                         ipaddress.ip_address("::1")]
        else:
            return
        if not any(self.allowsAddress(each) for each in addresses):
            raise ForbiddenAddress(host)

    def resolve(self, host: str, port: int) -> list[tuple]:
        """Resolve `host` and return ``(family, sockaddr)`` pairs to
        connect to, all of them allowed.

        A name is refused if *any* of its addresses is refused: which one
        a program would pick is not ours to know, and a name that mixes
        public and internal addresses is a probe.

        :raises ForbiddenAddress: naming `host` only.
        :raises OSError: when the name does not resolve.
        """
        self.checkLiteral(host)
        bare = host[1:-1] if host.startswith("[") else host
        infos = self._resolver(bare, port, type=socket.SOCK_STREAM)
        targets = []
        for family, _, _, _, sockaddr in infos:
            address = _info_address((family, None, None, None, sockaddr))
            if not self.allowsAddress(address):
                raise ForbiddenAddress(host)
            if (family, sockaddr) not in targets:
                targets.append((family, sockaddr))
        if not targets:
            raise OSError(f"{host} has no address")
        return targets

    def connect(self, host: str, port: int,
                timeout: float | None = None) -> socket.socket:
        """A TCP connection to `host`:`port` at an address `resolve`
        allowed (the first that answers).

        :raises ForbiddenAddress: as `resolve`.
        :raises OSError: when none can be reached.
        """
        error = None
        for family, sockaddr in self.resolve(host, port):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as caught:
                sock.close()
                error = caught
        raise error


def _info_address(info) -> IPAddress:
    """The address of a ``getaddrinfo`` result, without its zone."""
    return ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
