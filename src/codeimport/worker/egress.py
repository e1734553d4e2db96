"""The import worker's egress proxy: every connection an import's
programs make to a source goes through here and is checked by the
source address rule (`codeimport.addresses.AddressPolicy`).

Why a proxy: the programs that read sources (``git``, Mercurial,
Breezy, libsvn) resolve names and follow redirects themselves, so
checking the URL before starting them proves nothing about where they
connect.  The worker therefore starts `EgressProxy` on 127.0.0.1 and
hands it to every program (`EgressProxy.environment`):

* **http and https** (git's libcurl, hg, Breezy, libsvn's serf) use it
  as their HTTP proxy: ``CONNECT host:port`` for https, an absolute
  URL for plain http (served one request per connection, so that a
  redirect to another host is a new, checked connection).  Every
  redirect target is therefore checked like the first host.
* **git://** goes through ``GIT_PROXY_COMMAND``, a small connector
  (`connector_main`) that asks the proxy for a ``CONNECT``.
* **Python programs of ours** (Breezy's exporter for ``bzr://``, hg's
  exporter) call `guard_sockets` first: every TCP connection the
  process opens that is not to the proxy is tunnelled through it, so
  a library that ignores proxy settings cannot go around it.
* **svn://** (libsvn in the worker's own process, which has no proxy
  for it) and CVS ``:pserver:`` (our own client) resolve once through
  `AddressPolicy.resolve` and connect to the address that was checked.

The proxy resolves each host once, refuses it (403) if any of its
addresses is refused, and connects to the address it checked, so a
name that answers differently the second time gains nothing.  It
records that it refused (`EgressProxy.refused`); the importer then
reports FAILURE_FORBIDDEN with `codeimport.addresses.REFUSAL`, whatever
error the program printed, and never the address.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import sys
import tempfile
import threading
import urllib.parse

from codeimport.addresses import AddressPolicy
from codeimport.addresses import ForbiddenAddress

__all__ = [
    "EGRESS_VARIABLE",
    "EgressProxy",
    "connector_main",
    "guard_sockets",
    "split_authority",
]

#: Names the proxy (``127.0.0.1:PORT``) in the programs' environment.
EGRESS_VARIABLE = "CODEIMPORT_EGRESS_PROXY"
#: The most a request head may be, and how long a connection may idle.
MAX_HEAD = 64 * 1024
IDLE_TIMEOUT = 600.0
CONNECT_TIMEOUT = 60.0
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection",
               b"proxy-authorization", b"proxy-authenticate", b"te",
               b"trailer", b"upgrade"}


def split_authority(authority: str, default_port: int) -> tuple[str, int]:
    """``(host, port)`` of ``host[:port]`` or ``[v6][:port]``.

    :raises ValueError: for a bad port or an empty host.
    """
    parts = urllib.parse.urlsplit("//" + authority)
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {authority!r}")
    return host, parts.port or default_port


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The head of an HTTP message (through the blank line) and what
    was read after it.

    :raises ValueError: for a head too long or a connection closed early.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            raise ValueError("head too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("closed before the end of the head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _copy(source: socket.socket, destination: socket.socket) -> None:
    """Copy until `source` ends, then end `destination`'s writing."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            destination.sendall(data)
    except OSError:
        pass
    finally:
        try:
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _without_hop_by_hop(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines
            if line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]


class EgressProxy:
    """An HTTP proxy (CONNECT and plain http) on 127.0.0.1 that connects
    only where `policy` allows (see the module doc).

    :param policy: the source address rule to apply.
    """

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self._refused = threading.Event()
        self._listener = None
        self._directory = None
        self._threads: list[threading.Thread] = []

    @property
    def refused(self) -> bool:
        """Whether any connection was refused by the policy."""
        return self._refused.is_set()

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> EgressProxy:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        self._directory = tempfile.mkdtemp(prefix="codeimport-egress-")
        self._accepting = threading.Thread(target=self._serve, daemon=True,
                                           name="egress-proxy")
        self._accepting.start()
        return self

    def close(self) -> None:
        if self._listener is not None:
            try:
                # Wakes the accepting thread: closing alone does not, and
                # it would then accept on whatever socket reuses the fd.
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._accepting.join(5)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> EgressProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def connectorPath(self) -> str:
        """An executable that git runs for git:// (``GIT_PROXY_COMMAND``
        HOST PORT): `connector_main` in this interpreter."""
        path = os.path.join(self._directory, "git-proxy")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(
                    f"#!{sys.executable}\n"
                    "import sys\n"
                    "from codeimport.worker.egress import connector_main\n"
                    "sys.exit(connector_main(sys.argv[1:]))\n")
            os.chmod(path, stat.S_IRWXU)
        return path

    def environment(self) -> dict[str, str]:
        """Variables that send the programs' connections through here."""
        url = f"http://{self.address}"
        return {
            EGRESS_VARIABLE: self.address,
            "http_proxy": url, "https_proxy": url,
            "HTTP_PROXY": url, "HTTPS_PROXY": url,
            "all_proxy": url, "ALL_PROXY": url,
            # Nothing is exempt (hg would exempt localhost by itself;
            # hgexport sets http_proxy.always).
            "no_proxy": "", "NO_PROXY": "",
            "GIT_PROXY_COMMAND": self.connectorPath(),
        }

    # -- serving ---------------------------------------------------------

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,),
                             daemon=True, name="egress-connection").start()

    def _open(self, host: str, port: int) -> socket.socket:
        try:
            return self.policy.connect(host, port, timeout=CONNECT_TIMEOUT)
        except ForbiddenAddress:
            self._refused.set()
            raise

    def _handle(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.settimeout(IDLE_TIMEOUT)
            head, rest = _read_head(client)
            lines = head.split(b"\r\n")
            method, target, version = lines[0].split(b" ", 2)
            if method == b"CONNECT":
                host, port = split_authority(target.decode("ascii"), 443)
                upstream = self._open(host, port)
                upstream.settimeout(IDLE_TIMEOUT)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self._splice(client, upstream)
                return
            parts = urllib.parse.urlsplit(target.decode("ascii"))
            if parts.scheme.lower() != "http":
                raise ValueError("only http URLs are proxied")
            host, port = split_authority(parts.netloc.rpartition("@")[2], 80)
            upstream = self._open(host, port)
            upstream.settimeout(IDLE_TIMEOUT)
            path = urllib.parse.urlunsplit(
                ("", "", parts.path or "/", parts.query, ""))
            request = [b" ".join([method, path.encode("ascii"), version])]
            request += _without_hop_by_hop(
                [line for line in lines[1:] if line])
            request.append(b"Connection: close")
            upstream.sendall(b"\r\n".join(request) + b"\r\n\r\n" + rest)
            self._forward(client, upstream)
        except ForbiddenAddress:
            self._answer(client, b"403 Forbidden")
        except (ValueError, UnicodeError):
            self._answer(client, b"400 Bad Request")
        except OSError:
            self._answer(client, b"502 Bad Gateway")
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    @staticmethod
    def _answer(client: socket.socket, status: bytes) -> None:
        try:
            client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0"
                           b"\r\nConnection: close\r\n\r\n")
        except OSError:
            pass

    @staticmethod
    def _splice(client: socket.socket, upstream: socket.socket) -> None:
        sending = threading.Thread(target=_copy, args=(client, upstream),
                                   daemon=True)
        sending.start()
        _copy(upstream, client)
        sending.join(IDLE_TIMEOUT)

    @staticmethod
    def _forward(client: socket.socket, upstream: socket.socket) -> None:
        """One plain http exchange: the request body goes up while the
        response comes down, told ``Connection: close`` so the client
        opens (and we check) a new connection for its next request."""
        sending = threading.Thread(target=_copy, args=(client, upstream),
                                   daemon=True)
        sending.start()
        while True:
            head, rest = _read_head(upstream)
            lines = head.split(b"\r\n")
            informational = lines[0][9:10] == b"1"
            if not informational:
                lines = ([lines[0]] + _without_hop_by_hop(
                    [line for line in lines[1:] if line])
                    + [b"Connection: close", b"", b""])
                head = b"\r\n".join(lines)
            client.sendall(head + (b"" if informational else rest))
            if not informational:
                break
            if rest:
                # Pushed back: the next head starts here.
                upstream = _Prefixed(upstream, rest)
        _copy(upstream, client)
        sending.join(IDLE_TIMEOUT)


class _Prefixed:
    """A socket whose first reads return `prefix` (bytes read ahead)."""

    def __init__(self, sock, prefix: bytes):
        self._sock = sock
        self._prefix = prefix

    def recv(self, size: int) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._sock.recv(size)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _tunnel(sock: socket.socket, proxy: tuple[str, int], host: str,
            port: int, connect) -> None:
    """Connect `sock` to `host`:`port` through the proxy's CONNECT.

    :raises ConnectionRefusedError: when the proxy refuses (the address
        policy) or cannot connect.
    """
    proxy_host, proxy_port = proxy
    if sock.family == socket.AF_INET6:
        connect(sock, ("::ffff:" + proxy_host, proxy_port, 0, 0))
    else:
        connect(sock, (proxy_host, proxy_port))
    authority = f"[{host}]" if ":" in host else host
    sock.sendall(f"CONNECT {authority}:{port} HTTP/1.1\r\n"
                 f"Host: {authority}:{port}\r\n\r\n".encode("ascii"))
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)  # byte by byte: nothing after the head is ours
        if not byte or len(head) > MAX_HEAD:
            break
        head += byte
    if head[9:12] != b"200":
        raise ConnectionRefusedError(
            errno.ECONNREFUSED,
            "refused by the import machine's source address policy"
            if head[9:12] == b"403" else "the egress proxy cannot connect")


def guard_sockets(proxy: str | None = None) -> bool:
    """Send every TCP connection this process makes through the egress
    proxy (``$CODEIMPORT_EGRESS_PROXY`` unless `proxy` is given), except
    connections to the proxy itself; return whether it was installed.

    For our own Python programs (Breezy's and hg's exporters): whatever
    a library does, its ``connect`` is a ``CONNECT`` the proxy checks.
    """
    proxy = proxy or os.environ.get(EGRESS_VARIABLE)
    if not proxy:
        return False
    proxy_address = split_authority(proxy, 0)
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family not in (socket.AF_INET, socket.AF_INET6) or (
                self.type & 0xF) != socket.SOCK_STREAM:
            return real_connect(self, address)
        host, port = address[0], address[1]
        if (host.removeprefix("::ffff:"), port) == proxy_address:
            return real_connect(self, address)
        return _tunnel(self, proxy_address, host, port, real_connect)

    def connect_ex(self, address):
        try:
            connect(self, address)
        except OSError as error:
            return error.errno or errno.ECONNREFUSED
        return 0

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    return True


def connector_main(argv: list[str]) -> int:
    """``GIT_PROXY_COMMAND HOST PORT``: a connection to HOST:PORT through
    the egress proxy, on standard input and output."""
    try:
        host, port = argv[0], int(argv[1])
        proxy = split_authority(os.environ[EGRESS_VARIABLE], 0)
    except (IndexError, ValueError, KeyError):
        print("usage: git-proxy HOST PORT (with $"
              f"{EGRESS_VARIABLE})", file=sys.stderr)
        return 2
    host = host[1:-1] if host.startswith("[") else host
    sock = socket.socket()
    try:
        _tunnel(sock, proxy, host, port, socket.socket.connect)
    except OSError as error:
        print(f"fatal: {host}: {error.strerror or error}", file=sys.stderr)
        return 1
    sending = threading.Thread(target=_pump_in, args=(sock,), daemon=True)
    sending.start()
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            while data:
                data = data[os.write(1, data):]
    except OSError:
        pass
    return 0


def _pump_in(sock: socket.socket) -> None:
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
