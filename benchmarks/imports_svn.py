"""Subversion imports: our importer against svn-all-fast-export.

A synthetic standard-layout history (``revisions`` revisions over 200
files in 20 directories, 1-3 files changed per revision, a branch every
250 revisions with commits on it, a tag every 400) is generated as a dump,
loaded with ``svnadmin load`` and served by ``svnserve`` on 127.0.0.1.

Rows (see the ``imports`` contract in the team notes):

``codeimport``
    ``codeimport importworker`` (a new process each run, as the monitor
    starts it: interpreter start, fidelity check and publication
    included): a full import, ``new`` new revisions, nothing new.
``svn-all-fast-export``
    the reference as it must run against a server: an ``svnrdump``
    mirror loaded with ``svnadmin load`` (it reads only local
    repositories), then ``svn-all-fast-export`` with its own marks;
    nothing new is ``svn info`` finding the mirror up to date.
``svn-all-fast-export (local)``
    its conversion alone, on the mirror already made: a floor no remote
    import can reach, shown for honesty.

``same_trees`` says whether every branch tip and tag has the same tree
in our target and the reference's.  Peak RSS is the largest process of a
run (the worker, git fast-import, svnadmin ...).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time

from codeimport.testing.vcs.svn import History
from codeimport.testing.vcs.svn import SvnServer
from codeimport.testing.vcs.svn import create_repository
from codeimport.testing.vcs.svn import fast_directory
from codeimport.testing.vcs.svn import load

__all__ = ["make_history", "run"]

TARGET = "~bench/svn/trunk"
RULES = """\
create repository proj
end repository

match /trunk/
  repository proj
  branch master
end match

match /branches/([^/]+)/
  repository proj
  branch \\1
end match

match /tags/([^/]+)/
  repository proj
  branch refs/tags/\\1
  annotated true
end match

match /
end match
"""


def make_history(revisions: int, seed: int = 2000) -> History:
    """The benchmark's history; `extend` adds revisions to it later."""
    history = History(uuid="b3c4d5e6-0000-4000-8000-00000000b3c4")
    history._bench = {"random": random.Random(seed), "branches": [],
                      "files": []}
    first = history.revision("alice", "layout").mkdir("trunk").mkdir(
        "branches").mkdir("tags")
    for d in range(20):
        first.mkdir(f"trunk/d{d}")
        for f in range(10):
            path = f"d{d}/f{f}.txt"
            first.add(f"trunk/{path}", f"{path} 0\n")
            history._bench["files"].append(path)
    extend(history, revisions - 1)
    return history


def extend(history: History, count: int) -> None:
    bench = history._bench
    rnd = bench["random"]
    for _ in range(count):
        number = history.youngest + 1
        if number % 250 == 0:
            history.revision("bob", f"branch b{number}").mkdir(
                f"branches/b{number}", copy=("trunk", number - 1))
            bench["branches"].append(f"branches/b{number}")
            continue
        if number % 400 == 0:
            history.revision("carol", f"tag v{number}").mkdir(
                f"tags/v{number}", copy=("trunk", number - 1))
            continue
        base = "trunk"
        if bench["branches"] and rnd.random() < 0.2:
            base = rnd.choice(bench["branches"])
        change = history.revision(f"user{rnd.randrange(8)}",
                                  f"change {number}\n\nin {base}")
        for path in rnd.sample(bench["files"], rnd.randint(1, 3)):
            change.change(f"{base}/{path}", f"{path} {number}\n" * 8)


def _timed(argv, cwd=None, env=None):
    """Run `argv` in a fresh measuring process: (seconds, peak RSS MB)."""
    probe = ("import resource, subprocess, sys, time\n"
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


def _shell(script, cwd=None):
    return _timed(["sh", "-ec", script], cwd=cwd)


def _trees(git_dir: str) -> dict[str, str]:
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "for-each-ref",
         "--format=%(refname)", "refs/heads", "refs/tags"],
        stdout=subprocess.PIPE, check=True).stdout.decode().split()
    trees = {}
    for ref in out:
        if ref.startswith("refs/tags/backups/"):
            continue
        trees[ref] = subprocess.run(
            ["git", f"--git-dir={git_dir}", "rev-parse", f"{ref}^{{tree}}"],
            stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    return trees


def run(work_dir: str, revisions: int = 2000, new: int = 10) -> list[dict]:
    """Measure both tools on the same history; one row each."""
    source_root = fast_directory("codeimport-bench-svn-")
    try:
        history = make_history(revisions)
        repo = os.path.join(source_root, "proj")
        create_repository(repo, history)
        with SvnServer(source_root) as server:
            return _measure(work_dir, server.url("proj"), repo, history,
                            new)
    finally:
        shutil.rmtree(source_root, ignore_errors=True)


def _measure(work_dir, url, repo, history, new):
    store = os.path.join(work_dir, "svn-store")
    ours = [sys.executable, "-m", "codeimport.cli", "importworker",
            "--target-store", store, "--", TARGET, "bzr-svn", "git", url]
    ref_dir = os.path.join(work_dir, "svn-reference")
    mirror = os.path.join(ref_dir, "mirror")
    os.makedirs(ref_dir)
    with open(os.path.join(ref_dir, "rules"), "w") as stream:
        stream.write(RULES)
    create_repository(mirror)
    convert = ("svn-all-fast-export --rules rules "
               "--identity-domain example.org proj-mirror >/dev/null 2>&1")
    os.symlink(mirror, os.path.join(ref_dir, "proj-mirror"))
    mirror_step = (
        f"from=$(( $(svnlook youngest mirror) + 1 )); "
        f"head=$(svn info --show-item revision {url}); "
        f"[ $from -gt $head ] && exit 0; "
        f"svnrdump dump -q --incremental -r $from:HEAD {url} "
        f"| svnadmin load -q --no-flush-to-disk mirror; ")

    full = [_timed(ours)]
    full.append(_shell(mirror_step + convert, cwd=ref_dir))
    # The reference's conversion alone, on a second copy of the mirror.
    local = os.path.join(work_dir, "svn-local")
    os.makedirs(local)
    shutil.copytree(mirror, os.path.join(local, "proj-mirror"),
                    symlinks=True)
    with open(os.path.join(local, "rules"), "w") as stream:
        stream.write(RULES)
    full.append(_shell(convert, cwd=local))
    same = _trees(os.path.join(store, TARGET.lstrip("~"))) == _trees(
        os.path.join(ref_dir, "proj"))

    extend(history, new)
    load(repo, history, start=history.youngest - new + 1)
    incremental = [_timed(ours), _shell(mirror_step + convert, cwd=ref_dir)]
    subprocess.run(["svnadmin", "load", "-q", "--no-flush-to-disk",
                    os.path.join(local, "proj-mirror")],
                   input=history.dump(history.youngest - new + 1),
                   check=True, stdout=subprocess.DEVNULL)
    incremental.append(_shell(convert, cwd=local))
    nochange = [_timed(ours), _shell(mirror_step + convert, cwd=ref_dir),
                _shell(convert, cwd=local)]
    same = same and _trees(os.path.join(store, TARGET.lstrip("~"))) == (
        _trees(os.path.join(ref_dir, "proj")))

    rows = []
    total = history.youngest - new
    for index, tool in enumerate(("codeimport", "svn-all-fast-export",
                                  "svn-all-fast-export (local)")):
        seconds, rss = full[index]
        rows.append({
            "kind": "svn",
            "tool": tool,
            "full_s": round(seconds, 3),
            "full_rev_per_s": round(total / seconds, 1),
            "incremental_s": round(incremental[index][0], 3),
            "nochange_s": round(nochange[index][0], 3),
            "peak_rss_mb": round(max(full[index][1], incremental[index][1],
                                     nochange[index][1]), 1),
            "same_trees": same,
        })
    return rows


def _main() -> None:
    import json
    import tempfile

    revisions = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(prefix="bench-svn-") as work_dir:
        started = time.perf_counter()
        for row in run(work_dir, revisions):
            print(json.dumps(row))
        print(f"# {time.perf_counter() - started:.1f} s in all",
              file=sys.stderr)


if __name__ == "__main__":
    _main()
