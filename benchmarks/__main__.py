"""``python -m benchmarks [--quick] [--json PATH] [--markdown PATH]``.

Runs every section on a dedicated database, prints the table, writes the
figures as JSON (``benchmarks/results/latest.json`` by default) and, for a
full run, puts the table into ``benchmarks/RESULTS.md``.  Exits 1 when a
run handed out a job twice (or otherwise broke the audit trail), so the
one property that must never fail cannot go unnoticed; missed speed
targets are reported, not treated as errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import subprocess
import sys
import time

from benchmarks import baseline
from benchmarks import claims
from benchmarks import depth
from benchmarks import floor
from benchmarks import imports
from benchmarks import running
from benchmarks import xmlrpc
from benchmarks.db import BenchDatabase
from benchmarks.report import evaluate_targets
from benchmarks.report import render
from benchmarks.report import write_json
from benchmarks.report import write_markdown

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "results", "latest.json")
DEFAULT_MARKDOWN = os.path.join(HERE, "RESULTS.md")
#: A full run also refreshes the copy of the table in the README.
README = os.path.join(os.path.dirname(HERE), "README.md")
SECTIONS = ("baseline", "claims", "floor", "xmlrpc", "depth", "running",
            "imports")
#: Where the imports table goes in RESULTS.md and the README.
IMPORTS_MARKERS = ("<!-- BEGIN IMPORTS RESULTS (written by python -m "
                   "benchmarks) -->", "<!-- END IMPORTS RESULTS -->")


@dataclasses.dataclass(frozen=True)
class Config:
    """How much work each section does."""

    process_counts: tuple = (1, 4, 16)
    baseline_seconds: float = 5.0
    claim_jobs: int = 20_000
    claim_time_limit: float = 20.0
    rpc_clients: int = 16
    rpc_jobs: int = 20_000
    rpc_time_limit: float = 30.0
    # Two cores: one service process per core, and enough threads that
    # each of the 16 clients has a thread while it waits on PostgreSQL.
    rpc_workers: int = 2
    rpc_threads: int = 8
    depths: tuple = (1_000, 100_000, 1_000_000)
    depth_samples: int = 1_000
    warmup: int = 50
    running_jobs: int = 10_000
    reclaim_samples: int = 50
    watchdog_samples: int = 10
    heartbeat_processes: int = 4
    heartbeat_time_limit: float = 30.0
    import_revisions: int = 2_000
    import_new: int = 10


FULL = Config()
QUICK = dataclasses.replace(
    FULL, baseline_seconds=1.5, claim_jobs=2_000, claim_time_limit=2.0,
    rpc_jobs=2_000, rpc_time_limit=3.0, depths=(1_000, 100_000),
    depth_samples=200, warmup=20, reclaim_samples=10, watchdog_samples=3,
    heartbeat_time_limit=2.0, import_revisions=200)


def _commit():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
            capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=HERE, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _ram_gib():
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
        return round(kib / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None


def _load():
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the scheduler's hot paths (issue 7).")
    parser.add_argument("--quick", action="store_true",
                        help="smaller workloads, under a minute")
    parser.add_argument("--json", default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the figures (%(default)s)")
    parser.add_argument(
        "--markdown", metavar="PATH",
        help="where to put the table (default: benchmarks/RESULTS.md for "
        "a full run, nowhere for --quick)")
    parser.add_argument("--no-markdown", action="store_true",
                        help="do not write the table to any file")
    parser.add_argument(
        "--only", metavar="SECTIONS",
        help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument(
        "--import-kinds", metavar="KINDS",
        help="comma-separated source kinds for the imports section "
        "(default: every benchmarks/imports_<kind>.py)")
    options = parser.parse_args(argv)
    if options.only:
        chosen = [name.strip() for name in options.only.split(",")]
        unknown = sorted(set(chosen) - set(SECTIONS))
        if unknown:
            parser.error(f"unknown sections: {', '.join(unknown)}")
        options.only = chosen
    else:
        options.only = list(SECTIONS)
    return options


def main(argv=None):
    options = _parse(sys.argv[1:] if argv is None else argv)
    config = QUICK if options.quick else FULL
    started = time.monotonic()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if options.quick else "full",
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "ram_gib": _ram_gib(),
                    "python": platform.python_version(),
                    "load_before": _load()},
    }
    sections = {}
    db = BenchDatabase()
    try:
        meta["server"] = db.describe()
        meta["database"] = db.name

        def step(name, function, *args):
            if name not in options.only:
                return
            print(f"[{time.monotonic() - started:6.1f} s] {name} ...",
                  file=sys.stderr, flush=True)
            sections[name] = function(db, config, *args)

        empty_baseline = {"rows": []}
        step("baseline", baseline.run)
        step("claims", claims.run, sections.get("baseline", empty_baseline))
        step("floor", floor.run, sections.get("baseline", empty_baseline),
             sections.get("claims", empty_baseline))
        step("xmlrpc", xmlrpc.run, sections.get("baseline", empty_baseline))
        step("depth", depth.run)
        step("running", running.run)
        step("imports", imports.run, options.import_kinds)
    finally:
        db.close()
    meta["machine"]["load_after"] = _load()
    meta["duration_seconds"] = round(time.monotonic() - started, 1)
    imports_section = sections.pop("imports", None)
    if imports_section is not None:
        # Kept before anything can fail: the section takes long.
        write_json({"imports": imports_section},
                   options.json.replace(".json", "-imports.json"))
    results = {"meta": meta, "config": dataclasses.asdict(config),
               "sections": sections,
               "targets": evaluate_targets(sections)}
    text = render(results) if sections else ""
    print(text)
    imports_text = None
    if imports_section is not None:
        sections["imports"] = imports_section
        imports_text = imports.render(imports_section)
        print(imports_text)
    write_json(results, options.json)
    print(f"figures written to {options.json}", file=sys.stderr)
    markdown = options.markdown or (None if options.quick else
                                    DEFAULT_MARKDOWN)
    if markdown and not options.no_markdown:
        tables = []
        if text:
            tables.append((text, None))
        if imports_text:
            tables.append((imports_text, IMPORTS_MARKERS))
        for table, markers in tables:
            write_markdown(table, markdown, markers=markers)
            print(f"table written to {markdown}", file=sys.stderr)
            if not options.quick and not options.markdown:
                if write_markdown(table, README, append=False,
                                  markers=markers):
                    print(f"table written to {README}", file=sys.stderr)
    broken = [target for target in results["targets"]
              if target["target"].startswith("zero duplicate")
              and not target["met"]]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
