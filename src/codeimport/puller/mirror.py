"""Mirror one branch's Git repository into the mirror store.

Every copy is made by the ``git`` program with the safety switches of
`codeimport.safegit`, into a bare repository at ``target_path(
mirror_store, unique_name)``.  This module decides *what* to copy and
*whether* that is allowed:

MIRRORED
    the pull URL is the branch's remote URL; its branches and tags are
    fetched (moved refs follow, vanished refs go) and HEAD points where
    the source's does.  Only http, https and git URLs are mirrored
    (``file:`` URLs and local paths too when ``allow_file_urls`` is set,
    for demos and tests); excluded hosts and their subdomains never are.
IMPORTED
    the pull URL is the branch's unique name; the source is the import's
    target in the import store (``target_path(import_store,
    unique_name)``).  Exactly what the import last *published* is
    mirrored: the refs and tips of its manifest
    (`codeimport.targetstore.read_manifest`), fetched by object id, and
    its HEAD.  The import's staging refs, and anything an import still
    running has written but not published, are never copied.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from codeimport import safegit
from codeimport.access import AccessPolicy
from codeimport.access import ForbiddenURL
from codeimport.access import split_location
from codeimport.errors import CodeImportError
from codeimport.targetstore import PUBLISHED_PREFIXES
from codeimport.targetstore import read_manifest
from codeimport.targetstore import target_path
from codeimport.worker.tools import ToolMissing
from codeimport.worker.tools import tool_environment

__all__ = [
    "MIRRORED_SCHEMES",
    "MirrorOutcome",
    "Mirrorer",
    "NO_REVISION",
    "tip_revision",
]

MIRRORED_SCHEMES = frozenset({"http", "https", "git"})
#: The revision id reported for a repository with no commits at all.
NO_REVISION = "null:"
#: Longest failure reason sent to the server; the rest is cut off.
MAX_REASON = 500
_PREFERRED_HEADS = ("refs/heads/main", "refs/heads/master")
_REMOTE_REFSPECS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]

logger = logging.getLogger("codeimport.puller")


@dataclass(frozen=True)
class MirrorOutcome:
    """How one mirror went: a tip `revision` on success, else a `reason`.
    """

    revision: str | None = None
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.reason is None


def _git(path: str, *args: str, input: bytes | None = None) -> str:
    """Run git on a mirror (ours, trusted)."""
    return subprocess.run(
        ["git", f"--git-dir={path}", "-c", "core.hooksPath=/dev/null",
         *args], input=input,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
        env={"PATH": os.environ.get("PATH", os.defpath),
             "HOME": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
             "GIT_CONFIG_GLOBAL": os.devnull},
    ).stdout.decode("utf-8", "surrogateescape")


def _refs(path: str) -> dict[str, str]:
    output = _git(path, "for-each-ref", "--format=%(objectname) %(refname)",
                  *PUBLISHED_PREFIXES)
    return dict(reversed(line.split(" ", 1)) for line in output.splitlines())


def _head(path: str) -> str | None:
    try:
        return _git(path, "symbolic-ref", "-q", "HEAD").strip() or None
    except subprocess.CalledProcessError:
        return None


def tip_revision(path: str) -> str:
    """The sha of the mirror's HEAD, else of its main (or master, else
    first) branch, else `NO_REVISION` for an empty repository."""
    refs = _refs(path)
    head = _head(path)
    heads = [head] if head in refs else []
    heads += [name for name in _PREFERRED_HEADS if name in refs]
    heads += sorted(n for n in refs if n.startswith("refs/heads/"))
    heads += sorted(refs)
    return refs[heads[0]] if heads else NO_REVISION


def _open_mirror(path: str) -> None:
    if not os.path.isfile(os.path.join(path, "HEAD")):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", "--", path], check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", os.defpath),
                 "HOME": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                 "GIT_CONFIG_GLOBAL": os.devnull})


def _set_refs(path: str, wanted: dict[str, str], head: str | None) -> None:
    """Delete the mirror's branches and tags that are not `wanted` (all
    in one transaction) and point HEAD at `head` if it is one of them."""
    current = _refs(path)
    stale = sorted(current.keys() - wanted.keys())
    if stale:
        script = "start\n" + "".join(
            f"delete {name} {current[name]}\n" for name in stale
        ) + "prepare\ncommit\n"
        _git(path, "update-ref", "--stdin",
             input=script.encode("utf-8", "surrogateescape"))
    if head in wanted and head != _head(path):
        _git(path, "symbolic-ref", "HEAD", head)


class Mirrorer:
    """Copies branches into `mirror_store`.

    :param mirror_store: directory of the mirrors (created if missing).
    :param import_store: the target store the import workers write to,
        or None if IMPORTED branches are not pulled.
    :param allow_file_urls: also mirror ``file:`` URLs and local paths.
    :param excluded_hosts: hosts never mirrored from (nor their
        subdomains).
    """

    def __init__(self, mirror_store: str, import_store: str | None = None,
                 allow_file_urls: bool = False, excluded_hosts=()):
        self.mirror_store = mirror_store
        self.import_store = import_store
        self._remote_policy = AccessPolicy(
            "puller", MIRRORED_SCHEMES, allow_file_urls, excluded_hosts)
        self._local_policy = AccessPolicy("puller-imports", frozenset(),
                                          True)

    def mirror(self, pull_url: str, unique_name: str,
               branch_type_name: str) -> MirrorOutcome:
        """Mirror one branch, as handed out by ``acquireBranchToPull``.

        Problems with the source are returned as a failed outcome, whose
        reason is meant for the branch's owner; only bugs raise.
        """
        try:
            # Refuses names that would leave the store, before any work.
            target_path(self.mirror_store, unique_name)
            if branch_type_name == "IMPORTED":
                return self._mirrorImported(unique_name)
            if branch_type_name == "MIRRORED":
                return self._mirrorRemote(pull_url.strip(), unique_name)
        except CodeImportError as error:
            return self._failed(str(error))
        return self._failed(
            f"Branches of type {branch_type_name} are not mirrored.")

    def _mirrorImported(self, unique_name) -> MirrorOutcome:
        if self.import_store is None:
            return self._failed("This puller does not pull imported "
                                "branches.")
        source = target_path(self.import_store, unique_name)
        try:
            manifest = read_manifest(source)
        except (OSError, ValueError):
            return self._failed(
                f"The import of {unique_name} has an unreadable record of "
                "what it published; the next import rewrites it.")
        if manifest is None:
            return self._failed(
                f"Not a branch: nothing has been imported into "
                f"{unique_name} yet.")
        refs = {name: sha for name, sha in manifest.get("refs", {}).items()
                if name.startswith(PUBLISHED_PREFIXES)}
        mirror = target_path(self.mirror_store, unique_name)
        refspecs = [f"+{sha}:{name}" for name, sha in sorted(refs.items())]
        return self._copy(
            source, mirror, refspecs, self._local_policy,
            head=manifest.get("head"), wanted=refs,
            hide=(source, unique_name))

    def _mirrorRemote(self, url, unique_name) -> MirrorOutcome:
        try:
            scheme, host = split_location(url)
        except ValueError as error:
            return self._failed(f"Invalid branch URL {url!r}: {error}.")
        policy = self._remote_policy
        if scheme in ("ssh", "sftp", "git+ssh", "bzr+ssh"):
            return self._failed(
                "We cannot mirror branches from SFTP and SSH URLs. Please "
                "register an HTTP location for this branch.")
        if scheme == "file" and not policy.allow_local:
            return self._failed("We do not mirror file:// URLs.")
        if scheme != "file" and scheme not in policy.allowed_schemes:
            return self._failed(f"We do not mirror {scheme}:// URLs.")
        if host is not None and policy.isExcluded(host):
            return self._failed(f"We do not mirror branches from {host}.")
        mirror = target_path(self.mirror_store, unique_name)
        return self._copy(url, mirror, _REMOTE_REFSPECS, policy)

    def _copy(self, source, mirror, refspecs, policy, head=None,
              wanted=None, hide=None) -> MirrorOutcome:
        """Fetch `refspecs` from `source` into `mirror`.

        :param wanted: the exact refs the mirror must end with (an
            import's manifest); None to take the source's refs as they
            are, and its HEAD.
        """
        home = tempfile.mkdtemp(prefix="codeimport-puller-")
        lines = []
        try:
            env = tool_environment(home)
            _open_mirror(mirror)
            if wanted is None:
                head, _ = safegit.list_remote(mirror, source, policy, env)
            if refspecs:
                safegit.fetch(mirror, source, refspecs, policy, env,
                              on_line=lines.append, prune=wanted is None,
                              exact_objects=wanted is not None)
            refs = _refs(mirror) if wanted is None else wanted
            _set_refs(mirror, refs, head)
            if wanted is not None and _refs(mirror) != wanted:
                raise safegit.GitSourceBroken(
                    "the mirror does not match what the import published")
        except (safegit.GitSourceError, ForbiddenURL, ToolMissing) as error:
            logger.debug("mirror log of %s:\n%s", mirror, "\n".join(lines))
            reason = str(error)
            if hide is not None:
                # Owners see this text: name the branch, not our disk.
                reason = reason.replace(*hide)
            return self._failed(reason)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return MirrorOutcome(revision=tip_revision(mirror))

    @staticmethod
    def _failed(reason: str) -> MirrorOutcome:
        if len(reason) > MAX_REASON:
            reason = reason[:MAX_REASON - 3] + "..."
        return MirrorOutcome(reason=reason)
