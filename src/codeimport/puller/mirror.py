"""Mirror one branch's Git repository into the mirror store.

The copy itself is the import worker's Git-to-Git importer
(`codeimport.worker.gitimport`): every ref of the source is fetched into
a bare repository at ``target_path(mirror_store, unique_name)``, moved
refs follow, vanished refs go and HEAD points where the source's does.
This module decides *where* to copy from and *whether* that is allowed:

MIRRORED
    the pull URL is the branch's remote URL.  Only http, https and git
    URLs are mirrored (``file:`` URLs and local paths too when
    ``allow_file_urls`` is set, for demos and tests); excluded hosts and
    their subdomains never are.
IMPORTED
    the pull URL is the branch's unique name; the source is the
    repository the import worker wrote at ``target_path(import_store,
    unique_name)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo

from codeimport.enums import WorkerExitCode
from codeimport.errors import CodeImportError
from codeimport.worker.gitimport import GitToGitImporter
from codeimport.worker.gitimport import open_target
from codeimport.worker.gitimport import target_path
from codeimport.worker.importworker import ImportContext
from codeimport.worker.importworker import ImportRequest
from codeimport.worker.policy import AccessPolicy
from codeimport.worker.policy import split_location

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
_SUCCESSES = (WorkerExitCode.SUCCESS, WorkerExitCode.SUCCESS_NOCHANGE)
_PREFERRED_HEADS = (b"refs/heads/main", b"refs/heads/master")

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


def tip_revision(path: str) -> str:
    """The sha of the mirror's HEAD, else of its main (or master, else
    first) branch, else `NO_REVISION` for an empty repository."""
    repo = open_target(path)
    try:
        refs = repo.get_refs()
        try:
            return repo.refs[b"HEAD"].decode("ascii")
        except KeyError:
            pass
        heads = [name for name in _PREFERRED_HEADS if name in refs]
        heads += sorted(n for n in refs if n.startswith(b"refs/heads/"))
        heads += sorted(n for n in refs if n != b"HEAD")
        return refs[heads[0]].decode("ascii") if heads else NO_REVISION
    finally:
        repo.close()


def _is_repository(path: str) -> bool:
    try:
        Repo(path).close()
    except (NotGitRepository, OSError):
        return False
    return True


class Mirrorer:
    """Copies branches into `mirror_store`.

    :param mirror_store: directory of the mirrors (created if missing).
    :param import_store: directory the import workers write to, or None
        if IMPORTED branches are not pulled.
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
        self._local_policy = AccessPolicy("puller-imports", None, True)

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
        if not _is_repository(source):
            return self._failed(
                f"Not a branch: nothing has been imported into "
                f"{unique_name} yet.")
        return self._copy(source, unique_name, self._local_policy,
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
        return self._copy(url, unique_name, policy)

    def _copy(self, source, unique_name, policy, hide=None) -> MirrorOutcome:
        lines = []
        context = ImportContext(
            policy=policy, target_store=self.mirror_store,
            write=lines.append)
        request = ImportRequest(
            target_id=unique_name, rcs="git", target_rcs="git", url=source)
        code = GitToGitImporter(request, context).run()
        log = "".join(lines)
        logger.debug("mirror log of %s:\n%s", unique_name, log.rstrip())
        if code in _SUCCESSES:
            return MirrorOutcome(revision=tip_revision(
                target_path(self.mirror_store, unique_name)))
        said = [line.strip() for line in log.splitlines() if line.strip()]
        reason = said[-1] if said else f"Mirroring failed ({code})."
        if hide is not None:
            # Owners see this text: name the branch, not our disk.
            reason = reason.replace(*hide)
        return self._failed(reason)

    @staticmethod
    def _failed(reason: str) -> MirrorOutcome:
        if len(reason) > MAX_REASON:
            reason = reason[:MAX_REASON - 3] + "..."
        return MirrorOutcome(reason=reason)
