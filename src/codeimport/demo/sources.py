"""Source repositories made on the fly for the demo, and ref checks."""

from __future__ import annotations

import os
import subprocess

from dulwich.repo import Repo

__all__ = ["add_commit", "make_broken_source", "make_source", "refs_of"]

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Demo", "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Demo", "GIT_COMMITTER_EMAIL": "demo@example.com",
}


def _git(path: str, *args: str) -> None:
    subprocess.run(
        ["git", "-C", path, *args], check=True, capture_output=True,
        env={**os.environ, **_GIT_ENV},
    )


def add_commit(path: str, message: str) -> None:
    """Commit a new file to the repository at `path`."""
    name = message.lower().replace(" ", "-") + ".txt"
    with open(os.path.join(path, name), "w") as stream:
        stream.write(message + "\n")
    _git(path, "add", name)
    _git(path, "commit", "-q", "-m", message)


def make_source(path: str, commits: int, branches=(), tags=()) -> str:
    """Create a Git repository with some history; return its file URL."""
    os.makedirs(path)
    _git(path, "init", "-q", "-b", "main")
    for number in range(1, commits + 1):
        add_commit(path, f"Change {number}")
    for branch in branches:
        _git(path, "branch", branch)
    for tag in tags:
        _git(path, "tag", tag)
    return "file://" + path


def make_broken_source(path: str) -> str:
    """Create a directory that looks like a source but is no repository."""
    os.makedirs(path)
    with open(os.path.join(path, "README"), "w") as stream:
        stream.write("not a repository\n")
    return "file://" + path


def refs_of(path: str) -> dict:
    """Return the branch and tag refs of the repository at `path`."""
    with Repo(path) as repo:
        return {
            name: sha for name, sha in repo.get_refs().items()
            if name.startswith((b"refs/heads/", b"refs/tags/"))
        }
