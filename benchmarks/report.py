"""The results: one markdown table (printed, and kept in RESULTS.md) and
the same figures as JSON."""

from __future__ import annotations

import json
import os
import re

__all__ = ["evaluate_targets", "render", "write_json", "write_markdown"]

BEGIN = "<!-- BEGIN LATEST RESULTS (written by python -m benchmarks) -->"
END = "<!-- END LATEST RESULTS -->"


def _n(value):
    return "–" if value is None else f"{value:,}"


def _ms(entry):
    if not entry or entry.get("p50_ms") is None:
        return "–"
    return f"p50 {entry['p50_ms']:.2f} ms / p99 {entry['p99_ms']:.2f} ms"


def _ratio(value):
    return "–" if value is None else f"{value:.2f}×"


def evaluate_targets(sections):
    """Return the issue's targets with the measured values, met or not."""
    targets = []
    claims = sections.get("claims")
    if claims and "rows" in claims:
        for row in claims["rows"]:
            if row["processes"] in (4, 16):
                targets.append({
                    "target": f"in-process claim cycle ≥ 1,000/s at "
                              f"{row['processes']} processes",
                    "measured": f"{row['per_second']:,}/s",
                    "met": row["per_second"] >= 1000})
    rpc = sections.get("xmlrpc")
    if rpc and "per_second" in rpc:
        targets.append({
            "target": f"XML-RPC claim cycle ≥ 400/s with {rpc['clients']} "
                      "clients",
            "measured": f"{rpc['per_second']:,}/s",
            "met": rpc["per_second"] >= 400})
    depth = sections.get("depth")
    if depth and depth.get("rows"):
        ratio = depth["p99_ratio_largest_to_smallest"]
        rows = depth["rows"]
        targets.append({
            "target": f"getJobForMachine p99 at {rows[-1]['pending']:,} "
                      f"pending within 2× of {rows[0]['pending']:,}",
            "measured": _ratio(ratio),
            "met": ratio is not None and ratio <= 2.0})
    runs = []
    for name in ("claims", "floor"):
        if sections.get(name) and "rows" in sections[name]:
            runs += [row["exactly_once"] for row in sections[name]["rows"]]
    if rpc and "exactly_once" in rpc:
        runs.append(rpc["exactly_once"])
    if runs:
        targets.append({
            "target": "zero duplicate claims; one START and one FINISH per "
                      "claimed job, in every run",
            "measured": f"{sum(runs)} of {len(runs)} runs clean",
            "met": all(runs)})
    return targets


def _rows(results):
    sections = results["sections"]
    rows = []
    baseline = sections.get("baseline")
    if baseline:
        for row in baseline["rows"]:
            rows.append(("1. Baseline: psycopg2 UPDATE + INSERT transaction",
                         f"{row['processes']} connection(s)",
                         f"{row['per_second']:,} tx/s", "1.00×"))
    claims = sections.get("claims")
    if claims:
        for row in claims["rows"]:
            drained = ("queue drained" if row["drained"] else
                       f"{row['cycles']:,} of {row['jobs']:,} in time limit")
            rows.append((
                "2. Claim cycle in-process: getJobForMachine → finishJob",
                f"{row['processes']} process(es), {row['jobs']:,} due jobs",
                f"{row['per_second']:,} cycles/s ({drained}; "
                f"{row['client_cpu_ms_per_cycle']} ms client CPU/cycle; "
                f"exactly once: {'yes' if row['exactly_once'] else 'NO'})",
                _ratio(row["ratio_to_baseline"])))
    floor = sections.get("floor")
    if floor:
        for row in floor["rows"]:
            share = row["library_share"]
            rows.append((
                "2. Floor: the same cycle's SQL via bare psycopg2",
                f"{row['processes']} process(es), {row['jobs']:,} due jobs",
                f"{row['per_second']:,} cycles/s "
                f"({row['client_cpu_ms_per_cycle']} ms client CPU/cycle; "
                f"exactly once: {'yes' if row['exactly_once'] else 'NO'}"
                + (f"; the library reaches {share:.0%} of it)"
                   if share is not None else ")"),
                _ratio(row.get("ratio_to_baseline"))))
    rpc = sections.get("xmlrpc")
    if rpc:
        if "skipped" in rpc:
            rows.append(("3. Claim cycle over XML-RPC", "–",
                         f"skipped: {rpc['skipped']}", "–"))
        else:
            setting = (f"{rpc['clients']} clients; serve --workers "
                       f"{rpc['workers']} --threads {rpc['threads']}")
            drained = ("queue drained" if rpc["drained"] else
                       f"{rpc['cycles']:,} of {rpc['jobs']:,} in time limit")
            rows.append((
                "3. Claim cycle over XML-RPC: getJobForMachine → "
                "updateHeartbeat → finishJobID",
                setting,
                f"{rpc['per_second']:,} cycles/s ({drained}; CPU/cycle: "
                f"service {rpc['service_cpu_ms_per_cycle']} ms, clients "
                f"{rpc['client_cpu_ms_per_cycle']} ms; exactly once: "
                f"{'yes' if rpc['exactly_once'] else 'NO'})",
                _ratio(rpc["ratio_to_baseline"])))
            for name, entry in rpc["calls"].items():
                rows.append((f"3. XML-RPC {name} latency", setting,
                             _ms(entry), "–"))
    depth = sections.get("depth")
    if depth:
        for row in depth["rows"]:
            rows.append(("4. getJobForMachine latency by queue depth",
                         f"{row['pending']:,} pending, {row['due']} due",
                         _ms(row), "–"))
        rows.append(("4. p99 at largest depth / p99 at smallest", "–",
                     _ratio(depth["p99_ratio_largest_to_smallest"]), "–"))
    running = sections.get("running")
    if running:
        setting = (f"{running['running']:,} running, "
                   f"{running['stale']} stale")
        entry = running["getReclaimableJobs"]
        rows.append(("4. getReclaimableJobs", setting,
                     f"{_ms(entry)} ({entry['returned']} returned)", "–"))
        entry = running["watchdog_stale"]
        rows.append(("4. watchdog.run(), reclaiming", setting,
                     f"{_ms(entry)} ({entry['reclaimed']} reclaimed)", "–"))
        entry = running["watchdog_idle"]
        rows.append(("4. watchdog.run(), nothing stale",
                     f"{running['running']:,} running, 0 stale",
                     _ms(entry), "–"))
        beats = running["heartbeats"]
        rows.append((
            "5. updateHeartbeat (getById + updateHeartbeat + commit)",
            f"{beats['processes']} processes, {running['running']:,} "
            "running jobs",
            f"{beats['per_second']:,} calls/s "
            f"(≈ {beats['jobs_at_30s_interval']:,} jobs at a 30 s "
            "interval)", "–"))
    if rpc and "memory" in rpc:
        memory = rpc["memory"]
        rows.append((
            "6. Service memory under load (RSS)",
            f"arbiter + {rpc['workers']} workers",
            f"peak {memory['peak_total_mib']} MiB in all "
            f"(idle {memory['idle_total_mib']} MiB); largest worker "
            f"{memory['max_worker_hwm_mib']} MiB", "–"))
    return rows


def render(results):
    """The whole report as markdown text."""
    meta = results["meta"]
    machine = meta["machine"]
    server = meta["server"]
    lines = [
        f"Run of {meta['date']} ({meta['mode']} mode, "
        f"{meta['duration_seconds']:.0f} s, commit {meta['commit']}).",
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['ram_gib']} GiB RAM, "
        f"Python {machine['python']}; PostgreSQL {server['version']} "
        f"({server['origin']} server, synchronous_commit="
        f"{server['settings'].get('synchronous_commit')}, shared_buffers="
        f"{server['settings'].get('shared_buffers')} pages); load average "
        f"{machine['load_before']} before, {machine['load_after']} after.",
        "",
        "| Measurement | Setting | Result | Ratio to baseline |",
        "|---|---|---|---|",
    ]
    for row in _rows(results):
        lines.append("| " + " | ".join(row) + " |")
    targets = results.get("targets") or []
    if targets:
        lines += ["", "| Target | Measured | Met |", "|---|---|---|"]
        for target in targets:
            lines.append(f"| {target['target']} | {target['measured']} | "
                         f"{'yes' if target['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def write_json(results, path):
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(results, stream, indent=2, sort_keys=True)
        stream.write("\n")


_TEMPLATE = f"""# Benchmark results

`make bench` (`python -m benchmarks`) replaces the block under "Latest
full run" with its table; everything outside the block is written by
hand.

## Latest full run

{BEGIN}
{END}
"""


def write_markdown(text, path, append=True, markers=None):
    """Put `text` between the markers of `path`, keeping the rest.

    :param markers: the (begin, end) marker pair; the latest-results
        pair by default.

    A file without the markers gets them at its end when `append` is
    true and is left alone otherwise.  Return whether `path` was written.
    """
    begin, end = markers or (BEGIN, END)
    try:
        with open(path, encoding="utf-8") as stream:
            current = stream.read()
    except FileNotFoundError:
        current = _TEMPLATE
    if begin not in current or end not in current:
        if not append:
            return False
        current = current.rstrip("\n") + "\n\n" + begin + "\n" + end + "\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    updated = pattern.sub(
        lambda match: f"{begin}\n{text.rstrip()}\n{end}", current, count=1)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(updated)
    return True
