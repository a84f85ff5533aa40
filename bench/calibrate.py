"""The fleet model against the real fleet, on the same workloads, at the sizes this machine holds.

    scripts/fleet-calibrate [--layer DIR] [--only NAME ...] [--json FILE] [--model-only FILE]

Each workload runs first as real environments (bench/fleet.py: pscache processes under the emulator, moto behind
the fault proxy, which throttles beyond a quota when the workload has one), then in the model, which is told
only what this machine measured in a probe run just before: one environment's cold start (CPU-bound, so the
model shares it over the host's cores as the real start-ups share them), a warm invoke's overhead, the local
AWS's answer time. Upstream calls, throttled calls and cold starts are compared; the model must agree within 10 %.
--model-only FILE takes the probe and the real figures from an earlier --json and runs only the model again.
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
from bench.fleet import Environment, Ramp, parameter_path, run_scenario
from bench.model.candidates import Pscache, StartUp
from bench.model.lambda_fleet import Scaling
from bench.model.run import Upstream, Workload, simulate
from bench.model.services import Latency
from bench.seeded_aws import PARAM_NAME, base_env, pscache_extensions, start_local_aws
from locallambda.procstat import cpu_ns

MAX_ENVIRONMENTS = 40
DRAIN_S = 120  # bench/fleet.py's Fleet.drain
AGREEMENT = 0.10


@dataclass
class Case:
    name: str
    ramp: Ramp
    hold_s: float
    keys: int
    settings: dict[str, str]
    quota: tuple[float, float] | None = None  # (calls per second, burst) of the local SSM
    bound: int = MAX_ENVIRONMENTS
    figures: dict = field(default_factory=dict)


# Arrivals ramp slowly and invokes hold 1 s, so the fleet's size follows the workload rather than how long the
# start-ups of one second take while they share this machine's two cores (the model's Lambda has no such sharing).
CASES = [
    Case("5 environments, TTL 5 s", Ramp(40, 1, 5), 1.0, 1, {"SSM_PARAMETER_STORE_TTL": "5"}),
    Case("20 environments, 2 keys, TTL 2 s", Ramp(40, 2, 18), 1.0, 2, {"SSM_PARAMETER_STORE_TTL": "2"}),
    Case("40 environments, 2 keys, TTL 300 s + prefetch", Ramp(40, 4, 28), 1.0, 2,
         {"SSM_PARAMETER_STORE_TTL": "300", "PSCACHE_PREFETCH": "{prefetch}"}),
    Case("5 environments, TTL 0, quota 4/s", Ramp(40, 1, 5), 1.0, 1, {"SSM_PARAMETER_STORE_TTL": "0"}, (4, 4)),
    Case("20 environments, 2 keys, TTL 1 s, quota 10/s", Ramp(40, 2, 18), 1.0, 2,
         {"SSM_PARAMETER_STORE_TTL": "1"}, (10, 10)),
    Case("40 environments, TTL 1 s + stale-if-error, quota 10/s", Ramp(40, 4, 28), 1.0, 1,
         {"SSM_PARAMETER_STORE_TTL": "1", "PSCACHE_STALE_IF_ERROR": "60"}, (10, 10)),
    Case("20 environments, 2 keys, TTL 1 s, quota 10/s, adaptive retries", Ramp(40, 2, 18), 1.0, 2,
         {"SSM_PARAMETER_STORE_TTL": "1", "PSCACHE_RETRY_MODE": "adaptive"}, (10, 10)),
    # One environment reading without a cache, each read after the last (the bound queues the arrivals): the
    # retry policies alone, against botocore's own limiter in the real process.
    Case("1 environment, no cache, 5 reads/s, quota 2/s, standard retries", Ramp(12, 5, 5), 0.0, 1,
         {"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false", "PSCACHE_RETRY_MODE": "standard"}, (2, 2), 1),
    Case("1 environment, no cache, 5 reads/s, quota 2/s, adaptive retries", Ramp(12, 5, 5), 0.0, 1,
         {"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false", "PSCACHE_RETRY_MODE": "adaptive"}, (2, 2), 1),
    # A burst: the fleet is made in its first seconds and prefetches 3 keys in one call each; at expiry it refetches
    # them one by one, three times the calls, all in the same seconds unless the TTLs are jittered.
    Case("burst of 30/s, 3 keys prefetched, TTL 30 s, quota 10/s", Ramp(80, 30, 30), 1.0, 3,
         {"SSM_PARAMETER_STORE_TTL": "30", "PSCACHE_PREFETCH": "{prefetch}"}, (10, 10)),
    Case("burst of 30/s, 3 keys prefetched, TTL 30 s + jitter 50 %, quota 10/s", Ramp(80, 30, 30), 1.0, 3,
         {"SSM_PARAMETER_STORE_TTL": "30", "PSCACHE_PREFETCH": "{prefetch}", "PSCACHE_TTL_JITTER_PERCENT": "50"},
         (10, 10)),
]


def key_names(keys: int) -> list[str]:
    return [PARAM_NAME] + [f"{PARAM_NAME}-{i}" for i in range(1, keys)]


def expand(settings: dict[str, str], names: list[str]) -> dict[str, str]:
    prefetch = " ".join(f"ssm:{n}" for n in names)
    return {k: v.replace("{prefetch}", prefetch) for k, v in settings.items()}


def idle_cores(seconds: float = 2.0) -> float:
    """Cores left idle by everything else on this shared machine, measured over a few seconds."""
    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, all

    idle0, all0 = sample()
    time.sleep(seconds)
    idle1, all1 = sample()
    return (os.cpu_count() or 1) * (idle1 - idle0) / max(1, all1 - all0)


def probe(ext_dir, env) -> dict:
    """One environment alone, TTL 0, one cold and three warm invokes: its cold start (wall time and the CPU its
    pscache used: the SDK import runs on a thread beside the main one), a warm invoke's overhead, and the local
    AWS's answer time as pscache sees it (every read a miss)."""
    hold = 0.2
    one = Environment(0, ext_dir, dict(env, SSM_PARAMETER_STORE_TTL="0"))
    path = [parameter_path(PARAM_NAME)]
    try:
        started = time.perf_counter()
        cold = one.invoke(path, hold, 60)
        cold_wall = time.perf_counter() - started
        cold_cpu = (cpu_ns(one.emu.pid("pscache")) or 0) / 1e9
        warm = []
        for _ in range(3):
            time.sleep(0.5)
            started = time.perf_counter()
            result = one.invoke(path, hold, 60)
            warm.append((time.perf_counter() - started, result.response))
    finally:
        one.emu.close()
    if not cold.ok or not all(isinstance(reads, list) and reads[0][0] == 200 for _, reads in warm):
        raise SystemExit(f"probe: an invoke failed: {cold}, {warm}")
    fetch_s = statistics.median(reads[0][1] for _, reads in warm) / 1000
    overhead_s = statistics.median(wall - hold - reads[0][1] / 1000 for wall, reads in warm)
    cold_s = cold_wall - hold - fetch_s - overhead_s
    return {"cold_start_s": cold_s, "cold_cpu_s": cold_cpu, "cold_parallelism": max(1.0, cold_cpu / cold_s),
            "overhead_s": overhead_s, "fetch_s": fetch_s}


def model(case: Case, measured: dict, cores: float, seeds: int = 5) -> dict:
    """The case in the model, told the probe's figures and the cores left idle just before the real run; the mean
    of a few seeds, since backoff is random."""
    names = key_names(case.keys)
    latency = Latency(measured["fetch_s"], 3 * measured["fetch_s"])
    upstream = Upstream(tps=case.quota[0], burst=case.quota[1], latency=latency) if case.quota else \
        Upstream(tps=1e9, latency=latency)
    # The real fleet drains its queued invokes for up to DRAIN_S after the last arrival; so does the model.
    workload = Workload([(case.ramp.duration_s, case.ramp.rate_from, case.ramp.rate_to)], case.keys, case.hold_s,
                        tail_s=DRAIN_S)
    sums = {"upstream_calls": 0, "throttled_calls": 0, "cold_starts": 0, "failed_invokes": 0}
    for seed in range(1, seeds + 1):
        candidate = Pscache(StartUp(init_s=0.0, sdk_s=0.0, hit_s=0.002), expand(case.settings, names))
        result = simulate(candidate, workload, upstream, Scaling(max_environments=case.bound), seed=seed,
                          invoke_overhead_s=measured["overhead_s"], cold_cpu_s=measured["cold_cpu_s"], cores=cores,
                          cold_parallelism=measured["cold_parallelism"], read_all=True)
        totals = result.metrics.totals()
        for key, name in (("upstream_calls", "calls"), ("throttled_calls", "throttled"),
                          ("cold_starts", "cold_starts"), ("failed_invokes", "errors")):
            sums[key] += totals[name]
    return {key: round(value / seeds) for key, value in sums.items()}


def real(case: Case, ext_dir, env, proxy) -> dict:
    names = key_names(case.keys)
    proxy.reset_state()
    if case.quota:
        proxy.limit(SSM_READS, *case.quota)
    result = run_scenario(case.name, ext_dir, env, expand(case.settings, names), proxy, names, case.ramp,
                          case.hold_s, max_environments=case.bound, log=lambda line: print(line, flush=True))
    return {"upstream_calls": result.upstream_calls, "throttled_calls": result.throttled_calls,
            "cold_starts": result.environments, "failed_invokes": result.failed}


def agreement(real_value: float, model_value: float) -> float:
    return (model_value - real_value) / real_value if real_value else (0.0 if model_value == 0 else float("inf"))


def render(cases: list[Case], measured: dict) -> str:
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename} ({os.cpu_count()} cores); probe: cold start "
        f"{measured['cold_start_s'] * 1000:.0f} ms alone ({measured['cold_cpu_s'] * 1000:.0f} ms of CPU), warm invoke overhead {measured['overhead_s'] * 1000:.1f} ms, "
        f"upstream answer {measured['fetch_s'] * 1000:.1f} ms; bound {MAX_ENVIRONMENTS} environments.",
        "",
        "| workload | idle cores before | upstream calls: real / model | throttled: real / model | cold starts: real / model "
        "| failed invokes: real / model |",
        "|---|---|---|---|---|---|",
    ]
    for c in cases:
        r, m = c.figures["real"], c.figures["model"]
        cells = []
        for key in ("upstream_calls", "throttled_calls", "cold_starts", "failed_invokes"):
            diff = agreement(r[key], m[key])
            shown = "" if key == "failed_invokes" or r[key] == m[key] else f" ({diff:+.0%})"
            cells.append(f"{r[key]} / {m[key]}{shown}")
        lines.append(f"| {c.name} | {c.figures['idle_cores']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", help="unpacked layer folder: the compiled binary instead of python -m app")
    parser.add_argument("--only", action="append", help="run only the workloads whose name contains this")
    parser.add_argument("--cores", type=float,
                        help="cores the model shares cold starts over (default: those idle just before each case)")
    parser.add_argument("--json", help="write the probe, the real and the model figures here")
    parser.add_argument("--model-only", help="an earlier --json: its probe and real figures, the model run again")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or any(o in c.name for o in args.only)]
    if args.model_only:
        earlier = json.loads(Path(args.model_only).read_text())
        runs = {c["name"]: c for c in earlier["cases"]}
        cases = [c for c in cases if c.name in runs]
        for case in cases:
            case.figures = {"idle_cores": runs[case.name]["idle_cores"], "real": runs[case.name]["real"],
                            "model": model(case, earlier["probe"], runs[case.name]["idle_cores"])}
        if args.json:
            Path(args.json).write_text(json.dumps(dict(earlier, cases=[{"name": c.name, **c.figures} for c in cases]),
                                                  indent=1))
        print(render(cases, earlier["probe"]))
        return 0
    work = Path(tempfile.mkdtemp(prefix="pscache-calibrate-"))
    ext_dir = pscache_extensions(work, args.layer)
    aws = start_local_aws(extra_parameters=max(c.keys for c in cases) - 1)
    env = base_env(aws.proxy.url, 0)
    try:
        measured = probe(ext_dir, env)
        print(f"probe: {measured}", flush=True)
        for case in cases:
            cores = args.cores or idle_cores()
            case.figures["idle_cores"] = cores
            case.figures["real"] = real(case, ext_dir, env, aws.proxy)
            case.figures["model"] = model(case, measured, cores)
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
