"""The AWS blog's load test, reproduced on loopback: upstream calls of a pscache fleet under a ramp of invokes.

    scripts/bench-fleet [--layer DIR] [--duration 60] [--rate-from 10] [--rate-to 40] [--hold-ms 100]
                        [--keys 1] [--routing mru|lru] [--runs 1] [--scenario 'NAME:VAR=VALUE VAR=VALUE' ...]
                        [--throttle-rate TPS [--throttle-burst N]] [--plot FILE.png] [--json FILE]

Every scenario runs the same schedule against a fresh fleet (see bench/fleet.py). Without --scenario the blog's
three (TTL 0, 1 s, 300 s) run, then pscache's extras: prefetch at init and refresh ahead. In a scenario's
settings `{prefetch}` stands for the PSCACHE_PREFETCH list of the parameters the handler reads. The table goes to
stdout (markdown), the plot of upstream calls per second to --plot. --throttle-rate gives the local SSM a quota as
Parameter Store has one: GetParameter, GetParameters and GetParametersByPath share one token bucket of TPS calls per
second (burst: one second's worth unless --throttle-burst), beyond which the proxy answers ThrottlingException.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.fleet import Ramp, ScenarioResult, median_summary, run_scenario
from bench.seeded_aws import PARAM_NAME, base_env, bench_parser, pscache_extensions, start_local_aws

SSM_READS = ("GetParameter", "GetParameters", "GetParametersByPath")  # one quota for the three, as in Parameter Store

DEFAULT_SCENARIOS = [
    "TTL 0:SSM_PARAMETER_STORE_TTL=0",
    "TTL 1 s:SSM_PARAMETER_STORE_TTL=1",
    "TTL 300 s:SSM_PARAMETER_STORE_TTL=300",
    "TTL 300 s + prefetch:SSM_PARAMETER_STORE_TTL=300 PSCACHE_PREFETCH={prefetch}",
    "TTL 10 s:SSM_PARAMETER_STORE_TTL=10",
    "TTL 10 s + refresh ahead 50 %:SSM_PARAMETER_STORE_TTL=10 PSCACHE_REFRESH_AHEAD_PERCENT=50",
]
BLOG = {"TTL 0": 1650, "TTL 1 s": 106, "TTL 300 s": 18}  # GetParameter calls the blog measured (18 environments)


def parse_scenario(text: str, parameter_names: list[str]) -> tuple[str, dict[str, str]]:
    name, _, pairs = text.partition(":")
    prefetch = " ".join(f"ssm:{n}" for n in parameter_names)
    settings = {}
    for pair in pairs.split():
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--scenario {text!r}: {pair!r} is not VAR=VALUE")
        settings[key] = value.replace("{prefetch}", prefetch)
    return name.strip(), settings


def render(rows: list[dict], args: argparse.Namespace) -> str:
    def num(value, fmt="{:.0f}"):
        return "–" if value is None or value != value else fmt.format(value)

    lines = [
        f"{time.strftime('%Y-%m-%d')}, {os.uname().nodename} ({os.cpu_count()} cores), pscache as "
        f"{'the compiled binary' if args.layer else 'python -m app'}; {args.duration:g} s, arrivals ramping "
        f"{args.rate_from:g} → {args.rate_to:g}/s, hold {args.hold_ms:g} ms, {args.keys} parameter(s) per invoke, "
        f"routing {args.routing}, at most {args.max_environments} environments, median of {args.runs} run(s).",
        "",
        "| scenario | blog: GetParameter calls | invokes | environments | invokes that waited for one "
        "| upstream calls | throttled | calls / env / key | reads not served from cache | warm read p50 / p99 (ms) "
        "| cold-start read p50 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        failed = f" ({num(r['failed'])} failed)" if r["failed"] else ""
        lines.append(
            f"| {r['scenario']} | {BLOG.get(r['scenario'], '–')} | {num(r['invokes'])}{failed} | "
            f"{num(r['environments'])} | {num(r['queued'])} | {num(r['upstream_calls'])} | {num(r['throttled_calls'])} | {num(r['calls_per_env_per_key'], '{:.2f}')} | "
            f"{num(r['reads_missed'])} | {num(r['warm_read_p50_ms'], '{:.1f}')} / "
            f"{num(r['warm_read_p99_ms'], '{:.1f}')} | {num(r['cold_read_p50_ms'])} |")
    return "\n".join(lines)


def stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = bench_parser(__doc__, runs=1)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of arrivals (default 60)")
    parser.add_argument("--rate-from", type=float, default=10.0, help="arrivals per second at the start")
    parser.add_argument("--rate-to", type=float, default=40.0, help="arrivals per second at the end")
    parser.add_argument("--hold-ms", type=float, default=100.0, help="how long the handler works after reading")
    parser.add_argument("--keys", type=int, default=1, help="parameters read per invoke")
    parser.add_argument("--max-environments", type=int, default=24,
                        help="bound of the fleet; beyond it invokes wait for a free environment (default 24)")
    parser.add_argument("--routing", choices=("mru", "lru"), default="mru",
                        help="which idle environment gets an invoke: most recently freed, or longest idle")
    parser.add_argument("--scenario", action="append", help="NAME:VAR=VALUE VAR=VALUE (repeatable)")
    parser.add_argument("--throttle-rate", type=float, help="SSM quota of the local AWS, calls per second")
    parser.add_argument("--throttle-burst", type=float, help="the quota's burst (default: one second's worth)")
    parser.add_argument("--plot", help="write the PNG plot of upstream calls per second here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # unwind through the finally blocks that kill the fleet

    names = [PARAM_NAME] + [f"{PARAM_NAME}-{i}" for i in range(1, args.keys)]
    scenarios = [parse_scenario(s, names) for s in args.scenario or DEFAULT_SCENARIOS]
    ramp = Ramp(args.duration, args.rate_from, args.rate_to)
    work = Path(tempfile.mkdtemp(prefix="pscache-fleet-"))
    ext_dir = pscache_extensions(work, args.layer)
    aws = start_local_aws(extra_parameters=args.keys - 1)
    proxy = aws.proxy
    if args.throttle_rate:
        proxy.limit(SSM_READS, args.throttle_rate, args.throttle_burst)
    env = base_env(proxy.url, 0)
    results: dict[str, list[ScenarioResult]] = {name: [] for name, _ in scenarios}
    print(f"{len(ramp.arrivals())} invokes per scenario, {len(scenarios)} scenario(s), {args.runs} run(s)",
          flush=True)
    try:
        for i in range(args.runs):
            for name, settings in scenarios:
                results[name].append(run_scenario(f"{name} (run {i + 1})", ext_dir, env, settings, proxy, names,
                                                  ramp, args.hold_ms / 1000, args.routing, args.max_environments,
                                                  log=lambda line: print(line, flush=True)))
    finally:
        aws.close()
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for name, runs in results.items():
        row = median_summary(runs)
        row["scenario"] = name
        rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "medians": rows, "runs": {
            name: [asdict(r) for r in runs] for name, runs in results.items()}}, indent=1))
    if args.plot:
        from bench.fleet_plot import plot

        plot({name: runs[0] for name, runs in results.items()}, ramp, Path(args.plot))
    print(render(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
