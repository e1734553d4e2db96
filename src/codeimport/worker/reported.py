"""Whether a run changed what the scheduler last heard of a target.

The scheduler asks for a mirror when a run changed the target's
published refs (`codeimport.model.rules.requests_mirror`).  "Changed"
is measured against the last *reported* publication, not against the
start of the run: each target keeps, in ``codeimport/reported``, the
digest of the manifest (``codeimport/published.json``) as of the last
result the scheduler accepted.  So when a run's result is lost (the
monitor died after its worker published), the next run, on any machine
of the shared store, still finds the target changed, even if it imports
nothing new itself (SUCCESS_NOCHANGE), and the mirror is requested.  A
target without the file (made before it existed) is compared with the
manifest at the start of the run.

A late or repeated marker write can only make a later run see a change
that was already mirrored, which costs one extra mirror, never a missed
one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile

from codeimport.targetstore import MANIFEST
from codeimport.targetstore import STATE_DIRECTORY

__all__ = ["REPORTED", "manifest_digest", "mark_reported", "target_changed"]

log = logging.getLogger("codeimport.monitor")

#: The digest of the manifest the scheduler last heard of, in the
#: target's state directory.
REPORTED = "reported"


def manifest_digest(target: str | None) -> str | None:
    """The SHA-256 of the target's manifest, or None if it has none."""
    if target is None:
        return None
    try:
        with open(os.path.join(target, STATE_DIRECTORY, MANIFEST),
                  "rb") as stream:
            return hashlib.sha256(stream.read()).hexdigest()
    except OSError:
        return None


def _last_reported(target: str) -> str | None:
    try:
        with open(os.path.join(target, STATE_DIRECTORY, REPORTED)) as stream:
            return stream.read().strip() or None
    except OSError:
        return None


def target_changed(target: str | None,
                   before: str | None) -> tuple[bool | None, str | None]:
    """Whether the target's published refs changed since the last report
    (or, without a record of one, since `before`, the digest at the
    run's start), and the manifest's digest now.

    :return: ``(None, None)`` when the target is not known here (the
        scheduler then decides by the status, as for older machines).
    """
    if target is None:
        return None, None
    digest = manifest_digest(target)
    baseline = _last_reported(target) or before
    return digest is not None and digest != baseline, digest


def mark_reported(target: str | None, digest: str | None) -> None:
    """Record that the scheduler has heard of the publication `digest`."""
    if target is None or digest is None:
        return
    state = os.path.join(target, STATE_DIRECTORY)
    try:
        fd, temporary = tempfile.mkstemp(dir=state, prefix=".reported-")
        with os.fdopen(fd, "w") as stream:
            stream.write(digest + "\n")
        os.replace(temporary, os.path.join(state, REPORTED))
    except OSError as error:
        # Only costs an extra mirror request next time.
        log.warning("Cannot record the reported publication in %s: %s",
                    state, error)
