"""Reading a Subversion repository through libsvn (subvertpy).

`SvnSource` is the one place where the Subversion importer reaches the
network from its own process (libsvn's RA layer: ``svn://``,
``http(s)://`` and ``file://``); everything it reads goes through it.
"""

from __future__ import annotations

import contextlib
import io
import os
import urllib.parse
import warnings
from collections.abc import Mapping

from codeimport.worker.conversion import SourceBroken
from codeimport.worker.conversion import SourceInvalid

__all__ = ["NODE_DIR", "NODE_FILE", "SvnSource", "file_mode",
           "write_config"]

NODE_FILE, NODE_DIR = 1, 2
REVPROPS = ["svn:author", "svn:date", "svn:log"]


def write_config(directory: str, env: Mapping[str, str]) -> str:
    """A private libsvn configuration in `directory`; its path.

    libsvn reads no proxy variables: the access policy's proxy
    (``http_proxy``/``https_proxy`` in the import's environment) becomes
    its ``http-proxy-host``/``-port``.  Nothing is read from the machine
    user's ``~/.subversion``, and no credentials are stored.
    """
    os.makedirs(directory, exist_ok=True)
    lines = ["[global]", "store-passwords = no", "store-auth-creds = no"]
    proxy = env.get("https_proxy") or env.get("http_proxy")
    if proxy:
        parts = urllib.parse.urlsplit(
            proxy if "://" in proxy else "http://" + proxy)
        if parts.hostname:
            lines += [f"http-proxy-host = {parts.hostname}",
                      f"http-proxy-port = {parts.port or 80}"]
        if env.get("no_proxy"):
            lines.append("http-proxy-exceptions = " + env["no_proxy"])
    with open(os.path.join(directory, "servers"), "w") as stream:
        stream.write("\n".join(lines) + "\n")
    with open(os.path.join(directory, "config"), "w") as stream:
        stream.write("[auth]\npassword-stores =\n")
    return directory


class SvnSource:
    """A Subversion repository read through libsvn (subvertpy).

    Two sessions: one streams the log while the other fetches content
    (one session cannot do both at once).  Errors while connecting mean
    the source is invalid; errors afterwards that it is broken.

    :param config_dir: a private libsvn configuration (`write_config`).
    :param credentials: a private source's `SourceCredentials`, or None;
        libsvn asks for them in this process (a prompt provider), so they
        are in no argument, file or log, and never stored.
    """

    def __init__(self, url: str, config_dir: str, credentials=None):
        from subvertpy import SubversionException
        from subvertpy import client
        from subvertpy import ra

        self._ra = ra
        self._error = SubversionException
        self.url = url.rstrip("/")
        with self.failures(opening=True), warnings.catch_warnings():
            # subvertpy 0.11 calls the deprecated urllib.parse.splittype.
            warnings.simplefilter("ignore", DeprecationWarning)
            providers = [ra.get_username_provider(),
                         ra.get_ssl_server_trust_file_provider()]
            if credentials is not None:
                def answer(realm, username, may_save):
                    return credentials.username, credentials.password, False

                # One try: wrong credentials are not asked for again.
                providers.insert(0, ra.get_simple_prompt_provider(answer, 0))
            auth = ra.Auth(providers)
            config = client.get_config(config_dir)
            self._log = ra.RemoteAccess(self.url, auth=auth, config=config)
            self.root = self._log.get_repos_root().rstrip("/")
            self.uuid = self._log.get_uuid()
            self.youngest = self._log.get_latest_revnum()
            self._content = ra.RemoteAccess(self.url, auth=auth,
                                            config=config)
            self._content.reparent(self.root)
            tail = self._log.get_session_url().rstrip("/")[len(self.root):]
            self.prefix = urllib.parse.unquote(tail).rstrip("/")
            if self._content.check_path(self.prefix.lstrip("/"),
                                        self.youngest) != NODE_DIR:
                raise SourceInvalid(
                    f"{self.url} is not a Subversion directory.")

    @contextlib.contextmanager
    def failures(self, opening: bool = False):
        try:
            yield
        except self._error as error:
            message = error.args[0] if error.args else str(error)
            if opening:
                raise SourceInvalid(
                    f"Cannot read the Subversion repository at {self.url}: "
                    f"{message}") from None
            raise SourceBroken(
                f"Reading the Subversion repository at {self.url} failed: "
                f"{message}") from None

    def log(self, start: int, end: int, limit: int = 0):
        """``(revision, changed paths, revprops)`` from `start` to `end`."""
        with self.failures():
            for entry in self._log.iter_log(
                    [""], start, end, limit, discover_changed_paths=True,
                    strict_node_history=True, revprops=REVPROPS):
                yield entry[1], entry[0] or {}, entry[2] or {}

    def kind(self, path: str, rev: int) -> int:
        with self.failures():
            return self._content.check_path(path.lstrip("/"), rev)

    def file(self, path: str, rev: int) -> tuple[bytes, dict]:
        stream = io.BytesIO()
        with self.failures():
            _, props = self._content.get_file(path.lstrip("/"), stream, rev)
        return stream.getvalue(), props

    def directory(self, path: str, rev: int) -> tuple[dict, dict]:
        """``({name: kind}, props)`` of directory `path` at `rev`."""
        with self.failures():
            entries, _, props = self._content.get_dir(
                path.lstrip("/"), rev, self._ra.DIRENT_KIND)
        return {name: e["kind"] for name, e in entries.items()}, props

    def walk(self, path: str, rev: int):
        """``(relative path, content, props)`` of every file under `path`."""
        entries, _ = self.directory(path, rev)
        for name, kind in sorted(entries.items()):
            child = f"{path}/{name}"
            if kind == NODE_DIR:
                for rel, content, props in self.walk(child, rev):
                    yield f"{name}/{rel}", content, props
            elif kind == NODE_FILE:
                yield (name, *self.file(child, rev))


def file_mode(content: bytes, props: dict) -> tuple[str, bytes]:
    """The Git mode and blob of a file with these svn properties."""
    if "svn:special" in props and content.startswith(b"link "):
        return "120000", content[len(b"link "):]
    if "svn:executable" in props:
        return "100755", content
    return "100644", content
