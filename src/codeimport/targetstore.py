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

from codeimport.errors import CodeImportError

__all__ = [
    "MANIFEST",
    "PUBLISHED_PREFIXES",
    "STATE_DIRECTORY",
    "UnsafeTargetName",
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
