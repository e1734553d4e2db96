"""The import worker's exit codes (kept apart from `codeimport.enums`, so
that the worker starts without loading lazr.enum and zope.schema)."""

from __future__ import annotations

__all__ = ["WorkerExitCode"]


class WorkerExitCode:
    """Exit codes of the import worker, and the result each stands for."""

    SUCCESS = 0
    FAILURE = 1
    SUCCESS_NOCHANGE = 2
    SUCCESS_PARTIAL = 3
    FAILURE_INVALID = 4
    FAILURE_UNSUPPORTED_FEATURE = 5
    FAILURE_FORBIDDEN = 6
    FAILURE_REMOTE_BROKEN = 7
