"""One environment at Managed Instances scale: cache hits with 64 to 1,600 concurrent keep-alive clients.

    scripts/bench-lmi [--layer DIR] [--connections 64,256,800,1600] [--seconds 8] [--threads 2]
                      [--config 'NAME:VAR=VALUE ...' ...] [--processes N] [--target PATH] [--json FILE]

Under Lambda Managed Instances one environment serves up to AWS_LAMBDA_MAX_CONCURRENCY concurrent invocations
(at most 1,600), all reading through the same pscache. Here pscache runs as a local server (one process, as in an
environment), one parameter is cached, and wrk (Debian's) holds N keep-alive connections reading it for --seconds
each. Per N: answers per second that were hits (2xx), the 429s the inbound cap gave, wrk's latency p50 and p99,
the CPU pscache used per second of the run (1.0 = one core saturated; with PSCACHE_WORKERS, all its processes), its
memory after the step (PSS: shared pages divided among the processes that share them) and the upstream calls
made over the whole configuration (one parameter: 1 is right). Each --config runs in a fresh pscache.
--processes N runs N independent pscache processes on N ports, each with its own wrk and 1/N of the connections,
at once: the ceiling a design serving hits from several processes could reach on this machine (each process here
has its own cache, which that design would not).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.seeded_aws import PARAM, TOKEN, base_env, pscache_extensions, start_local_aws
from locallambda.net import free_port, http_get, wait_until_serving
from locallambda.procstat import cpu_ns, pss_kb, tree

DEFAULT_CONFIGS = ["cap 800 (no AWS_LAMBDA_MAX_CONCURRENCY):",
                   "AWS_LAMBDA_MAX_CONCURRENCY=1600:AWS_LAMBDA_MAX_CONCURRENCY=1600"]


def milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> dict:
    total, seconds = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out).group(1, 2)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    refused = int(non_2xx.group(1)) if non_2xx else 0
    return {"requests": int(total), "seconds": float(seconds), "non_2xx": refused,
            "hits_per_s": (int(total) - refused) / float(seconds),
            "p50_ms": milliseconds(latency["50"]), "p99_ms": milliseconds(latency["99"]),
            "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0}


def upstream_calls(aws) -> int:
    return sum(aws.proxy.count(api) for api in ("GetParameter", "GetParameters", "GetSecretValue"))


def tree_cpu(procs) -> float:
    return sum(cpu_ns(pid) or 0 for p in procs for pid in tree(p.pid)) / 1e9


def run_config(ext_dir: Path, aws, settings: dict[str, str], connections: list[int], seconds: int,
               threads: int, processes: int = 1, target: str = PARAM) -> list[dict]:
    endpoint = aws.proxy.url
    calls_before = upstream_calls(aws)
    ports = [free_port() for _ in range(processes)]
    procs = [subprocess.Popen([str(ext_dir / "pscache")], env=dict(base_env(endpoint, port), **settings),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    rows = []
    try:
        for port, proc in zip(ports, procs):
            wait_until_serving(port, proc)
            assert http_get(port, target, token=TOKEN).status == 200
        for n in connections:
            cpu_before, started = tree_cpu(procs), time.monotonic()
            wrks = [subprocess.Popen(
                ["wrk", f"-t{threads}", f"-c{n // processes}", f"-d{seconds}s", "--latency", "--timeout", "10s",
                 "-H", f"X-Aws-Parameters-Secrets-Token: {TOKEN}", f"http://127.0.0.1:{port}{target}"],
                stdout=subprocess.PIPE, text=True) for port in ports]
            parts = [parse_wrk(w.communicate(timeout=seconds + 60)[0]) for w in wrks]
            cpu = (tree_cpu(procs) - cpu_before) / (time.monotonic() - started)
            row = {"connections": n, "pscache_cpu": cpu, "processes": processes,
                   "pss_mb": sum(pss_kb(pid) for p in procs for pid in tree(p.pid)) / 1024,
                   "upstream_calls": upstream_calls(aws) - calls_before,
                   "requests": sum(p["requests"] for p in parts), "non_2xx": sum(p["non_2xx"] for p in parts),
                   "hits_per_s": sum(p["hits_per_s"] for p in parts),
                   "socket_errors": sum(p["socket_errors"] for p in parts),
                   # with several processes: the worst of their percentiles
                   "p50_ms": max(p["p50_ms"] for p in parts), "p99_ms": max(p["p99_ms"] for p in parts)}
            print(f"  {n} connections: {row}", flush=True)
            rows.append(row)
            time.sleep(1)  # let the closed connections go before the next step
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", help="unpacked layer folder: the compiled binary instead of python -m app")
    parser.add_argument("--connections", default="64,128,256,512,800,1024,1600")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--config", action="append", help="NAME:VAR=VALUE VAR=VALUE (repeatable)")
    parser.add_argument("--processes", type=int, default=1, help="independent pscache processes (see above)")
    parser.add_argument("--target", default=PARAM, help="the request wrk repeats (default: one cached parameter)")
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench-lmi needs wrk (Debian: apt-get install wrk)")
    connections = [int(n) for n in args.connections.split(",")]
    configs = []
    for text in args.config or DEFAULT_CONFIGS:
        name, _, pairs = text.partition(":")
        configs.append((name, dict(pair.split("=", 1) for pair in pairs.split())))
    work = Path(tempfile.mkdtemp(prefix="pscache-lmi-"))
    aws = start_local_aws()
    results = {}
    try:
        ext_dir = pscache_extensions(work, args.layer)
        for name, settings in configs:
            print(f"{name}:", flush=True)
            results[name] = run_config(ext_dir, aws, settings, connections, args.seconds, args.threads,
                                       args.processes, args.target)
    finally:
        aws.close()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, {os.uname().nodename} ({os.cpu_count()} cores), "
          f"{'the compiled binary' if args.layer else 'python -m app'} x {args.processes}, wrk -t{args.threads}, "
          f"{args.seconds} s per step\n")
    print("| configuration | connections | hits/s | 429 answers | p50 (ms) | p99 (ms) | socket errors "
          "| pscache CPU (cores) | PSS (MB) | upstream calls |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        for r in rows:
            print(f"| {name} | {r['connections']} | {r['hits_per_s']:,.0f} | {r['non_2xx']:,} | {r['p50_ms']:.1f} | "
                  f"{r['p99_ms']:.1f} | {r['socket_errors']} | {r['pscache_cpu']:.2f} | {r['pss_mb']:.1f} | "
                  f"{r['upstream_calls']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
