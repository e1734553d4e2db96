"""The SQLSTATE of a database error, as Storm raises it."""

from __future__ import annotations

__all__ = ["sqlstate"]


def sqlstate(error: BaseException | None) -> str | None:
    """Return `error`'s five-character SQLSTATE, or None.

    Storm re-raises psycopg2's errors as combined types of its own, on
    which ``pgcode`` is not the code but an unbound copy of psycopg2's
    accessor; the code is on the psycopg2 error they were raised from,
    so the chain of causes is followed until a real code turns up.
    """
    while error is not None:
        code = getattr(error, "pgcode", None)
        if isinstance(code, str) and code:
            return code
        error = error.__cause__ or error.__context__
    return None
