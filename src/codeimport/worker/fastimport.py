"""``git fast-import`` as a converter's writer, run through `run_tool`.

A converter writes commands to `FastImport.write` and asks `FastImport.ls`
what a path holds in an earlier commit (copies of whole directories cost
one question instead of re-reading their files).  The answers come back
on fast-import's standard output (``--cat-blob-fd=1``).  Marks are read
from and written to files the caller names, so a caller can keep them
with its state and replace them only after fast-import succeeded.
"""

from __future__ import annotations

import contextlib
import os
import threading

from codeimport.worker.conversion import ConversionError
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import run_tool

__all__ = ["FastImport", "quote_path", "read_marks"]


def quote_path(path: str) -> bytes:
    """`path` as a quoted fast-import path (bytes a converter decoded
    with ``surrogateescape`` come back as they were)."""
    raw = path.encode("utf-8", "surrogateescape")
    raw = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(
        b"\n", b"\\n")
    return b'"' + raw + b'"'


class FastImport:
    """``git fast-import`` writing into the target, run with `run_tool`.

    Its answers to ``ls`` come back on its standard output.
    """

    def __init__(self, target, env, marks: str | None, export: str):
        """:param marks: marks of earlier runs to read (if the file
            exists), or None; :param export: where to write the marks."""
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        self._fds = [stdin_r, stdout_w]
        self.out = os.fdopen(stdin_w, "wb", buffering=1 << 20)
        self._answers = os.fdopen(stdout_r, "rb")
        self.error = None
        argv = ["git", f"--git-dir={target.path}", "fast-import", "--quiet",
                "--force", "--done", "--date-format=raw",
                *([] if marks is None
                  else [f"--import-marks-if-exists={marks}"]),
                f"--export-marks={export}", "--cat-blob-fd=1"]

        def run():
            try:
                run_tool(argv, env=env, stdin=stdin_r, stdout=stdout_w)
            except BaseException as error:  # reported by finish()
                self.error = error
            finally:
                # No more answers: a reader waiting for one sees the end.
                os.close(stdout_w)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        try:
            self.out.write(data)
        except BrokenPipeError:
            self.finish()

    def ls(self, dataref: str, path: str) -> tuple[str, str] | None:
        """``(mode, sha)`` of `path` in commit `dataref`, or None."""
        self.write(b"ls %s %s\n" % (dataref.encode(), quote_path(path)))
        try:
            self.out.flush()
        except BrokenPipeError:
            self.finish()
        answer = self._answers.readline()
        if not answer:
            self.finish()
            raise ConversionError("git fast-import stopped answering")
        if answer.startswith(b"missing "):
            return None
        mode, _kind, sha = answer.split(b"\t", 1)[0].split(b" ")
        return mode.decode(), sha.decode()

    def finish(self) -> None:
        """Close the stream and wait; raise if fast-import failed."""
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.out.write(b"done\n")
            self.out.close()
        self._thread.join()
        os.close(self._fds[0])
        self._answers.close()
        if self.error is not None:
            error, self.error = self.error, None
            if isinstance(error, ToolFailed):
                raise ConversionError(
                    f"Writing the Git history failed: {error}") from None
            raise error

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.out.close()
        self._thread.join()
        for fd in self._fds[:1]:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(Exception):
            self._answers.close()


def read_marks(path: str) -> dict[int, str]:
    shas = {}
    with contextlib.suppress(FileNotFoundError):
        with open(path) as stream:
            for line in stream:
                mark, sha = line.split()
                shas[int(mark[1:])] = sha
    return shas
