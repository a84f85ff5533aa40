"""Cold starts in sized environments: what pscache costs a function of 128 MB to 1,769 MB (and more).

    scripts/bench-sized [--layer [NAME=]DIR ...] [--memory 128,512,1024,1769] [--init-cpu share,boost]
                        [--runs 5] [--invokes 4] [--no-python] [--json FILE] [--plot FILE.png]

Every memory size and INIT CPU model runs every candidate once per run, alternating candidate by candidate, so
machine noise hits all alike; figures are medians over the runs (every run's values go to --json). Candidates:
each --layer (the compiled binary of an unpacked layer; several may be given, e.g. main=DIR new=DIR), `python -m
app` from this checkout, and the compiled floor (bench/reference/extension, Go standard library). Each run is one
fresh environment (bench/sized.py): cgroup with the CPU share and memory limit, cold page cache, the Go function
of bench/reference/function (50 ms init, one parameter and one secret per invoke). Figures:
  register_ms             exec of the extension -> its register request (register_cpu_ms: its CPU until then)
  init_ms                 the environment's INIT duration (extensions and the function's 50 ms init)
  first_read_ms           the function's first read after the first INVOKE (event received -> value held)
  cold_to_first_value_ms  environment start -> the function holds its first value
  cpu_ms                  CPU the extension used until then (its own cgroup)
  hit_ms                  a cached read in a warm invoke (median over invokes 2..N)
  max_memory_used_mb      Lambda's Max Memory Used: the environment's cgroup peak, page cache included
  extension_memory_mb     the extension's own cgroup peak (its part of Max Memory Used)
  peak_rss_mb             the extension's VmHWM; peak_anon_mb / peak_file_mb its largest RssAnon / RssFile seen
Loopback only; every run is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.layers import parse_layers
from bench.seeded_aws import start_local_aws
from bench.sized import (FIGURES, FUNCTION_INIT_MS, INIT_LIMIT_S, Candidate, build_reference, floor_candidate,
                         pscache_candidate, run_environment)
from locallambda.extensions import layer_extensions, python_extensions
from locallambda.sized import INIT_CPU_MODELS, cpu_quota_us, probe

ROWS = [
    ("register_ms", "exec → register (ms)", "{:.0f}"),
    ("register_cpu_ms", "extension CPU until register (ms)", "{:.0f}"),
    ("init_ms", "INIT duration (ms)", "{:.0f}"),
    ("first_read_ms", "first read after the first INVOKE (ms)", "{:.0f}"),
    ("cold_to_first_value_ms", "cold start → first value (ms)", "{:.0f}"),
    ("cpu_ms", "extension CPU until the first value (ms)", "{:.0f}"),
    ("hit_ms", "cached read, warm invoke (ms)", "{:.2f}"),
    ("max_memory_used_mb", "Max Memory Used, environment (MB)", "{:.1f}"),
    ("extension_memory_mb", "extension's part of it (MB)", "{:.1f}"),
    ("peak_rss_mb", "extension peak RSS (MB)", "{:.1f}"),
    ("peak_anon_mb", "  of which anonymous (MB)", "{:.1f}"),
    ("peak_file_mb", "  of which file-backed (MB)", "{:.1f}"),
]


def cpu_probe_s() -> float:
    """Seconds for sum(range(10**7)) on this interpreter: how fast the machine is today (the figures scale)."""
    started = time.perf_counter()
    sum(range(10**7))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", action="append", default=[], metavar="[NAME=]DIR",
                        help="unpacked layer to run (repeatable, NAME labels it)")
    parser.add_argument("--memory", default="128,512,1024,1769", help="memory sizes in MB, comma-separated")
    parser.add_argument("--init-cpu", default="share,boost", help="INIT CPU models, comma-separated: share, boost")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--invokes", type=int, default=4, help="invokes per environment: one cold, the rest warm")
    parser.add_argument("--no-python", action="store_true", help="leave `python -m app` out")
    parser.add_argument("--setting", action="append", default=[], metavar="VAR=VALUE",
                        help="an environment variable for every extension (e.g. PSCACHE_CACHE_MAX_BYTES=...)")
    parser.add_argument("--json", help="write every run's figures here")
    parser.add_argument("--plot", help="PNG: cold start -> first value and Max Memory Used against memory size")
    args = parser.parse_args()
    sizes = [int(m) for m in args.memory.split(",")]
    models = [m.strip() for m in args.init_cpu.split(",")]
    if bad := [m for m in models if m not in INIT_CPU_MODELS]:
        parser.error(f"--init-cpu: unknown model(s) {bad}; use share and/or boost")
    if args.invokes < 2:
        parser.error("--invokes must be at least 2 (one cold start, one warm read)")
    settings = dict(s.split("=", 1) for s in args.setting)
    backend = probe()  # no cgroups, no benchmark: say so before anything starts

    work = Path(tempfile.mkdtemp(prefix="pscache-bench-sized-"))
    built = build_reference(work / "reference")
    candidates: list[Candidate] = [pscache_candidate(name, layer_extensions(path))
                                   for name, path in parse_layers(args.layer)]
    if not args.no_python:
        candidates.append(pscache_candidate("pscache python -m app", python_extensions(work / "python-ext")))
    candidates.append(floor_candidate(built))
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "host": os.uname().nodename, "cores": os.cpu_count(),
        "cgroups": backend.description, "function_init_ms": FUNCTION_INIT_MS, "runs": args.runs,
        "invokes": args.invokes, "settings": settings, "cpu_probe_s_before": round(cpu_probe_s(), 3),
        "candidates": {c.name: str(c.extensions) for c in candidates},
        "load_before": os.getloadavg(),
    }
    print(f"bench-sized: {len(candidates)} candidates x {len(sizes)} sizes x {len(models)} models x {args.runs} runs; "
          f"{backend.description}; CPU probe {meta['cpu_probe_s_before']} s", flush=True)
    runs: dict[str, list[dict]] = {}
    aws = start_local_aws()
    try:
        for i in range(args.runs):
            for memory in sizes:
                for model in models:
                    for candidate in candidates:  # alternate, so noise hits every candidate alike
                        key = f"{candidate.name}|{memory}|{model}"
                        figures = run_environment(candidate, built["function"], aws.endpoint, memory, model,
                                                  args.invokes, work / "logs" / key.replace("|", "-").replace(" ", "_"),
                                                  settings)
                        runs.setdefault(key, []).append(figures)
                        print(f"run {i + 1}/{args.runs} {memory} MB {model:5} {candidate.name}: "
                              + ", ".join(f"{k}={figures[k]:.1f}" for k in FIGURES), flush=True)
    finally:
        aws.close()
    meta["cpu_probe_s_after"] = round(cpu_probe_s(), 3)
    meta["load_after"] = os.getloadavg()
    medians = {key: {k: statistics.median(r[k] for r in rs) for k in FIGURES} for key, rs in runs.items()}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "runs": runs, "medians": medians}, indent=2) + "\n")
    if args.plot:
        from bench.sized_plot import plot

        plot(medians, [c.name for c in candidates], sizes, models, Path(args.plot))
    print(render(medians, [c.name for c in candidates], sizes, models, meta))
    return 0


SUMMARY = [("cold_to_first_value_ms", "cold → first value (ms)", "{:.0f}"), ("init_ms", "INIT (ms)", "{:.0f}"),
           ("cpu_ms", "CPU (ms)", "{:.0f}"), ("max_memory_used_mb", "Max Memory Used (MB)", "{:.1f}")]


def summary(medians: dict, names: list[str], sizes: list[int], models: list[str]) -> str:
    """One row per memory size and model; per figure, the candidates side by side (a / b / c)."""
    lines = ["| memory, INIT CPU | " + " | ".join(label for _, label, _ in SUMMARY) + " |",
             "|---|" + "---|" * len(SUMMARY)]
    for memory in sizes:
        for model in models:
            cells = []
            for key, _, fmt in SUMMARY:
                values = [medians.get(f"{name}|{memory}|{model}") for name in names]
                cells.append(" / ".join(fmt.format(m[key]) if m else "–" for m in values))
            lines.append(f"| {memory} MB, {model} | " + " | ".join(cells) + " |")
    return "Each cell: " + " / ".join(names) + ".\n\n" + "\n".join(lines)


def render(medians: dict, names: list[str], sizes: list[int], models: list[str], meta: dict) -> str:
    lines = [
        f"{meta['date']}, {meta['host']} ({meta['cores']} cores), median of {meta['runs']} alternating runs, "
        f"{meta['invokes']} invokes per environment; CPU probe (sum(range(10**7))) {meta['cpu_probe_s_before']} s "
        f"before, {meta['cpu_probe_s_after']} s after; {meta['cgroups']}.",
        "",
        summary(medians, names, sizes, models),
        "",
    ]
    for memory in sizes:
        for model in models:
            lines += [f"**{memory} MB, INIT CPU {model}** (quota {cpu_quota_us(memory) / 1000:.1f} ms per 100 ms)", "",
                      "| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            for key, label, fmt in ROWS:
                cells = []
                for name in names:
                    m = medians.get(f"{name}|{memory}|{model}")
                    value = fmt.format(m[key]) if m else "–"
                    if key == "init_ms" and m and m[key] > INIT_LIMIT_S * 1000:
                        value += " (over Lambda's 10 s INIT limit)"
                    cells.append(value)
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
