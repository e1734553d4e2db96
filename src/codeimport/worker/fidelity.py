"""The fidelity check: an imported branch tip has the source's own tree.

After a conversion and before publishing, the tree of each changed
branch tip is compared with what the source's own tool exports for that
branch (``svn export``, ``hg archive``, ``brz export``, ``cvs export``,
``git archive``).  The export is hashed with git into a scratch object
directory (the target gains no objects), so the comparison is one tree
id against another; only on a mismatch is the first differing path
looked for.

Cost: one export per checked branch.  To keep that cheap enough for
every run, at most `MAX_CHECKED` changed branches are checked per run,
the branch HEAD points at first, then the others in turn, chosen by the
run's own staged tips so that over successive runs every branch gets its
turn.  Tags are not checked: a tag names a commit some branch had.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from codeimport.worker.conversion import ConversionError

__all__ = ["FidelityMismatch", "MAX_CHECKED", "check", "tree_of_directory"]

MAX_CHECKED = 3


class FidelityMismatch(ConversionError):
    """An imported tree differs from the source's export."""


def _git_env(objects: str, alternate: str, index: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_OBJECT_DIRECTORY": objects,
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": alternate,
        "GIT_INDEX_FILE": index,
    }


def tree_of_directory(git_dir: str, directory: str, scratch: str) -> str:
    """The git tree id of `directory`'s content, as git would store it.

    Objects go to `scratch`, with `git_dir`'s objects as an alternate.
    """
    objects = os.path.join(scratch, "objects")
    os.makedirs(objects, exist_ok=True)
    env = _git_env(objects, os.path.join(git_dir, "objects"),
                   os.path.join(scratch, "index"))
    base = ["git", f"--git-dir={git_dir}", f"--work-tree={directory}",
            "-c", "core.autocrlf=false", "-c", "core.symlinks=true",
            "-c", "core.filemode=true"]
    subprocess.run(base + ["add", "--all", "--force", "--", "."],
                   env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, cwd=directory)
    return subprocess.run(
        base + ["write-tree"], env=env, check=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ).stdout.decode().strip()


def _first_difference(git_dir: str, scratch: str, ours: str,
                      theirs: str) -> str:
    env = _git_env(os.path.join(scratch, "objects"),
                   os.path.join(git_dir, "objects"),
                   os.path.join(scratch, "index"))
    output = subprocess.run(
        ["git", f"--git-dir={git_dir}", "diff-tree", "-r", "-z",
         "--name-only", "--no-renames", ours, theirs],
        env=env, check=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ).stdout
    paths = [p for p in output.split(b"\0") if p]
    return paths[0].decode("utf-8", "replace") if paths else "?"


def _choose(refs: list[str], head: str) -> list[str]:
    branches = sorted(r for r in refs if r.startswith("refs/heads/"))
    if head in branches:
        branches.remove(head)
        branches.insert(0, head)
    return branches[:MAX_CHECKED]


def check(converter, target, changed_refs: list[str]) -> list[str]:
    """Compare the staged tips of `changed_refs` with the source's exports.

    :return: the refs checked.
    :raises FidelityMismatch: naming the ref and the first differing path.
    """
    checked = []
    staged = target.stagedRefs()
    chosen = _choose([r for r in changed_refs if r in staged],
                     converter.head)
    scratches = {ref: tempfile.mkdtemp(prefix="codeimport-fidelity-")
                 for ref in chosen}
    try:
        exports = {}
        for ref, scratch in scratches.items():
            exports[ref] = os.path.join(scratch, "export")
            os.mkdir(exports[ref])
        exported = set(converter.exportTrees(exports))
        for ref in chosen:
            if ref not in exported:
                continue
            scratch = scratches[ref]
            theirs = tree_of_directory(target.path, exports[ref], scratch)
            ours = subprocess.run(
                ["git", f"--git-dir={target.path}", "rev-parse",
                 f"{staged[ref]}^{{tree}}"],
                check=True, stdout=subprocess.PIPE,
                env=_git_env(os.path.join(target.path, "objects"), "",
                             os.devnull),
            ).stdout.decode().strip()
            if ours != theirs:
                path = _first_difference(target.path, scratch, ours, theirs)
                raise FidelityMismatch(
                    f"Fidelity check failed: {ref} differs from the "
                    f"source's own export, first at {path!r}; nothing "
                    "was published."
                )
            checked.append(ref)
    finally:
        for scratch in scratches.values():
            shutil.rmtree(scratch, ignore_errors=True)
    if checked:
        converter.say("Checked against the source: " + ", ".join(checked))
    return checked
