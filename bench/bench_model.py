"""The fleet model's scenarios: every candidate against every scenario of the chosen groups.

    scripts/fleet-model [--group steady|scale-out|brown-out|keys ...] [--candidate NAME ...] [--memory 1024]
                        [--json FILE] [--plot-dir DIR]

Writes a markdown table per scenario to stdout, the per-second series to --json, and one PNG per group to
--plot-dir (fleet-model-GROUP.png). The model: bench/model/. Pure Python on one core; the largest scenarios
(10,000 invokes per second for 8 minutes) take a minute or two per candidate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench.model.run import simulate
from bench.model.scenarios import MEMORY_MB, SCENARIOS, candidates


def num(value) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) and value == value else "–"


def table(scenario, rows: list[dict]) -> str:
    lines = [
        f"**{scenario.name}** ({scenario.workload.keys} key(s) per invoke, hold {scenario.workload.hold_s * 1000:.0f} "
        f"ms, quota {scenario.upstream.tps:g}/s{'; ' + scenario.note if scenario.note else ''})",
        "",
        "| candidate | invokes | refused by Lambda | cold starts | upstream calls | peak calls/s | throttled "
        "| invokes with an error | waited > 1 s | stale reads |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['candidate']} | {num(r['arrivals'])} | {num(r['lambda_throttled'])} | {num(r['cold_starts'])} | "
            f"{num(r['calls'])} | {num(r['peak_calls_per_s'])} | {num(r['throttled'])} | {num(r['errors'])} | "
            f"{num(r['waited'])} | {num(r['stale'])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", choices=sorted(SCENARIOS), help="default: all")
    parser.add_argument("--candidate", action="append", help="only these candidates (by name)")
    parser.add_argument("--memory", type=int, default=MEMORY_MB, help="function memory size for cold-start times")
    parser.add_argument("--json", help="write every summary and per-second series here")
    parser.add_argument("--plot-dir", help="write fleet-model-GROUP.png here")
    args = parser.parse_args()
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "memory_mb": args.memory, "groups": {}}
    for group in args.group or sorted(SCENARIOS):
        runs = []
        for scenario in SCENARIOS[group]:
            keys = [f"/model/key-{i}" for i in range(scenario.workload.keys)]
            rows, series = [], {}
            for candidate in candidates(keys, args.memory, tuple(args.candidate or ())):
                result = simulate(candidate, scenario.workload, scenario.upstream)
                summary = result.summary()
                print(f"{scenario.name} / {candidate.name}: {summary}", file=sys.stderr, flush=True)
                rows.append(summary)
                series[candidate.name] = dict(result.metrics.per_second, environments=result.metrics.environments)
            print(table(scenario, rows) + "\n", flush=True)
            runs.append({"scenario": scenario.name, "quota": scenario.upstream.tps, "summaries": rows,
                         "candidates": series})
        out["groups"][group] = runs
        if args.plot_dir:
            from bench.model.plot import plot

            plot(group, runs, Path(args.plot_dir) / f"fleet-model-{group}.png")
    if args.json:
        Path(args.json).write_text(json.dumps(out))
    print(f"model run on {os.uname().nodename}, {out['date']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
