"""The target store: one bare Git repository per import, shared by the fleet.

A target lives at ``<store>/<unique name without the leading "~">``
(`codeimport.targetstore.target_path`, shared with the puller).  Every
import machine and the branch puller reach the same store (a shared
directory), so any machine can continue any import.

Inside a target:

``refs/heads/*``, ``refs/tags/*``, ``HEAD``
    what the import has *published*: only ever changed by `publish`, in
    one transaction, after a converter finished a consistent step;
``refs/codeimport/staging/heads/*``, ``.../tags/*``
    where converters write while they work (`STAGING_PREFIX`);
``codeimport/``
    the import's own state (marks, last revision, id maps): it travels
    with the target, so losing a machine loses nothing;
``codeimport/published.json``
    the manifest of the last publication: every published ref and its
    tip, and HEAD.  The puller mirrors exactly this.
``codeimport/lock``
    held while an import runs, so that a reclaimed job's worker that is
    somehow still running cannot write beside its successor.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import tempfile
import time

from codeimport.errors import CodeImportError
from codeimport.targetstore import MANIFEST
from codeimport.targetstore import PUBLISHED_PREFIXES
from codeimport.targetstore import STATE_DIRECTORY
from codeimport.targetstore import UnsafeTargetName
from codeimport.targetstore import read_manifest
from codeimport.targetstore import target_path

__all__ = [
    "MANIFEST",
    "PUBLISHED_PREFIXES",
    "STAGING_PREFIX",
    "TargetBusy",
    "TargetRepository",
    "UnsafeTargetName",
    "read_manifest",
    "target_path",
]

STAGING_PREFIX = "refs/codeimport/staging/"
#: How long to wait for the target's lock before calling it busy.  A
#: worker killed while it forks a program leaves the lock with the child
#: until that child reaches exec; the next worker waits that moment out.
LOCK_WAIT = 5.0


class TargetBusy(CodeImportError):
    """Another worker is writing this target right now."""


def _git(path: str, *args: str, input: bytes | None = None) -> bytes:
    """Run git on the target itself (trusted: we made it)."""
    return subprocess.run(
        ["git", f"--git-dir={path}", "-c", "core.hooksPath=/dev/null",
         *args],
        input=input,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=True,
        env={
            "PATH": os.environ.get("PATH", os.defpath),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "HOME": os.devnull,
        },
    ).stdout


class TargetRepository:
    """One import's target repository in the store.

    Use as a context manager: entering creates the repository if needed
    and takes its lock; leaving releases it.
    """

    def __init__(self, store: str, unique_name: str):
        self.path = target_path(store, unique_name)
        self.state_dir = os.path.join(self.path, STATE_DIRECTORY)
        self._lock = None

    def __enter__(self) -> TargetRepository:
        if not os.path.isfile(os.path.join(self.path, "HEAD")):
            # Made here rather than by git, so that a name the file
            # system cannot hold is an OSError saying so.
            os.makedirs(self.path, exist_ok=True)
            subprocess.run(
                ["git", "init", "--quiet", "--bare", "--", self.path],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={"PATH": os.environ.get("PATH", os.defpath),
                     "GIT_CONFIG_NOSYSTEM": "1",
                     "GIT_CONFIG_GLOBAL": os.devnull,
                     "HOME": os.devnull},
            )
        os.makedirs(self.state_dir, exist_ok=True)
        lock = open(os.path.join(self.state_dir, "lock"), "a")
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    lock.close()
                    raise TargetBusy(
                        "another worker is importing into this target"
                    ) from None
                time.sleep(0.05)
        self._lock = lock
        return self

    def __exit__(self, *exc_info) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def git(self, *args: str) -> str:
        """Run git on this target (trusted: we made it); its output."""
        return _git(self.path, *args).decode("utf-8", "surrogateescape")

    def statePath(self, name: str) -> str:
        """The path of state file `name`, kept with the target."""
        return os.path.join(self.state_dir, name)

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        """``{name: sha}`` of the refs under `prefix`."""
        output = _git(
            self.path, "for-each-ref", "--format=%(objectname) %(refname)",
            prefix,
        )
        refs = {}
        for line in output.decode("utf-8", "surrogateescape").splitlines():
            sha, name = line.split(" ", 1)
            refs[name] = sha
        return refs

    def stagedRefs(self) -> dict[str, str]:
        """The staged refs, named as they will be published."""
        return {
            "refs/" + name[len(STAGING_PREFIX):]: sha
            for name, sha in self.refs(STAGING_PREFIX).items()
        }

    def publishedRefs(self) -> dict[str, str]:
        """The published refs (branches and tags)."""
        refs = {}
        for prefix in PUBLISHED_PREFIXES:
            refs.update(self.refs(prefix))
        return refs

    def head(self) -> str | None:
        """The ref HEAD points at, or None."""
        try:
            return _git(self.path, "symbolic-ref", "-q", "HEAD").decode(
            ).strip() or None
        except subprocess.CalledProcessError:
            return None

    def publish(self, head: str | None = "refs/heads/master") -> dict:
        """Make the published refs equal to the staged ones, atomically.

        :param head: the published ref HEAD should point at, if it exists.
        :return: ``{"added": [...], "updated": [...], "deleted": [...],
            "head": ...}`` naming what changed; all empty when nothing did.
        """
        wanted = self.stagedRefs()
        current = self.publishedRefs()
        commands = []
        changes = {"added": [], "updated": [], "deleted": []}
        for name, sha in sorted(wanted.items()):
            old = current.get(name)
            if old == sha:
                continue
            if old is None:
                commands.append(f"create {name} {sha}")
                changes["added"].append(name)
            else:
                commands.append(f"update {name} {sha} {old}")
                changes["updated"].append(name)
        for name in sorted(current.keys() - wanted.keys()):
            commands.append(f"delete {name} {current[name]}")
            changes["deleted"].append(name)
        if commands:
            script = "start\n" + "\n".join(commands) + "\nprepare\ncommit\n"
            _git(self.path, "update-ref", "--stdin",
                 input=script.encode("utf-8", "surrogateescape"))
        new_head = head if head in wanted else None
        if new_head is None and wanted:
            branches = sorted(n for n in wanted if n.startswith("refs/heads/"))
            new_head = branches[0] if branches else None
        changes["head"] = None
        if new_head is not None and new_head != self.head():
            _git(self.path, "symbolic-ref", "HEAD", new_head)
            changes["head"] = new_head
        self._writeManifest(wanted, new_head or self.head())
        return changes

    def _writeManifest(self, refs: dict[str, str], head: str | None) -> None:
        data = json.dumps({"refs": refs, "head": head}, indent=1,
                          sort_keys=True)
        fd, temporary = tempfile.mkstemp(dir=self.state_dir,
                                         prefix=".published-")
        with os.fdopen(fd, "w") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, os.path.join(self.state_dir, MANIFEST))
