"""Where a Subversion history's branches and tags are, and their names.

`Layout` maps repository paths to branch and tag roots (the standard
``trunk``/``branches``/``tags`` layout, or one directory as ``master``);
`ref_component` makes Subversion names valid Git ref names;
`parse_mergeinfo` reads ``svn:mergeinfo`` for merge parents.
"""

from __future__ import annotations

import re

__all__ = ["Layout", "covered", "parse_mergeinfo", "ref_component"]


def parse_mergeinfo(text: bytes | str | None) -> dict[str, list]:
    """``{source path: [(first, last), ...]}`` from an svn:mergeinfo value.

    Non-inheritable ranges (``5-7*``) count like the others; malformed
    lines are ignored (merge parents are a bonus, never a failure).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    result = {}
    for line in (text or "").splitlines():
        path, colon, ranges = line.rpartition(":")
        if not colon or not path:
            continue
        spans = []
        for item in ranges.split(","):
            match = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\*?\s*", item)
            if match is None:
                spans = None
                break
            first = int(match.group(1))
            spans.append((first, int(match.group(2) or first)))
        if spans:
            result["/" + path.strip().strip("/")] = spans
    return result


def covered(rev: int, spans) -> bool:
    return any(first <= rev <= last for first, last in spans)


_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def ref_component(name: str) -> str:
    """`name` made into a valid Git ref name (same input, same output)."""
    name = _BAD_REF_CHARS.sub("_", name).replace("..", "__")
    name = name.replace("@{", "@_")
    parts = []
    for part in name.split("/"):
        if part.startswith("."):
            part = "_" + part[1:]
        if part.endswith(".lock"):
            part = part[:-5] + "_lock"
        parts.append(part or "_")
    name = "/".join(parts).rstrip(".")
    return name if name and name != "@" else "_"


class Layout:
    """Which repository paths are branch and tag roots."""

    def __init__(self, prefix: str, standard: bool):
        self.prefix = prefix
        self.standard = standard

    def split(self, path: str) -> tuple[str, str] | None:
        """``(root, path inside it)`` for a repository path, or None."""
        path = "/" + path.strip("/") if path.strip("/") else ""
        if not self.standard:
            if path == self.prefix:
                return self.prefix, ""
            if path.startswith(self.prefix + "/"):
                return self.prefix, path[len(self.prefix) + 1:]
            return None
        if not path.startswith(self.prefix + "/"):
            return None
        rest = path[len(self.prefix) + 1:].split("/")
        if rest[0] == "trunk":
            return self.prefix + "/trunk", "/".join(rest[1:])
        if rest[0] in ("branches", "tags") and len(rest) > 1:
            return (f"{self.prefix}/{rest[0]}/{rest[1]}",
                    "/".join(rest[2:]))
        return None

    def containers(self) -> list[str]:
        if not self.standard:
            return []
        return [self.prefix + "/branches", self.prefix + "/tags"]

    def isTag(self, root: str) -> bool:
        return self.standard and root.startswith(self.prefix + "/tags/")

    def ref(self, root: str) -> str:
        if not self.standard or root == self.prefix + "/trunk":
            return "refs/heads/master"
        kind, name = root[len(self.prefix) + 1:].split("/", 1)
        name = ref_component(name)
        return f"refs/tags/{name}" if kind == "tags" else f"refs/heads/{name}"
