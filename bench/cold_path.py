"""Where pscache's cold-path CPU goes, package by package: `python -X importtime -m app` to its first value.

    scripts/profile-cold-path [--layer DIR] [--runs 5] [--top 25] [--json FILE]

pscache runs as a plain local server (no Lambda) in a leaf cgroup without a quota (locallambda.sized), so its CPU
is counted in nanoseconds, threads included; it serves one parameter and one secret from the local AWS, then stops.
CPython's -X importtime gives each module's own import time (the import thread's wall time, ~CPU on an idle
machine). With --layer, the same CPython runs pscache on the layer's pscache/lib (the very bytecode and trimmed
botocore data the binary runs), so module costs are those of the shipped libraries; the binary itself cannot
report import times. Figures are medians over --runs.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.seeded_aws import PARAM, SECRET, TOKEN, base_env, start_local_aws
from locallambda import sized
from locallambda.extensions import ROOT
from locallambda.net import free_port, http_get, wait_until_serving

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def one_run(lib: Path | None, endpoint: str, environment: sized.Environment, index: int) -> dict:
    port = free_port()
    env = base_env(endpoint, port)
    leaf = environment.leaf(f"run-{index}")
    command = [sys.executable, "-X", "importtime", "-OO"]
    if lib is not None:  # the layer's packages instead of the venv's, as the binary has them
        env["PYTHONPATH"] = f"{ROOT}:{lib}"
        command += ["-S"]
    command += ["-m", "app"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=leaf.preexec())
    try:
        wait_until_serving(port, proc)
        assert http_get(port, PARAM, TOKEN).status == 200 and http_get(port, SECRET, TOKEN).status == 200
        first_value_ms = (time.perf_counter() - started) * 1000
        cpu_ms = leaf.usage().cpu_ns / 1e6
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    modules = {}
    for self_us, _, _, name in LINE.findall(stderr):
        modules[name] = modules.get(name, 0) + int(self_us) / 1000
    return {"cpu_ms": cpu_ms, "first_value_ms": first_value_ms, "modules": modules}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", help="unpacked layer: profile its pscache/lib instead of the venv's packages")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json")
    args = parser.parse_args()
    lib = Path(args.layer) / "pscache" / "lib" if args.layer else None
    backend = sized.probe()
    environment = backend.new_environment(10240)
    environment.throttle(False)
    aws = start_local_aws()
    runs = []
    try:
        for i in range(args.runs):
            runs.append(one_run(lib, aws.endpoint, environment, i))
            print(f"run {i + 1}/{args.runs}: CPU to the first value {runs[-1]['cpu_ms']:.0f} ms, "
                  f"wall {runs[-1]['first_value_ms']:.0f} ms, {len(runs[-1]['modules'])} modules", flush=True)
    finally:
        aws.close()
        environment.remove()
    names = set().union(*(r["modules"] for r in runs))
    per_module = {n: statistics.median(r["modules"].get(n, 0.0) for r in runs) for n in names}
    per_package: dict[str, float] = defaultdict(float)
    for name, ms in per_module.items():
        per_package[name.split(".")[0]] += ms
    summary = {
        "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
        "first_value_ms": statistics.median(r["first_value_ms"] for r in runs),
        "modules": len(per_module),
        "import_ms": sum(per_module.values()),
        "packages": dict(sorted(per_package.items(), key=lambda kv: -kv[1])),
        "top_modules": dict(sorted(per_module.items(), key=lambda kv: -kv[1])[: args.top]),
    }
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "runs": runs}, indent=2) + "\n")
    print(f"\nmedian of {args.runs}: CPU to the first value {summary['cpu_ms']:.0f} ms (all threads), of which "
          f"imports {summary['import_ms']:.0f} ms over {summary['modules']} modules "
          f"({'layer lib' if lib else 'venv'}: {lib or sys.prefix})\n")
    print("| package | import ms (self, summed) |\n|---|---|")
    for name, ms in list(summary["packages"].items())[:20]:
        print(f"| {name} | {ms:.1f} |")
    print("\n| module | import ms (self) |\n|---|---|")
    for name, ms in summary["top_modules"].items():
        print(f"| {name} | {ms:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
