"""Git-to-Git imports: mirror every ref of a source into a bare repository.

Targets live in a *target store* directory, one bare repository per
target at ``<store>/<unique name without the leading "~">``, e.g.
``<store>/vcs-imports/gnome-terminal/import``.  An import fetches the
objects the target lacks, then makes the target's refs equal to the
source's (new refs added, moved refs updated, vanished refs deleted) and
points HEAD where the source's HEAD points.
"""

from __future__ import annotations

import os
import zlib

import dulwich.errors
import urllib3
from dulwich.client import HTTPProxyUnauthorized
from dulwich.client import HTTPUnauthorized
from dulwich.client import default_urllib3_manager
from dulwich.client import get_transport_and_path
from dulwich.pack import UnresolvedDeltas
from dulwich.refs import check_ref_format
from dulwich.repo import Repo

from codeimport.enums import WorkerExitCode
from codeimport.errors import CodeImportError
from codeimport.worker.importworker import Importer
from codeimport.worker.policy import AccessPolicy
from codeimport.worker.policy import ForbiddenURL
from codeimport.worker.policy import split_location

__all__ = [
    "GitToGitImporter",
    "UnsafeTargetName",
    "open_target",
    "target_path",
]

# What dulwich can fetch from; "ssh" only gets past the "anything" policy.
GIT_SCHEMES = frozenset({"http", "https", "git", "file", "ssh", "git+ssh"})
HTTP_TIMEOUT = 300.0
# Beyond this many changed refs the log says how many more, not which.
MAX_REPORTED_REFS = 50

# The source could not be reached or is not a repository.
UNREADABLE_ERRORS = (
    dulwich.errors.NotGitRepository,
    dulwich.errors.GitProtocolError,
    HTTPUnauthorized,
    HTTPProxyUnauthorized,
    urllib3.exceptions.HTTPError,
    OSError,
)
# The source is a repository whose content is damaged: dulwich reports
# missing objects as KeyError and unparsable refs as ValueError.
BROKEN_ERRORS = (
    dulwich.errors.ChecksumMismatch,
    dulwich.errors.ApplyDeltaError,
    dulwich.errors.FileFormatException,
    dulwich.errors.MissingCommitError,
    dulwich.errors.ObjectMissing,
    dulwich.errors.WrongObjectException,
    UnresolvedDeltas,
    KeyError,
    ValueError,
    zlib.error,
)


class UnsafeTargetName(CodeImportError, ValueError):
    """A target name would put the repository outside the target store."""

    def __init__(self, unique_name: str):
        super().__init__(
            f"Refusing target {unique_name!r}: it does not name a "
            "directory inside the target store."
        )
        self.unique_name = unique_name


def target_path(store: str, unique_name: str) -> str:
    """Return where the repository for `unique_name` lives in `store`.

    :raises UnsafeTargetName: for an empty name, a name with empty, "."
        or ".." components, backslashes or NULs, or one that reaches
        outside the store through a symbolic link.
    """
    name = unique_name[1:] if unique_name.startswith("~") else unique_name
    parts = name.split("/")
    if not name or any(
        part in ("", ".", "..") or "\\" in part or "\0" in part
        for part in parts
    ):
        raise UnsafeTargetName(unique_name)
    root = os.path.realpath(store)
    path = os.path.join(root, *parts)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise UnsafeTargetName(unique_name)
    return path


def open_target(path: str) -> Repo:
    """Open the bare repository at `path`, creating it if missing."""
    if os.path.isdir(os.path.join(path, "objects")):
        return Repo(path)
    os.makedirs(path, exist_ok=True)
    return Repo.init_bare(path)


def _policy_pool_manager(policy: AccessPolicy, url: str):
    """A urllib3 pool manager that checks every redirect against `policy`.

    urllib3 follows a redirect by calling ``urlopen`` again with the new
    URL, so checking there also catches redirects to excluded hosts.
    """

    class Checking:
        def urlopen(self, method, url, *args, **kwargs):
            policy.check(url)
            return super().urlopen(method, url, *args, **kwargs)

    pool = type("PolicyPoolManager", (Checking, urllib3.PoolManager), {})
    proxy = type("PolicyProxyManager", (Checking, urllib3.ProxyManager), {})
    return default_urllib3_manager(
        None,
        pool_manager_cls=pool,
        proxy_manager_cls=proxy,
        base_url=url,
        timeout=HTTP_TIMEOUT,
    )


def _snapshot(repo: Repo) -> tuple[dict[bytes, bytes], bytes | None]:
    refs = {
        name: sha
        for name, sha in repo.get_refs().items()
        if name != b"HEAD"
    }
    return refs, repo.refs.read_ref(b"HEAD")


class GitToGitImporter(Importer):
    """Mirrors a Git repository into a bare Git repository."""

    def run(self) -> int:
        """See `Importer`."""
        say = self.context.say
        url = self.request.url
        scheme, _ = split_location(url)
        if scheme not in GIT_SCHEMES:
            say(f"Git imports cannot read {scheme} URLs: {url}")
            return WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE
        path = target_path(self.context.target_store, self.request.target_id)
        target = open_target(path)
        try:
            return self._mirror(url, scheme, target)
        finally:
            target.close()

    def _mirror(self, url: str, scheme: str, target: Repo) -> int:
        say = self.context.say
        pool_manager = None
        if scheme in ("http", "https"):
            pool_manager = _policy_pool_manager(self.context.policy, url)
        before = _snapshot(target)
        say(f"Fetching {url}")
        self._line_open = False
        try:
            client, remote_path = get_transport_and_path(
                url, pool_manager=pool_manager
            )
            result = client.fetch(remote_path, target, progress=self._progress)
        except ForbiddenURL as error:
            self._endProgress()
            say(str(error))
            return WorkerExitCode.FAILURE_FORBIDDEN
        except UNREADABLE_ERRORS as error:
            self._endProgress()
            say(f"Cannot read {url}: {_describe(error)}")
            return WorkerExitCode.FAILURE_INVALID
        except BROKEN_ERRORS as error:
            self._endProgress()
            say(f"The repository at {url} is broken: {_describe(error)}")
            return WorkerExitCode.FAILURE_REMOTE_BROKEN
        self._endProgress()
        missing = sorted(
            name for name, sha in result.refs.items()
            if sha is not None and not name.endswith(b"^{}")
            and sha not in target.object_store
        )
        if missing:
            # A local fetch copies what it can find and does not complain
            # about a ref whose object is gone; never publish such a ref.
            names = ", ".join(n.decode("utf-8", "replace") for n in missing)
            say(f"The repository at {url} is broken: missing objects for "
                f"{names}")
            return WorkerExitCode.FAILURE_REMOTE_BROKEN
        self._updateRefs(target, result.refs, result.symrefs)
        after = _snapshot(target)
        if after == before:
            say("No changes.")
            return WorkerExitCode.SUCCESS_NOCHANGE
        self._report(before, after)
        return WorkerExitCode.SUCCESS

    def _progress(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if text:
            self.context.write(text)
            self._line_open = not text.endswith("\n")

    def _endProgress(self) -> None:
        # Progress may end with "\r" to redraw a line; start a fresh one.
        if self._line_open:
            self.context.write("\n")
            self._line_open = False

    def _updateRefs(self, target: Repo, refs: dict, symrefs: dict) -> None:
        wanted = {}
        for name, sha in refs.items():
            if sha is None or name == b"HEAD" or name.endswith(b"^{}"):
                continue
            if not check_ref_format(name):
                self.context.say(f"Skipping badly named ref {name!r}")
                continue
            wanted[name] = sha
        current, _ = _snapshot(target)
        for name, sha in wanted.items():
            if current.get(name) != sha:
                target.refs[name] = sha
        for name in current.keys() - wanted.keys():
            target.refs.remove_if_equals(name, None)
        head = symrefs.get(b"HEAD")
        if head in wanted:
            target.refs.set_symbolic_ref(b"HEAD", head)

    def _report(self, before, after) -> None:
        old_refs, old_head = before
        new_refs, new_head = after
        lines = []
        for name in sorted(old_refs.keys() | new_refs.keys()):
            old, new = old_refs.get(name), new_refs.get(name)
            label = name.decode("utf-8", "replace")
            if old is None:
                lines.append(f"  new      {label} {new[:12].decode()}")
            elif new is None:
                lines.append(f"  deleted  {label}")
            elif old != new:
                lines.append(
                    f"  updated  {label} {old[:12].decode()}.."
                    f"{new[:12].decode()}"
                )
        if old_head != new_head and new_head is not None:
            lines.append(f"  HEAD     {new_head.decode('utf-8', 'replace')}")
        say = self.context.say
        say(f"{len(lines)} ref(s) changed:")
        for line in lines[:MAX_REPORTED_REFS]:
            say(line)
        if len(lines) > MAX_REPORTED_REFS:
            say(f"  ... and {len(lines) - MAX_REPORTED_REFS} more")


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name
