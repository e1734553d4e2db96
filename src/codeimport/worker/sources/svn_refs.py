"""The staged refs of a Subversion import, made from its state.

After each run every staged ref is set from the state in one
``git update-ref`` transaction: branches at their newest commits, tags as
annotated tag objects (written with ``git hash-object``, the same bytes
every time), deleted branches and tags as ``refs/tags/backups/NAME@REV``.
Deriving them all from the state makes a repeated run harmless.
"""

from __future__ import annotations

import os
import tempfile
import threading

from codeimport.worker.conversion import ConversionError
from codeimport.worker.sources.svn_history import SCRATCH_REF
from codeimport.worker.sources.svn_history import live_roots
from codeimport.worker.sources.svn_history import tip
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_tool

__all__ = ["stage_refs"]


def stage_refs(converter, layout, state: dict, shas: dict[int, str]):
    """Make `converter`'s staged refs what `state` says.

    :param shas: every fast-import mark's commit id.
    """
    wanted = {}
    for root in live_roots(state):
        if not layout.isTag(root):
            wanted[layout.ref(root)] = shas[tip(state, root)]
    tag_objects = {}
    for root, tag in state["tags"].items():
        name = layout.ref(root)
        tag_objects[name] = _tag_object(name.split("/", 2)[2], tag, shas)
    for ref, backup in state["backups"].items():
        if "tagger" in backup:
            tag_objects[ref] = _tag_object(backup["name"], backup, shas)
        else:
            wanted[ref] = shas[backup["mark"]]
    wanted.update(_write_tags(converter, tag_objects))
    staged = converter.target.stagedRefs()
    lines = [f"update {converter.stagingRef(ref)} {sha}"
             for ref, sha in sorted(wanted.items())
             if staged.get(ref) != sha]
    lines += [f"delete {converter.stagingRef(ref)}"
              for ref in sorted(staged.keys() - wanted.keys())]
    lines.append(f"delete {SCRATCH_REF}")
    _git(converter, ["update-ref", "--stdin"],
         ("\n".join(lines) + "\n").encode("utf-8"))


def _tag_object(name: str, tag: dict, shas) -> bytes:
    message = tag["message"].encode("utf-8", "surrogateescape")
    if not message.endswith(b"\n"):
        message += b"\n"
    return (b"object %s\ntype commit\ntag %s\ntagger %s\n\n%s" % (
        shas[tag["mark"]].encode(), name.encode("utf-8"),
        tag["tagger"].encode("utf-8"), message))


def _write_tags(converter, objects: dict[str, bytes]) -> dict[str, str]:
    """Write the tag objects; ``{ref: tag object id}``."""
    if not objects:
        return {}
    with tempfile.TemporaryDirectory(dir=converter.work_dir) as scratch:
        names = sorted(objects)
        paths = []
        for number, ref in enumerate(names):
            path = os.path.join(scratch, str(number))
            with open(path, "wb") as stream:
                stream.write(objects[ref])
            paths.append(path)
        output = _git(converter, ["hash-object", "-t", "tag", "-w",
                                  "--stdin-paths"],
                      ("\n".join(paths) + "\n").encode())
    return dict(zip(names, (sha.decode() for sha in output.split())))


def _git(converter, args, data: bytes) -> bytes:
    """Run git on the target with `data` as input; its output."""
    out_r, out_w = os.pipe()
    result = []
    with tempfile.TemporaryFile(dir=converter.work_dir) as stdin:
        stdin.write(data)
        stdin.seek(0)
        reader = threading.Thread(
            target=lambda: result.append(os.fdopen(out_r, "rb").read()))
        reader.start()
        try:
            run_tool(["git", f"--git-dir={converter.target.path}", *args],
                     env=converter.env, stdin=stdin.fileno(), stdout=out_w)
        except ToolFailed as error:
            raise ConversionError(
                f"Writing the Git refs failed: {error}") from None
        finally:
            os.close(out_w)
            reader.join()
    return result[0] if result else b""
