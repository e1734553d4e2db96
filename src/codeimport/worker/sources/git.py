"""Git sources: fetch with the ``git`` program into the staging refs.

A Git source needs no conversion, only a careful copy.  Each run:

1. lists the source (``git ls-remote --symref``): its branches and tags
   and the branch its HEAD points at, which becomes the target's HEAD;
2. fetches branches into ``refs/codeimport/staging/heads/*`` and tags
   into ``.../tags/*`` (pruning what the source no longer has), with
   every safety switch of `codeimport.safegit` (allowed transports only,
   objects checked, no hooks, prompts, redirects or submodules);
3. checks fidelity (see below), and the driver publishes.

Only branches and tags are imported; other refs (``refs/pull/*``,
``refs/notes/*`` ...) are not part of a project's history.  A Git import
has no revision limit: a fetch is one consistent step however large.

Fidelity, decided for Git: the generic check exports a branch and
compares trees, but a Git commit id already names its tree and all its
history, and ``fetch.fsckObjects`` has verified every object received
against its id.  So the meaningful check, and a cheap one (one ref
listing, no object transfer), is that each staged tip *equals the tip
the source advertises*.  The listing made before the fetch is compared
with the staged refs; if the source moved meanwhile, it is listed once
more and compared again; a difference then fails the run with the first
differing ref and nothing is published.  `GitConverter.exportTree` is
therefore not needed and says so (`Unsupported`), so the generic tree
comparison skips Git.  ``git archive --remote`` would also export, but
neither smart HTTP nor a default ``git daemon`` serves it.

Errors: a source that is missing, not a repository or unreachable is
`SourceInvalid` (FAILURE_INVALID); one whose objects or refs are damaged
is `SourceBroken` (FAILURE_REMOTE_BROKEN); a location the policy refuses
is `SourceForbidden`.
"""

from __future__ import annotations

import time

from codeimport import safegit
from codeimport.access import ForbiddenURL
from codeimport.worker.conversion import Converter
from codeimport.worker.conversion import ConvertingImporter
from codeimport.worker.conversion import Outcome
from codeimport.worker.conversion import SourceBroken
from codeimport.worker.conversion import SourceForbidden
from codeimport.worker.conversion import SourceInvalid
from codeimport.worker.conversion import Unsupported
from codeimport.worker.fidelity import FidelityMismatch
from codeimport.worker.target import STAGING_PREFIX

__all__ = ["GitConverter", "GitImporter"]

REFSPECS = [
    f"+refs/heads/*:{STAGING_PREFIX}heads/*",
    f"+refs/tags/*:{STAGING_PREFIX}tags/*",
]
# git's progress lines are redrawn many times a second; pass one on at
# most this often (and every line that is not progress).
PROGRESS_INTERVAL = 2.0


class _ProgressFilter:
    """Passes git's output to the log, thinning out progress redraws."""

    def __init__(self, say, clock=time.monotonic):
        self._say = say
        self._clock = clock
        self._last = None

    def __call__(self, line: str) -> None:
        progress = "%" in line and not line.rstrip().endswith("done.")
        if progress:
            now = self._clock()
            if self._last is not None and now - self._last < (
                    PROGRESS_INTERVAL):
                return
            self._last = now
        self._say(line.rstrip())


class GitConverter(Converter):
    """Copies a Git repository's branches and tags (see module doc)."""

    rcs = "git"

    def convert(self, limit: int | None) -> Outcome:
        """See `Converter`; `limit` does not apply to Git."""
        url = self.request.url
        try:
            transport = safegit.transport_of(url)
        except ForbiddenURL as error:
            raise SourceForbidden(str(error)) from None
        if transport not in safegit.GIT_TRANSPORTS:
            raise Unsupported(f"Git imports cannot read {transport} URLs: "
                              f"{url}")
        self._helper = None
        if self.credentials is not None:
            self._helper = safegit.write_credential_helper(
                self.work_dir, self.credentials)
        before = self.target.stagedRefs()
        self.say(f"Fetching {url}")
        head, advertised = self._list(url)
        if advertised == before:
            # Already staged (and so already fetched and checked).
            if head is not None and head in before:
                self.head = head
            return Outcome(complete=True, done=0)
        try:
            safegit.fetch(self.target.path, url, REFSPECS, self.policy,
                          self.env, on_line=_ProgressFilter(self.say),
                          credential_helper=self._helper)
        except ForbiddenURL as error:
            raise SourceForbidden(str(error)) from None
        except safegit.GitSourceUnreadable as error:
            raise SourceInvalid(str(error)) from None
        except safegit.GitSourceBroken as error:
            # Name the refs whose objects the source could not send.
            named = sorted(name for name, sha in advertised.items()
                           if sha in str(error))
            detail = f" (missing objects for {', '.join(named)})" if (
                named) else ""
            raise SourceBroken(f"{error}{detail}") from None
        staged = self.target.stagedRefs()
        if staged != advertised:
            # The source may have moved between listing and fetching.
            head, advertised = self._list(url)
            self._checkAdvertised(url, staged, advertised)
        if head is not None and head in staged:
            self.head = head
        done = self._newCommits(before, staged)
        if done:
            self.say(f"{done} new commit(s).")
        return Outcome(complete=True, done=done)

    def _list(self, url):
        try:
            return safegit.list_remote(self.target.path, url, self.policy,
                                       self.env,
                                       credential_helper=self._helper)
        except ForbiddenURL as error:
            raise SourceForbidden(str(error)) from None
        except safegit.GitSourceError as error:
            raise SourceInvalid(str(error)) from None

    @staticmethod
    def _checkAdvertised(url, staged, advertised) -> None:
        for name in sorted(staged.keys() | advertised.keys()):
            if staged.get(name) != advertised.get(name):
                raise FidelityMismatch(
                    f"Fidelity check failed: {name} is "
                    f"{_short(staged.get(name))} here but "
                    f"{_short(advertised.get(name))} at {url}; nothing "
                    "was published.")

    def _newCommits(self, before, after) -> int:
        new = sorted(set(after.values()) - set(before.values()))
        if not new:
            return 0
        old = sorted(set(before.values()))
        output = self.target.git("rev-list", "--count", *new, "--not",
                                 *old, "--")
        return int(output.strip() or 0)

    def exportTree(self, ref: str, destination: str) -> None:
        """Not needed: the fidelity of a Git copy is checked by commit id
        (see the module doc)."""
        raise Unsupported("Git imports are checked by commit id")


class GitImporter(ConvertingImporter):
    """The Git-to-Git importer."""

    converter_class = GitConverter


def _short(sha: str | None) -> str:
    return "absent" if sha is None else sha[:12]
