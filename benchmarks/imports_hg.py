"""Mercurial import benchmark: our importer against git-remote-hg.

``run(work_dir, revisions=2000, new=10)`` builds a history of about
`revisions` changesets with Mercurial's own API
(`codeimport.testing.vcs.hg.generate_history`), serves it with ``hg
serve`` on 127.0.0.1 and measures, for our importer (``codeimport
importworker``, the program import machines run, with the ``default``
access policy over http) and for the reference ``git clone --mirror
hg::URL`` / ``git fetch`` with git-remote-hg, on the same history in
the same run: a full import, an incremental run after `new` more
changesets, and a run with nothing new.  Peak RSS is the largest
process of each (the worker, its exporter, git fast-import; git,
git-remote-hg).

``python -m benchmarks.imports_hg [WORK_DIR]`` prints the rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from codeimport.testing.vcs.hg import HgServer
from codeimport.testing.vcs.hg import generate_history

# Runs a command and prints its largest process's peak RSS (KiB):
# RUSAGE_CHILDREN covers every descendant once it has been waited for.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,"
    " stderr=subprocess.PIPE).returncode\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def measure(argv, env=None, cwd=None) -> tuple[float, float, int]:
    """``(seconds, peak RSS in MB, exit status)`` of running `argv`."""
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], env=env, cwd=cwd,
        check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - started
    code, kib = output.split()
    return seconds, int(kib) / 1024, int(code)


def _row(tool, revisions, full, incremental, nochange):
    return {
        "kind": "hg", "tool": tool,
        "full_s": round(full[0], 3),
        "full_rev_per_s": round(revisions / full[0], 1),
        "incremental_s": round(incremental[0], 3),
        "nochange_s": round(nochange[0], 3),
        "peak_rss_mb": round(max(full[1], incremental[1], nochange[1]), 1),
    }


def run(work_dir: str, revisions: int = 2000, new: int = 10) -> list[dict]:
    root = os.path.join(work_dir, "hg-sources")
    source = os.path.join(root, "big")
    generate_history(source, revisions).close()
    total = int(subprocess.run(
        [sys.executable, "-m", "mercurial", "log", "-R", source, "-r",
         "tip", "-T", "{rev}"], check=True, capture_output=True,
        env=dict(os.environ, HGRCPATH=""), text=True).stdout) + 1
    env = dict(os.environ, HGRCPATH="",
               PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", os.defpath))
    store = os.path.join(work_dir, "hg-store")
    reference = os.path.join(work_dir, "hg-reference.git")
    with HgServer(root) as server:
        url = server.urlFor("big")
        ours = [sys.executable, "-m", "codeimport.cli", "importworker",
                "--target-store", store, "--", "~bench/hg/import", "hg",
                "git", url]
        theirs_full = ["git", "clone", "-q", "--mirror", "hg::" + url,
                       reference]
        theirs_fetch = ["git", f"--git-dir={reference}", "fetch", "-q"]
        results = {"ours": [], "git-remote-hg": []}
        results["ours"].append(_checked(measure(ours, env), 0))
        results["git-remote-hg"].append(_checked(measure(theirs_full, env), 0))
        generate_history(source, new).close()
        results["ours"].append(_checked(measure(ours, env), 0))
        results["git-remote-hg"].append(
            _checked(measure(theirs_fetch, env), 0))
        results["ours"].append(_checked(measure(ours, env), 2))
        results["git-remote-hg"].append(
            _checked(measure(theirs_fetch, env), 0))
    same = _same_history(store + "/bench/hg/import", reference)
    rows = [
        _row("codeimport", total, *results["ours"]),
        _row("git-remote-hg", total, *results["git-remote-hg"]),
    ]
    rows[0]["same_history_as_reference"] = same
    rows[0]["ratio_to_reference"] = round(
        rows[0]["full_rev_per_s"] / rows[1]["full_rev_per_s"], 2)
    return rows


def _checked(result, expected_code):
    seconds, peak, code = result
    if code != expected_code:
        raise RuntimeError(f"exit status {code}, expected {expected_code}")
    return seconds, peak


def _same_history(ours: str, theirs: str) -> bool:
    """Whether every branch and tag git-remote-hg made is in our target
    with the same commit id (it drops closed heads, so not the reverse;
    its ``branches/default`` is our ``master``)."""
    def refs(git_dir):
        out = subprocess.run(
            ["git", f"--git-dir={git_dir}", "for-each-ref",
             "--format=%(refname) %(objectname)", "refs/heads",
             "refs/tags"], check=True, capture_output=True,
            text=True).stdout
        return dict(line.split() for line in out.splitlines())

    mine, reference = refs(ours), refs(theirs)
    reference.pop("refs/heads/branches/default", None)
    return all(mine.get(name) == sha for name, sha in reference.items())


if __name__ == "__main__":
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(
        prefix="bench-hg-")
    for row in run(directory):
        print(json.dumps(row, ensure_ascii=False))
