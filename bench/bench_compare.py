"""pscache against what users would pick instead: the SDK in the function (Node, Python), Powertools Parameters.

    scripts/bench-compare [--layer DIR] [--runs 5] [--invokes 100] [--json FILE]

Every variant (bench/compare.py) runs --runs times, alternating variant by variant so machine noise hits all
alike; every figure is the median over the runs. Figures per run:
  init                 the emulator's INIT: extensions launched -> runtime and every extension called next
  first invoke         event sent -> response, the first invoke after INIT (cache empty)
  warm invoke          median over invokes 2..N of event sent -> response
  peak RSS             VmHWM summed over the function's process tree, and over pscache's
  upstream calls       GetParameter + GetSecretValue that reached the local AWS over INIT and the N invokes
Ratios are taken against the same language's SDK-in-the-function variant, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.compare import VARIANTS, run_variant
from bench.node_sdk import PACKAGES, ensure_node_sdk
from bench.seeded_aws import PARAM_NAME, SECRET_ID, TOKEN, base_env, bench_parser, pscache_extensions, start_local_aws

FIGURES = ("init_ms", "first_invoke_ms", "warm_invoke_ms", "function_mb", "extension_mb", "upstream_calls")


def sdk_baseline(variant):
    """The same language's SDK-in-the-function variant: what the ratios are taken against."""
    return next(v for v in VARIANTS if v.calls_per_invoke and v.function[-3:] == variant.function[-3:])


def render(medians: dict[str, dict], args: argparse.Namespace, versions: str) -> str:
    lines = [
        f"{time.strftime('%Y-%m-%d')}, {os.uname().nodename} ({os.cpu_count()} cores), median of {args.runs} "
        f"alternating runs, {args.invokes} invokes each; pscache as "
        f"{'the compiled binary' if args.layer else 'python -m app'}, TTL 300 s; {versions}.",
        "",
        "| variant | init (ms) | first invoke (ms) | warm invoke (ms) | warm ÷ SDK | peak RSS function + pscache "
        f"(MB) | memory ÷ SDK | upstream calls over {args.invokes} invokes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        m, base = medians[variant.name], medians[sdk_baseline(variant).name]
        memory = f"{m['function_mb']:.1f}"
        if m["extension_mb"]:
            memory += f" + {m['extension_mb']:.1f} = {m['function_mb'] + m['extension_mb']:.1f}"
        ratio_mb = (m["function_mb"] + m["extension_mb"]) / (base["function_mb"] + base["extension_mb"])
        lines.append(f"| {variant.name} | {m['init_ms']:.0f} | {m['first_invoke_ms']:.1f} | "
                     f"{m['warm_invoke_ms']:.2f} | {m['warm_invoke_ms'] / base['warm_invoke_ms']:.2f} | {memory} | "
                     f"{ratio_mb:.2f} | {m['upstream_calls']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = bench_parser(__doc__, runs=5)
    parser.add_argument("--invokes", type=int, default=100)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pscache-compare-"))
    ext_dir = pscache_extensions(work, args.layer)
    empty = work / "no-extensions"
    empty.mkdir()
    extra = {"BENCH_PARAMETER": PARAM_NAME, "BENCH_SECRET": SECRET_ID, "BENCH_NODE_MODULES": str(ensure_node_sdk())}
    import aws_lambda_powertools
    import boto3

    versions = (f"Node {os.popen('node --version').read().strip()}, "
                + ", ".join(f"{n} {v}" for n, v in PACKAGES.items())
                + f", Python {sys.version.split()[0]}, boto3 {boto3.__version__}, "
                f"aws-lambda-powertools {aws_lambda_powertools.__version__}")
    aws = start_local_aws()
    proxy = aws.proxy
    env = dict(base_env(proxy.url, 0), AWS_SESSION_TOKEN=TOKEN)
    runs: dict[str, list[dict]] = {v.name: [] for v in VARIANTS}
    try:
        for i in range(args.runs):
            for variant in VARIANTS:  # alternate, so noise hits every variant alike
                run = run_variant(variant, env, proxy, ext_dir, empty, args.invokes, extra_env=extra)
                figures = {k: v for k, v in asdict(run).items() if k in FIGURES}
                runs[variant.name].append(figures)
                print(f"run {i + 1}/{args.runs} {variant.name}: "
                      + ", ".join(f"{k}={v:.1f}" for k, v in figures.items()), flush=True)
    finally:
        aws.close()
        shutil.rmtree(work, ignore_errors=True)

    medians = {name: {k: statistics.median(r[k] for r in rs) for k in FIGURES} for name, rs in runs.items()}
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs, "medians": medians}, indent=1))
    print(render(medians, args, versions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
