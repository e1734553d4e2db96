"""CVS imports: our importer against cvs-fast-export and git cvsimport.

A synthetic module (`codeimport.testing.vcs.cvs.synthetic_history`:
``revisions`` changesets of 1-3 files among 200 in 20 directories, a
branch with commits, a tag every 250 changesets) is written as ``,v``
files and served by a pserver on 127.0.0.1.

Rows (the ``imports`` contract in the team notes):

``codeimport``
    ``codeimport importworker`` over pserver, a new process each run as
    the monitor starts it (interpreter start, fidelity check and
    publication included): a full import, ``new`` new changesets,
    nothing new.
``cvs-fast-export (local ,v)``
    the fastest reference, given what it needs and a remote import does
    not have: the ``,v`` files on the local disk.  ``cvs-fast-export |
    git fast-import``; incremental runs use ``-i <last commit time>``
    with every branch primed (its ``-i`` bug), and re-read every master.
``git cvsimport (pserver, N changesets)``
    the reference that reads a pserver like we do; at about 7
    changesets/s it gets a smaller module of ``SMALL`` changesets (its
    rate is what compares).

``same_trees`` says whether master's tree equals ours (cvs-fast-export's
own ``.gitignore`` left out) and master has as many commits.  Peak RSS
is the largest process of a run.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys

from codeimport.testing.vcs.cvs import CVSServer
from codeimport.testing.vcs.cvs import make_root
from codeimport.testing.vcs.cvs import remove_root
from codeimport.testing.vcs.cvs import synthetic_history

__all__ = ["run"]

TARGET = "~bench/cvs/main"
MODULE = "bench"
SMALL = 200


def _timed(argv, cwd=None, env=None):
    """Run `argv` in a fresh measuring process: (seconds, peak RSS MB)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "status = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,"
        " stderr=subprocess.PIPE)\n"
        "took = time.perf_counter() - start\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stderr.buffer.write(status.stderr[-2000:])\n"
        "print(status.returncode, took, rss / 1024)\n")
    result = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd,
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, check=True)
    code, took, rss = result.stdout.split()
    if int(code) not in (0, 2, 3):
        raise RuntimeError(f"{argv[0]} failed ({code}): "
                           f"{result.stderr.decode(errors='replace')}")
    return float(took), float(rss)


def _shell(script, cwd=None, env=None):
    return _timed(["sh", "-ec", script], cwd=cwd, env=env)


def _git(git_dir, *args):
    return subprocess.run(["git", f"--git-dir={git_dir}", *args],
                          stdout=subprocess.PIPE,
                          check=True).stdout.decode()


def _master(git_dir: str) -> tuple[frozenset, int]:
    files = frozenset(
        line for line in _git(git_dir, "ls-tree", "-r", "master").splitlines()
        if not line.endswith("\t.gitignore"))
    return files, int(_git(git_dir, "rev-list", "--count", "master"))


def _extend(history, count: int, start_index: int) -> None:
    last = max(r.date for f in history.files.values()
               for r in f.revisions.values())
    for number in range(count):
        path = f"dir{number % 20:02d}/file{number:04d}.txt"
        history.commit({path: b"new %d\n" % (start_index + number)},
                       "newcomer", f"New change {number}",
                       last + datetime.timedelta(minutes=7 * (number + 1)))


def run(work_dir: str, revisions: int = 2000, new: int = 10) -> list[dict]:
    """Measure ours and the references on the same history."""
    root = make_root()
    server = CVSServer(root)
    try:
        return _measure(work_dir, root, server, revisions, new)
    finally:
        server.stop()
        remove_root(root)


def _measure(work_dir, root, server, revisions, new):
    history = synthetic_history(MODULE, revisions)
    history.write(root)
    store = os.path.join(work_dir, "cvs-store")
    ours = [sys.executable, "-m", "codeimport.cli", "importworker",
            "--target-store", store, "--", TARGET, "cvs", "git",
            server.cvsroot(), "--cvs-module", MODULE]
    fast = os.path.join(work_dir, "cvs-fast-export.git")
    subprocess.run(["git", "init", "-q", "--bare", fast], check=True)
    masters = os.path.join(root, MODULE)
    fast_full = (f"find {masters} -name '*,v' | cvs-fast-export "
                 f"| git --git-dir={fast} fast-import --quiet")
    fast_incremental = (
        f"since=$(git --git-dir={fast} log -1 --format=%ct --all); "
        f"{{ git --git-dir={fast} for-each-ref "
        "--format='reset %(refname)%0afrom %(objectname)%0a' refs/heads; "
        f"find {masters} -name '*,v' | cvs-fast-export -i $since; }} "
        f"| git --git-dir={fast} fast-import --quiet")

    ours_full = _timed(ours)
    fast_full_run = _shell(fast_full)
    target = os.path.join(store, TARGET.lstrip("~"))
    same = _master(target) == _master(fast)

    _extend(history, new, revisions)
    history.write(root)
    ours_incremental = _timed(ours)
    fast_incremental_run = _shell(fast_incremental)
    ours_nochange = _timed(ours)
    fast_nochange = _shell(fast_incremental)
    same_after = _master(target) == _master(fast)

    rows = [
        _row("codeimport", revisions, ours_full, ours_incremental,
             ours_nochange, same=True),
        _row("cvs-fast-export (local ,v)", revisions, fast_full_run,
             fast_incremental_run, fast_nochange, same=same and same_after),
    ]
    rows.append(_cvsimport(work_dir, root, server, min(SMALL, revisions),
                           new, store))
    return rows


def _cvsimport(work_dir, root, server, revisions, new, store):
    """git cvsimport over pserver, and ours on the same smaller module."""
    module = "small"
    history = synthetic_history(module, revisions)
    history.write(root)
    home = os.path.join(work_dir, "cvsimport-home")
    os.makedirs(home)
    with open(os.path.join(home, ".cvspass"), "w") as stream:
        stream.write(f"/1 {server.cvsroot()} A\n")
    env = dict(os.environ, HOME=home)
    tree = os.path.join(work_dir, "cvsimport")
    argv = ["git", "cvsimport", "-d", server.cvsroot(), "-C", tree,
            "-r", "cvs", "-k", "-a", module]
    if shutil.which("cvsps") is None:
        return {"kind": "cvs", "tool": "git cvsimport (not installed)",
                "full_s": None, "full_rev_per_s": None,
                "incremental_s": None, "nochange_s": None,
                "peak_rss_mb": None}
    full = _timed(argv, env=env)
    _extend(history, new, revisions)
    history.write(root)
    incremental = _timed(argv, env=env)
    nochange = _timed(argv, env=env)
    small_ours = [sys.executable, "-m", "codeimport.cli", "importworker",
                  "--target-store", store, "--", "~bench/cvs/small", "cvs",
                  "git", server.cvsroot(), "--cvs-module", module]
    _timed(small_ours)
    same = _master(os.path.join(store, "bench/cvs/small")) == _master(
        os.path.join(tree, ".git"))
    return _row(f"git cvsimport (pserver, {revisions} changesets)",
                revisions, full, incremental, nochange, same=same)


def _row(tool, revisions, full, incremental, nochange, same):
    return {
        "kind": "cvs",
        "tool": tool,
        "revisions": revisions,
        "full_s": round(full[0], 2),
        "full_rev_per_s": round(revisions / full[0], 1),
        "incremental_s": round(incremental[0], 2),
        "nochange_s": round(nochange[0], 2),
        "peak_rss_mb": round(max(full[1], incremental[1], nochange[1]), 1),
        "same_trees": same,
    }


if __name__ == "__main__":
    import json
    import tempfile

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as scratch:
        for row in run(scratch, revisions=count):
            print(json.dumps(row))
