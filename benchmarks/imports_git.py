"""Git imports against ``git clone --mirror`` (the `imports` section).

The source is a history made by ``git fast-import``
(`codeimport.testing.vcs.git.make_history`), served by ``git daemon`` on
127.0.0.1.  Our importer (``codeimport importworker``, which fetches into
the staging refs and publishes) and the reference (``git clone --mirror``
then ``git fetch``) each do a full import, an incremental run after
`new` more commits, and a run with nothing new.
"""

from __future__ import annotations

import os

from benchmarks.imports import OURS
from benchmarks.imports import importer_command
from benchmarks.imports import measure
from codeimport.testing.vcs.git import GitDaemon
from codeimport.testing.vcs.git import add_commits
from codeimport.testing.vcs.git import git
from codeimport.testing.vcs.git import make_history
from codeimport.worker.tools import tool_environment

__all__ = ["run"]


def run(work_dir: str, revisions: int = 2000, new: int = 10) -> list[dict]:
    daemon = GitDaemon(os.path.join(work_dir, "served")).start()
    try:
        source = make_history(daemon.path("bench.git"), commits=revisions)
        total = int(git("--git-dir", source, "rev-list", "--count",
                        "--all").strip())
        url = daemon.url("bench.git")
        home = os.path.join(work_dir, "home")
        os.makedirs(home)
        env = tool_environment(home)
        env["PATH"] = os.environ.get("PATH", os.defpath)
        ours = importer_command(os.path.join(work_dir, "store"),
                                "~bench/git/import", "git", url)
        mirror = os.path.join(work_dir, "mirror.git")
        clone = ["git", "clone", "--quiet", "--mirror", "--", url, mirror]
        fetch = ["git", "--git-dir", mirror, "fetch", "--quiet", "--prune"]
        results = {OURS: {}, "git clone --mirror": {}}
        results[OURS]["full"] = measure(ours, env=dict(os.environ))
        results["git clone --mirror"]["full"] = measure(clone, env=env)
        add_commits(source, new)
        results[OURS]["incremental"] = measure(ours, env=dict(os.environ))
        results["git clone --mirror"]["incremental"] = measure(fetch,
                                                               env=env)
        results[OURS]["nochange"] = measure(ours, env=dict(os.environ),
                                            ok=(2,))
        results["git clone --mirror"]["nochange"] = measure(fetch, env=env)
    finally:
        daemon.close()
    rows = []
    for tool, figures in results.items():
        full_s = figures["full"][0]
        rows.append({
            "kind": "git",
            "tool": tool,
            "full_s": full_s,
            "full_rev_per_s": total / full_s,
            "incremental_s": figures["incremental"][0],
            "nochange_s": figures["nochange"][0],
            "peak_rss_mb": max(value[1] for value in figures.values()),
        })
    return rows
