"""Giving a service's freed memory back to the system (glibc only).

A large XML-RPC call (a 30 MB job log) allocates several times its size
in strings and bytes.  CPython frees them afterwards, but glibc keeps
what it freed: in each worker thread's own arena, which ``malloc_trim``
does not shrink, and in holes of the main heap.  Measured on glibc 2.36
with four threads, six 20 MB calls left a service at twice its idle
size (README, "Services").  So a service process uses one arena
(`use_one_arena`, before its threads start; the GIL serialises most
allocation anyway) and trims after each large request (`trim`).
Elsewhere (musl, macOS) both do nothing but collect garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

__all__ = ["trim", "use_one_arena"]

_M_ARENA_MAX = -8  # glibc's <malloc.h>
_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            _LIBC = libc if hasattr(libc, "malloc_trim") else False
        except OSError:
            _LIBC = False
    return _LIBC


def use_one_arena() -> None:
    """Make every thread allocate from the main heap (call before the
    threads start)."""
    libc = _libc()
    if libc and hasattr(libc, "mallopt"):
        libc.mallopt(_M_ARENA_MAX, 1)


def trim() -> None:
    """Free what a large request left in reference cycles and hand the
    free pages back to the system."""
    gc.collect()
    libc = _libc()
    if libc:
        libc.malloc_trim(0)
