"""Bazaar imports: our importer against the standalone tools, same run.

A synthetic branch of about `revisions` revisions (a trunk with a side
line merged every 250 revisions, 200 small files) is written with
Breezy's own API (`codeimport.testing.vcs.bzr.build_history`) and served
by ``brz serve`` on 127.0.0.1.  Each tool then makes a full import, an
incremental one after `new` more revisions, and one with nothing new:

* ``codeimport``: the import worker (``codeimport importworker``), as
  the monitor runs it;
* ``git-remote-bzr``: ``git fetch bzr::URL`` (ships with Breezy);
* ``brz fast-export``: ``brz fast-export --plain | git fast-import``.
  It has no working incremental mode (``--marks`` crashes), so only its
  full run is timed.

Peak RSS is the largest resident size of any process of the run (the
worker, its exporter, ``git fast-import``).  ``same_history`` says
whether the tool's master equals ours after the full run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from codeimport.testing.vcs.bzr import BzrServer
from codeimport.testing.vcs.bzr import build_history

KIND = "bzr"
TARGET = "~bench/bzr/trunk"

_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(f'\\npeak-rss-kb {peak}\\n')\n"
    "sys.exit(code)\n"
)


def _timed(argv, env, ok=(0,)):
    """Run `argv`; return (seconds, peak RSS in MB of its processes)."""
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.monotonic() - started
    if process.returncode not in ok:
        raise RuntimeError(f"{argv[:3]} failed ({process.returncode}): "
                           f"{process.stderr.decode()[-2000:]}")
    peak = int(process.stderr.decode().rsplit("peak-rss-kb ", 1)[1])
    return seconds, peak / 1024


def _shell_timed(command, env):
    return _timed(["/bin/sh", "-c", command], env)


def _master(git_dir):
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", "refs/heads/master"],
        capture_output=True, text=True, check=True).stdout.strip()


def run(work_dir: str, revisions: int = 2000, new: int = 10) -> list[dict]:
    work_dir = os.path.abspath(work_dir)
    source_root = os.path.join(work_dir, "bzr-source")
    os.makedirs(source_root, exist_ok=True)
    branch = os.path.join(source_root, "trunk")
    build_history(branch, revisions)
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, HOME=os.path.join(work_dir, "home"),
               XDG_CACHE_HOME=os.path.join(work_dir, "home", "cache"),
               PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
               BRZ_PLUGIN_PATH="-site:-user", GIT_CONFIG_NOSYSTEM="1")
    os.makedirs(env["HOME"], exist_ok=True)
    store = os.path.join(work_dir, "bzr-store")
    remote_git = os.path.join(work_dir, "bzr-remote.git")
    export_git = os.path.join(work_dir, "bzr-export.git")
    for path in (remote_git, export_git):
        subprocess.run(["git", "init", "-q", "--bare", path], check=True)

    with BzrServer(source_root) as server:
        url = server.url("trunk")
        ours = [sys.executable, "-m", "codeimport.cli", "importworker",
                "--access-policy", "anything", "--target-store", store,
                "--", TARGET, KIND, "git", url]
        fetch = ["git", f"--git-dir={remote_git}", "fetch", "-q",
                 f"bzr::{url}", "+HEAD:refs/heads/master",
                 "+refs/tags/*:refs/tags/*"]
        export = (f"brz fast-export -q --plain -b master '{url}' | "
                  f"git --git-dir='{export_git}' fast-import --quiet")
        rows = {
            "codeimport": {"full": _timed(ours, env)},
            "git-remote-bzr": {"full": _timed(fetch, env)},
            "brz fast-export": {"full": _shell_timed(export, env)},
        }
        our_master = _master(
            os.path.join(store, TARGET.lstrip("~")))
        same = {
            "codeimport": True,
            "git-remote-bzr": _master(remote_git) == our_master,
            "brz fast-export": _master(export_git) == our_master,
        }
        build_history(branch, new, start=revisions)
        rows["codeimport"]["incremental"] = _timed(ours, env)
        rows["git-remote-bzr"]["incremental"] = _timed(fetch, env)
        rows["codeimport"]["nochange"] = _timed(ours, env, ok=(2,))
        rows["git-remote-bzr"]["nochange"] = _timed(fetch, env)

    result = []
    for tool, measured in rows.items():
        full_s, _ = measured["full"]
        result.append({
            "kind": KIND,
            "tool": tool,
            "full_s": round(full_s, 2),
            "full_rev_per_s": round(revisions / full_s, 1),
            "incremental_s": (round(measured["incremental"][0], 2)
                              if "incremental" in measured else None),
            "nochange_s": (round(measured["nochange"][0], 2)
                           if "nochange" in measured else None),
            "peak_rss_mb": round(max(m[1] for m in measured.values()), 1),
            "same_history": same[tool],
        })
    return result


if __name__ == "__main__":
    import json
    import tempfile

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(prefix="bench-bzr-") as directory:
        for row in run(directory, count):
            print(json.dumps(row))
