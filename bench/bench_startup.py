"""Side-by-side start-up, latency, throughput and memory: compiled layers versus `python -m app`.

    scripts/bench-startup --layer [NAME=]DIR [--layer ...] [--zip [NAME=]ZIP] [--runs 7] [--wrk-seconds 5]
                          [--no-python] [--json FILE]

Every candidate runs on this machine in the same invocation, alternating run by run, so machine noise hits
all alike; every figure is the median of --runs runs, and the ratios are against the first column. Traffic goes
to loopback only and every loop is bounded. Figures:
  exec->register, exec->first event/next   under the Lambda emulator (its own clock, perf_counter)
  exec->listener answers                   first HTTP answer, polled from function init code
  first fetch after INIT                   one parameter miss, through the proxy to moto
  cache-hit latency                        median of 300 sequential keep-alive GETs
  cache-hit throughput                     wrk, 1 thread, 8 connections, --wrk-seconds
  peak RSS                                 VmHWM after one parameter and one secret were served
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.layers import parse_layers
from bench.seeded_aws import PARAM, SECRET, TOKEN, base_env, start_local_aws
from locallambda.emulator import LambdaEmulator
from locallambda.extensions import layer_extensions, python_extensions
from locallambda.net import free_port, http_get, wait_until_serving


def lifecycle_run(ext_dir: Path, endpoint: str, work: Path) -> dict[str, float]:
    """One cold start under the emulator: register, first next, first answer, first fetch."""
    port = free_port()
    answered = {}

    def function_init():
        # Poll as fast as a function's init code would; the listener is bound before register.
        deadline = time.perf_counter() + 20
        while time.perf_counter() < deadline:
            try:
                http_get(port, "/", timeout=5)
                answered["t"] = time.perf_counter()
                return
            except OSError:
                time.sleep(0.0005)

    with LambdaEmulator(ext_dir, env=base_env(endpoint, port), runtime_init=function_init, freeze=False,
                        log_dir=work / "emu-logs") as emu:
        init = emu.init()
        if not init.ok:
            raise SystemExit(f"init failed: {init}\n{emu.output('pscache')}")
        agent = emu.agent("pscache")
        started = time.perf_counter()
        first = http_get(port, PARAM, token=TOKEN)
        first_fetch = time.perf_counter() - started
        assert first.status == 200, first
        emu.shutdown()
    return {
        "exec_to_register_ms": (agent.t_register - agent.t_exec) * 1000,
        "exec_to_first_next_ms": (agent.t_first_next - agent.t_exec) * 1000,
        "exec_to_answer_ms": (answered["t"] - agent.t_exec) * 1000,
        "first_fetch_ms": first_fetch * 1000,
    }


def serving_run(ext_dir: Path, endpoint: str, wrk_seconds: int) -> dict[str, float]:
    """pscache as a local server: peak RSS after one parameter and one secret, hit latency, throughput."""
    port = free_port()
    env = base_env(endpoint, port)
    proc = subprocess.Popen([str(ext_dir / "pscache")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port, proc)
        assert http_get(port, PARAM, token=TOKEN).status == 200
        assert http_get(port, SECRET, token=TOKEN).status == 200
        status = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines())
        peak_mb = int(status["VmHWM"].split()[0]) / 1024
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        samples = []
        for _ in range(300):
            t = time.perf_counter()
            conn.request("GET", PARAM, headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
            conn.getresponse().read()
            samples.append(time.perf_counter() - t)
        conn.close()
        result = {"peak_rss_mb": peak_mb, "hit_latency_ms": statistics.median(samples) * 1000}
        if shutil.which("wrk"):
            out = subprocess.run(
                ["wrk", "-t1", "-c8", f"-d{wrk_seconds}s", "-H", f"X-Aws-Parameters-Secrets-Token: {TOKEN}",
                 f"http://127.0.0.1:{port}{PARAM}"], capture_output=True, text=True, timeout=wrk_seconds + 30,
            ).stdout
            match = re.search(r"Requests/sec:\s+([\d.]+)", out)
            result["hits_per_s"] = float(match.group(1)) if match else float("nan")
        return result
    finally:
        proc.terminate()
        proc.wait(10)


def layer_sizes(zip_path: Path | None, layer_dir: Path) -> dict[str, float]:
    sizes = {"unzipped_mb": sum(p.stat().st_size for p in layer_dir.rglob("*") if p.is_file()) / 1e6}
    if zip_path and zip_path.is_file():
        sizes["zip_mb"] = zip_path.stat().st_size / 1e6
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", action="append", required=True, metavar="[NAME=]DIR",
                        help="unpacked layer folder (extensions/pscache + pscache/); repeatable, NAME labels it")
    parser.add_argument("--zip", action="append", default=[], metavar="[NAME=]ZIP", help="a layer's zip, for its size")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument("--no-python", action="store_true", help="leave `python -m app` out")
    parser.add_argument("--json", help="write the raw results here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pscache-bench-"))
    layers = dict(parse_layers(args.layer))
    zips = dict(parse_layers(args.zip))
    if unknown := set(zips) - set(layers):
        parser.error(f"--zip for no --layer of that name: {sorted(unknown)}")
    candidates = {name: layer_extensions(path) for name, path in layers.items()}
    if not args.no_python:
        candidates["python -m app"] = python_extensions(work / "python-ext")
    aws = start_local_aws()
    proxy = aws.proxy
    runs: dict[str, list[dict]] = {name: [] for name in candidates}
    try:
        for i in range(args.runs):
            for name, ext_dir in candidates.items():  # alternate, so noise hits all alike
                figures = lifecycle_run(ext_dir, proxy.url, work)
                figures.update(serving_run(ext_dir, proxy.url, args.wrk_seconds))
                runs[name].append(figures)
                print(f"run {i + 1}/{args.runs} {name}: " + ", ".join(f"{k}={v:.1f}" for k, v in figures.items()), flush=True)
    finally:
        aws.close()
        shutil.rmtree(work, ignore_errors=True)

    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    for name, path in layers.items():
        medians[name].update(layer_sizes(zips.get(name), path))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "medians": medians}, indent=2))
    print(render(medians, args))
    return 0


ROWS = [
    ("exec_to_register_ms", "exec → register received (ms)"),
    ("exec_to_first_next_ms", "exec → first event/next (ms)"),
    ("exec_to_answer_ms", "exec → first HTTP answer (ms)"),
    ("first_fetch_ms", "first fetch after INIT, parameter miss (ms)"),
    ("hit_latency_ms", "cache-hit latency, sequential keep-alive (ms)"),
    ("hits_per_s", "cache-hit throughput, wrk -t1 -c8 (req/s)"),
    ("peak_rss_mb", "peak RSS after one parameter + one secret (MB)"),
]


def render(medians: dict, args) -> str:
    names = list(medians)
    first, others = medians[names[0]], names[1:]
    lines = [
        f"Median of {args.runs} alternating runs on {os.uname().nodename} ({os.cpu_count()} cores), "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| figure | " + " | ".join(names) + "".join(f" | {n} / {names[0]}" for n in others) + " |",
        "|---" * (1 + len(names) + len(others)) + "|",
    ]
    for key, label in ROWS + [("zip_mb", "layer zip (MB)"), ("unzipped_mb", "layer unzipped (MB)")]:
        if key not in first:
            continue
        cells = [f"{medians[n][key]:.1f}" if key in medians[n] else "–" for n in names]
        ratios = [f"{medians[n][key] / first[key]:.2f}" if key in medians[n] and first[key] else "–" for n in others]
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
