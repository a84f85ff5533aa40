"""The fleet model against the real fleet, on the same workloads, at the sizes this machine holds.

    scripts/fleet-calibrate [--layer DIR] [--only NAME ...] [--json FILE]

Each workload runs first as real environments (bench/fleet.py: pscache processes under the emulator, moto behind
the fault proxy, which throttles beyond a quota when the workload has one), then in the model, which is told
only what this machine measured in a probe run just before: one environment's cold start (CPU-bound, so the
model shares it over the host's cores as the real start-ups share them), a warm invoke's overhead, the local
AWS's answer time. Upstream calls, throttled calls and cold starts are compared; the model must agree within 10 %.
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
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_fleet import SSM_READS
from bench.fleet import Ramp, run_scenario
from bench.model.candidates import Pscache, StartUp
from bench.model.lambda_fleet import Scaling
from bench.model.run import Upstream, Workload, simulate
from bench.model.services import Latency
from bench.seeded_aws import PARAM_NAME, base_env, pscache_extensions, start_local_aws

MAX_ENVIRONMENTS = 40
AGREEMENT = 0.10


@dataclass
class Case:
    name: str
    ramp: Ramp
    hold_s: float
    keys: int
    settings: dict[str, str]
    quota: tuple[float, float] | None = None  # (calls per second, burst) of the local SSM
    figures: dict = field(default_factory=dict)


CASES = [
    Case("5 environments, TTL 5 s", Ramp(30, 1, 6), 0.5, 1, {"SSM_PARAMETER_STORE_TTL": "5"}),
    Case("20 environments, 2 keys, TTL 2 s", Ramp(30, 4, 30), 0.5, 2, {"SSM_PARAMETER_STORE_TTL": "2"}),
    Case("40 environments, 2 keys, TTL 300 s + prefetch", Ramp(30, 6, 45), 0.5, 2,
         {"SSM_PARAMETER_STORE_TTL": "300", "PSCACHE_PREFETCH": "{prefetch}"}),
    Case("5 environments, TTL 0, quota 4/s", Ramp(30, 1, 6), 0.5, 1, {"SSM_PARAMETER_STORE_TTL": "0"}, (4, 4)),
    Case("20 environments, 2 keys, TTL 1 s, quota 10/s", Ramp(30, 4, 30), 0.5, 2,
         {"SSM_PARAMETER_STORE_TTL": "1"}, (10, 10)),
    Case("40 environments, TTL 1 s + stale-if-error, quota 10/s", Ramp(30, 6, 45), 0.5, 1,
         {"SSM_PARAMETER_STORE_TTL": "1", "PSCACHE_STALE_IF_ERROR": "60"}, (10, 10)),
]


def key_names(keys: int) -> list[str]:
    return [PARAM_NAME] + [f"{PARAM_NAME}-{i}" for i in range(1, keys)]


def expand(settings: dict[str, str], names: list[str]) -> dict[str, str]:
    prefetch = " ".join(f"ssm:{n}" for n in names)
    return {k: v.replace("{prefetch}", prefetch) for k, v in settings.items()}


def probe(ext_dir, env, proxy) -> dict:
    """One environment alone, TTL 0, four invokes 1.5 s apart: its cold start, a warm invoke's overhead, and the
    local AWS's answer time as pscache sees it (every read a miss)."""
    hold = 0.2
    result = run_scenario("probe", ext_dir, env, {"SSM_PARAMETER_STORE_TTL": "0"}, proxy, key_names(1),
                          Ramp(6, 2 / 3, 2 / 3), hold, log=lambda line: None)
    cold = [i for i in result.invocations if i.cold]
    warm = [i for i in result.invocations if not i.cold and i.ok]
    if len(cold) != 1 or not warm:
        raise SystemExit(f"probe: expected one cold and some warm invokes, got {len(cold)} and {len(warm)}")
    fetch_ms = statistics.median(ms for i in warm for _, ms, _ in i.reads)
    overhead_ms = statistics.median(i.total_ms - hold * 1000 - sum(ms for _, ms, _ in i.reads) for i in warm)
    cold_ms = cold[0].total_ms - hold * 1000 - fetch_ms - overhead_ms
    return {"cold_start_s": cold_ms / 1000, "overhead_s": overhead_ms / 1000, "fetch_s": fetch_ms / 1000}


def model(case: Case, measured: dict, cores: float, seed: int = 1) -> dict:
    names = key_names(case.keys)
    candidate = Pscache(StartUp(init_s=0.0, sdk_s=0.0, hit_s=0.002), expand(case.settings, names))
    latency = Latency(measured["fetch_s"], 3 * measured["fetch_s"])
    upstream = Upstream(tps=case.quota[0], burst=case.quota[1], latency=latency) if case.quota else \
        Upstream(tps=1e9, latency=latency)
    workload = Workload([(case.ramp.duration_s, case.ramp.rate_from, case.ramp.rate_to)], case.keys, case.hold_s,
                        tail_s=10)
    result = simulate(candidate, workload, upstream, Scaling(max_environments=MAX_ENVIRONMENTS), seed=seed,
                      invoke_overhead_s=measured["overhead_s"], cold_cpu_s=measured["cold_start_s"], cores=cores)
    totals = result.metrics.totals()
    return {"upstream_calls": totals["calls"], "throttled_calls": totals["throttled"],
            "cold_starts": totals["cold_starts"], "failed_invokes": totals["errors"]}


def real(case: Case, ext_dir, env, proxy) -> dict:
    names = key_names(case.keys)
    proxy.reset_state()
    if case.quota:
        proxy.limit(SSM_READS, *case.quota)
    result = run_scenario(case.name, ext_dir, env, expand(case.settings, names), proxy, names, case.ramp,
                          case.hold_s, max_environments=MAX_ENVIRONMENTS, log=lambda line: print(line, flush=True))
    return {"upstream_calls": result.upstream_calls, "throttled_calls": result.throttled_calls,
            "cold_starts": result.environments, "failed_invokes": result.failed}


def agreement(real_value: float, model_value: float) -> float:
    return (model_value - real_value) / real_value if real_value else (0.0 if model_value == 0 else float("inf"))


def render(cases: list[Case], measured: dict) -> str:
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename} ({os.cpu_count()} cores); probe: cold start "
        f"{measured['cold_start_s'] * 1000:.0f} ms alone, warm invoke overhead {measured['overhead_s'] * 1000:.1f} ms, "
        f"upstream answer {measured['fetch_s'] * 1000:.1f} ms; bound {MAX_ENVIRONMENTS} environments.",
        "",
        "| workload | upstream calls: real / model | throttled: real / model | cold starts: real / model "
        "| failed invokes: real / model |",
        "|---|---|---|---|---|",
    ]
    for c in cases:
        r, m = c.figures["real"], c.figures["model"]
        cells = []
        for key in ("upstream_calls", "throttled_calls", "cold_starts", "failed_invokes"):
            diff = agreement(r[key], m[key])
            shown = "" if key == "failed_invokes" or r[key] == m[key] else f" ({diff:+.0%})"
            cells.append(f"{r[key]} / {m[key]}{shown}")
        lines.append(f"| {c.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", help="unpacked layer folder: the compiled binary instead of python -m app")
    parser.add_argument("--only", action="append", help="run only the workloads whose name contains this")
    parser.add_argument("--cores", type=float, default=float(os.cpu_count() or 1),
                        help="cores the model shares cold starts over (default: this machine's)")
    parser.add_argument("--json", help="write the probe, the real and the model figures here")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or any(o in c.name for o in args.only)]
    work = Path(tempfile.mkdtemp(prefix="pscache-calibrate-"))
    ext_dir = pscache_extensions(work, args.layer)
    aws = start_local_aws(extra_parameters=max(c.keys for c in cases) - 1)
    env = base_env(aws.proxy.url, 0)
    try:
        measured = probe(ext_dir, env, aws.proxy)
        print(f"probe: {measured}", flush=True)
        for case in cases:
            case.figures["real"] = real(case, ext_dir, env, aws.proxy)
            case.figures["model"] = model(case, measured, args.cores)
            print(f"{case.name}: {case.figures}", flush=True)
    finally:
        aws.close()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"probe": measured, "cores": args.cores, "cases": [
            {"name": c.name, **c.figures} for c in cases]}, indent=1))
    print(render(cases, measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
