"""The ``imports`` section: every source kind's importer against the best
standalone tool on the same history (issue 11).

Each ``benchmarks/imports_<kind>.py`` present is run; its
``run(work_dir, revisions=2000, new=10)`` builds a synthetic history of
about `revisions` revisions, then times, in the same run, our importer
and each reference tool for a full import, an incremental run with `new`
new revisions and a run with nothing new, and returns one row per tool::

    {"kind": "git", "tool": "codeimport", "full_s": 1.2,
     "full_rev_per_s": 1700.0, "incremental_s": 0.3, "nochange_s": 0.2,
     "peak_rss_mb": 45.0}

Rows whose ``tool`` is ``codeimport`` are ours; the others are
references.  The table gives revisions/s and, for each row, the ratio to
the fastest reference of its kind (the target: our importer at 0.8× or
better; a run with nothing new under 1 s; memory under 300 MB).

`measure` runs one command and returns its wall time and the peak
resident memory of the largest process it started, for the kind modules
to share.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = ["measure", "render", "run", "run_kinds"]

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = "codeimport"
# Runs `argv` in a fresh process whose only child is the command, so the
# children's peak RSS is the command's own (the largest process of its
# tree that has been waited for).
_MEASURER = (
    "import json, resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,\n"
    "                      stderr=subprocess.PIPE)\n"
    "took = time.perf_counter() - start\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "json.dump({'status': done.returncode, 'seconds': took,\n"
    "           'rss_mb': rss / 1024,\n"
    "           'stderr': done.stderr[-2000:].decode('utf-8', 'replace')},\n"
    "          sys.stdout)\n"
)


def measure(argv, env=None, cwd=None, ok=(0,)) -> tuple[float, float]:
    """Run `argv`; return (seconds, peak RSS in MB).

    :param ok: exit statuses that count as success (an importer's 2 is
        "nothing changed").
    :raises RuntimeError: with the command's last output otherwise.
    """
    done = subprocess.run(
        [sys.executable, "-c", _MEASURER, *map(str, argv)],
        env=env, cwd=cwd, stdout=subprocess.PIPE, check=True)
    figures = json.loads(done.stdout)
    if figures["status"] not in ok:
        raise RuntimeError(
            f"{os.path.basename(str(argv[0]))} exited with "
            f"{figures['status']}: {figures['stderr'][-500:]}")
    return figures["seconds"], figures["rss_mb"]


def importer_command(store, unique_name, kind, url, *extra):
    """The ``codeimport importworker`` command line for one import."""
    return [sys.executable, "-m", "codeimport.cli", "importworker",
            "--access-policy", "anything", "--target-store", str(store),
            "--", unique_name, kind, "git", url, *extra]


def kind_modules() -> list[str]:
    """The names of the ``imports_<kind>`` modules present."""
    return sorted(
        os.path.basename(path)[:-3]
        for path in glob.glob(os.path.join(HERE, "imports_*.py")))


def run_kinds(revisions: int = 2000, new: int = 10,
              only: list[str] | None = None) -> dict:
    """Run every kind module; ``{"rows": [...], "failed": {...}}``."""
    rows = []
    failed = {}
    for name in kind_modules():
        kind = name[len("imports_"):]
        if only and kind not in only:
            continue
        work_dir = tempfile.mkdtemp(prefix=f"codeimport-bench-{kind}-")
        started = time.monotonic()
        print(f"    imports: {kind} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            rows += module.run(work_dir, revisions=revisions, new=new)
        except Exception as error:  # one kind failing must not hide others
            failed[kind] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        print(f"    imports: {kind} took {time.monotonic() - started:.0f} s",
              file=sys.stderr, flush=True)
    return {"rows": rows, "failed": failed, "revisions": revisions,
            "new": new}


def run(db, config, kinds: str | None = None) -> dict:
    """The section, as `benchmarks.__main__` runs it (no database).

    :param kinds: comma-separated kinds to run; all when None.
    """
    only = [kind.strip() for kind in kinds.split(",")] if kinds else None
    return run_kinds(config.import_revisions, config.import_new, only)


def _ratios(rows):
    best = {}
    for row in rows:
        if row["tool"] != OURS and row.get("full_rev_per_s"):
            best[row["kind"]] = max(best.get(row["kind"], 0),
                                    row["full_rev_per_s"])
    return best


def _s(seconds) -> str:
    return "–" if seconds is None else f"{seconds:.2f} s"


def _mb(megabytes) -> str:
    return "–" if megabytes is None else f"{megabytes:.0f} MB"


def render(section: dict) -> str:
    """The section as a markdown table with its targets."""
    rows = section.get("rows", [])
    best = _ratios(rows)
    lines = [
        f"Synthetic histories of about {section.get('revisions')} "
        f"revisions; incremental runs add {section.get('new')}.",
        "",
        "| Kind | Tool | Full import | Revisions/s | Ratio to fastest "
        "reference | Incremental | Nothing new | Peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rate = row.get("full_rev_per_s") or 0
        reference = best.get(row["kind"])
        ratio = f"{rate / reference:.2f}×" if reference and rate else "–"
        lines.append(
            f"| {row['kind']} | {row['tool']} | {_s(row.get('full_s'))} | "
            f"{rate:,.0f} | {ratio} | {_s(row.get('incremental_s'))} | "
            f"{_s(row.get('nochange_s'))} | "
            f"{_mb(row.get('peak_rss_mb'))} |")
    for kind, error in sorted(section.get("failed", {}).items()):
        lines.append(f"| {kind} | failed: {error[:120]} | | | | | | |")
    targets = []
    for row in rows:
        if row["tool"] != OURS:
            continue
        reference = best.get(row["kind"])
        if reference:
            ratio = (row.get("full_rev_per_s") or 0) / reference
            targets.append((f"{row['kind']}: ≥ 0.8× the fastest reference",
                            f"{ratio:.2f}×", ratio >= 0.8))
        nochange = row.get("nochange_s")
        targets.append((f"{row['kind']}: nothing new under 1 s",
                        _s(nochange), nochange is not None and nochange < 1))
        memory = row.get("peak_rss_mb")
        targets.append((f"{row['kind']}: memory under 300 MB",
                        _mb(memory), memory is not None and memory < 300))
    if targets:
        lines += ["", "| Target | Measured | Met |", "|---|---|---|"]
        lines += [f"| {name} | {value} | {'yes' if met else '**no**'} |"
                  for name, value, met in targets]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    kinds = sys.argv[1:] or None
    print(render(run_kinds(only=kinds)))
