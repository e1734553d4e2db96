"""The target store's layout, as import workers and the puller both see it.

The store is a directory every import machine and the branch puller
reach.  Each import's target is a bare Git repository at
``<store>/<unique name without the leading "~">`` (`target_path`); the
import's state lives in its ``codeimport/`` directory, and
``codeimport/published.json`` (`read_manifest`) names exactly what the
last successful run published: the puller mirrors that and nothing else.
Writing targets is `codeimport.worker.target.TargetRepository`'s job.
"""

from __future__ import annotations

import json
import os
import tempfile

from codeimport.errors import CodeImportError

__all__ = [
    "MANIFEST",
    "PUBLISHED_PREFIXES",
    "STATE_DIRECTORY",
    "StoreUnusable",
    "UnsafeTargetName",
    "check_store",
    "read_manifest",
    "target_path",
]

#: The ref namespaces an import publishes.
PUBLISHED_PREFIXES = ("refs/heads/", "refs/tags/")
#: The import's own directory inside its target.
STATE_DIRECTORY = "codeimport"
#: The manifest of the last publication, inside `STATE_DIRECTORY`.
MANIFEST = "published.json"


class UnsafeTargetName(CodeImportError, ValueError):
    """A target name would put the repository outside the target store."""

    def __init__(self, unique_name: str):
        super().__init__(
            f"Refusing target {unique_name!r}: it does not name a "
            "directory inside the target store."
        )
        self.unique_name = unique_name


class StoreUnusable(CodeImportError):
    """A target (or mirror) store directory cannot be used."""


def check_store(store: str, what: str = "target store", *,
                write: bool = True) -> None:
    """Check that `store` (a `what`) is a directory this process can use.

    A program that reads or writes a store checks it once at start: a
    typo or a missing mount then stops it with one line, instead of every
    import failing (or, had it created the directory, quietly starting
    a second store beside the fleet's).  With `write`, a file is made and
    removed there, which catches read-only mounts as well as permissions.

    :raises StoreUnusable: saying what is wrong, in one line.
    """
    if not os.path.isdir(store):
        problem = ("is not a directory" if os.path.exists(store)
                   else "does not exist")
        raise StoreUnusable(f"The {what} {store} {problem}.")
    if not os.access(store, os.R_OK | os.X_OK):
        raise StoreUnusable(f"The {what} {store} is not readable.")
    if write:
        try:
            descriptor, probe = tempfile.mkstemp(
                prefix=".codeimport-check-", dir=store)
            os.close(descriptor)
            os.unlink(probe)
        except OSError as error:
            raise StoreUnusable(
                f"The {what} {store} is not writable: "
                f"{error.strerror or error}.") from None


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


def read_manifest(path: str) -> dict | None:
    """The last publication of the target at `path`, or None if none.

    ``{"refs": {name: sha}, "head": name or None}``.
    """
    try:
        with open(os.path.join(path, STATE_DIRECTORY, MANIFEST)) as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
