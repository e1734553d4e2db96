"""Refusals no retry can cure: the dispatcher stops on them.

A wrong credential (HTTP 401), one not bound to the scheduler endpoint
(403) or not allowed to act for the machine (fault 911), and a URL that
is not a scheduler's (404 ...) stay so however long one waits; the
dispatcher raises `SchedulerRefused` and ``codeimport dispatch`` exits 2
with one line (see `codeimport.worker.dispatcher`).
"""

from __future__ import annotations

from codeimport.errors import AccessDenied
from codeimport.wire.client import RemoteHTTPError

__all__ = ["SchedulerRefused", "refusal"]


class SchedulerRefused(Exception):
    """The scheduler refuses this dispatcher for good; the message says
    why, in one line."""


def refusal(error: BaseException) -> str | None:
    """Why `error`, answering a call to the scheduler, means that no
    retry can succeed; None for an error worth retrying."""
    if isinstance(error, AccessDenied):
        return f"the scheduler refused this machine's credential: {error}"
    if isinstance(error, RemoteHTTPError):
        return f"{error}: not a code-import scheduler URL"
    return None
