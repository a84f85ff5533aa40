"""Instructions pscache spends from exec to its first served value, counted by valgrind's callgrind.

    scripts/count-instructions [--layer [NAME=]DIR ...] [--python] [--python-at NAME=DIR ...] [--lib DIR]
                               [--setting VAR=VALUE] [--json FILE]

Instruction counts do not depend on the machine's speed or load, so they compare builds across days and machines
(CPU time does not). Each candidate runs once as a plain local server (no Lambda: the same start-up, without the
Extensions API) under `valgrind --tool=callgrind`, against the local AWS (moto), in three phases:

  start-up    exec -> idle: bound, the server stack and the AWS SDK loaded, both clients made and primed
  first read  one parameter and one secret served (the first value of each service), then a dump
  next read   the same two again with refreshNow=true (fetched again): what a read costs once everything has run
              once; first read minus next read is the first-call work still left for the first read

The sum of the first two is the figure CI gates (scripts/instruction-gate): what a cold start costs when INIT waits
for the SDK (the boosted INIT, provisioned concurrency), which is also the least a cold start can spend. "Idle"
means the process's CPU time stopped growing; uvicorn's one-second ticker keeps running and is counted, a few
hundred thousand instructions a second at most. Candidates: each --layer (the compiled binary of an unpacked
layer); with --python, `python -OO -m app` from this checkout; each --python-at, another checkout's app/ (e.g.
`git archive main app`). --lib runs the Python candidates on a layer's pscache/lib instead of the venv's packages.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.layers import parse_layers
from bench.seeded_aws import PARAM, SECRET, TOKEN, base_env, start_local_aws
from locallambda import procstat
from locallambda.extensions import ROOT
from locallambda.net import free_port, http_get

PHASES = ("start_up", "first_read", "next_read")
READS = (PARAM, SECRET)
IDLE_CPU_NS = 40_000_000  # at most this much CPU per IDLE_WINDOW_S (valgrind-slowed ticker) counts as idle
IDLE_WINDOW_S = 2.0
START_TIMEOUT_S = 900  # start-up under callgrind runs ~50x slower than natively
_TOTAL = re.compile(rb"^(?:totals|summary):\s*(\d+)", re.M)


def dump_total(path: Path) -> int:
    """The instruction count (Ir) of one callgrind dump file."""
    match = _TOTAL.search(path.read_bytes())
    if match is None:
        raise ValueError(f"{path}: no totals line; not a callgrind dump?")
    return int(match.group(1))


def binary_command(layer: Path) -> list[str]:
    """The layer's binary itself: the launcher is a shell script, whose instructions are not pscache's."""
    binary = Path(layer) / "pscache" / "pscache"
    if not binary.is_file():
        raise FileNotFoundError(f"{layer} is not an unpacked pscache layer: no pscache/pscache")
    return [str(binary)]


def python_command(lib: Path | None = None, source: Path = ROOT) -> tuple[list[str], dict[str, str]]:
    """`python -OO -m app` of source's app/; with lib (a layer's pscache/lib), on those packages instead of the
    venv's."""
    if lib is None:
        return [sys.executable, "-OO", "-m", "app"], {"PYTHONPATH": str(source)}
    return [sys.executable, "-OO", "-S", "-m", "app"], {"PYTHONPATH": f"{source}:{lib}"}


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)


def _wait_idle(proc: subprocess.Popen) -> None:
    """Until the process's CPU time has stopped growing. No request is sent: it would warm the very HTTP path
    whose first use the first read measures (the listening socket is bound from the start anyway)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pscache exited during start-up with {proc.returncode}")
        cpu = procstat.cpu_ns(proc.pid)
        if cpu is not None and last is not None and cpu - last < IDLE_CPU_NS:
            return
        last = cpu
        time.sleep(IDLE_WINDOW_S)
    raise TimeoutError(f"pscache did not become idle within {START_TIMEOUT_S} s")


def count(command: list[str], endpoint: str, work: Path, settings: dict[str, str] | None = None
          ) -> dict[str, int]:
    """Run command under callgrind as a local server; the instructions of each phase (see the module doc)."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is needed: apt-get install valgrind")
    work.mkdir(parents=True, exist_ok=True)
    out = work / "callgrind.out"
    port = free_port()
    env = dict(base_env(endpoint, port), PSCACHE_EXTENSION_NAME="pscache", **(settings or {}))
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
                "--dump-line=no", "--compress-pos=yes"]
    with open(work / "pscache.log", "wb") as log:
        proc = subprocess.Popen(valgrind + command, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_idle(proc)
        _control(proc.pid, "--dump=start_up")
        for phase, query in (("first_read", ""), ("next_read", "&refreshNow=true")):
            for path in READS:
                response = http_get(port, path + query, TOKEN, timeout=START_TIMEOUT_S)
                if response.status != 200:
                    raise RuntimeError(f"GET {path} answered {response.status}: {response.text[:300]}")
            _control(proc.pid, f"--dump={phase}")
    finally:
        with_signal(proc, signal.SIGTERM)
    dumps = sorted(work.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
    if len(dumps) < len(PHASES):
        raise RuntimeError(f"callgrind wrote {len(dumps)} dump(s), expected {len(PHASES)}; log: {work / 'pscache.log'}")
    counts = dict(zip(PHASES, (dump_total(p) for p in dumps)))
    counts["total"] = counts["start_up"] + counts["first_read"]
    return counts


def with_signal(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def count_candidates(candidates: list[tuple[str, list[str], dict[str, str]]], settings: dict[str, str] | None = None,
                     work: Path | None = None) -> dict[str, dict[str, int]]:
    """Every candidate (name, command, its own environment) counted against one local AWS:
    {name: {phase: instructions}}."""
    work = work or Path(tempfile.mkdtemp(prefix="pscache-instructions-"))
    results = {}
    aws = start_local_aws()
    try:
        for i, (name, command, env) in enumerate(candidates):
            results[name] = count(command, aws.endpoint, work / f"{i}", {**env, **(settings or {})})
            print(f"{name}: " + ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in results[name].items()), flush=True)
    finally:
        aws.close()
    return results


def table(results: dict[str, dict[str, int]]) -> str:
    """Markdown: one row per phase, candidates side by side, the last ones as a ratio to the first."""
    names = list(results)
    head = "| instructions (M) | " + " | ".join(names) + "".join(f" | {n} ÷ {names[0]}" for n in names[1:]) + " |"
    lines = [head, "|---|" + "---|" * (2 * len(names) - 1)]
    for phase in (*PHASES, "total"):
        base = results[names[0]][phase]
        cells = [f"{results[n][phase] / 1e6:.1f}" for n in names]
        cells += [f"{results[n][phase] / base:.2f}" for n in names[1:]]
        lines.append(f"| {phase.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", action="append", default=[], metavar="[NAME=]DIR",
                        help="unpacked layer whose binary to count (repeatable; NAME labels it)")
    parser.add_argument("--python", action="store_true", help="also count `python -OO -m app` from this checkout")
    parser.add_argument("--python-at", action="append", default=[], metavar="NAME=DIR",
                        help="also count `python -OO -m app` of another checkout's app/ (e.g. `git archive main app`)")
    parser.add_argument("--lib", help="with --python: run on this folder's packages (a layer's pscache/lib, or one "
                                      "made like it) instead of the venv's")
    parser.add_argument("--setting", action="append", default=[], metavar="VAR=VALUE",
                        help="an environment variable for every candidate")
    parser.add_argument("--json", help="write the counts here")
    args = parser.parse_args()
    candidates = [(name, binary_command(path), {}) for name, path in parse_layers(args.layer)]
    if args.python:
        candidates.append(("python -m app", *python_command(Path(args.lib) if args.lib else None)))
    for name, source in parse_layers(args.python_at):
        candidates.append((name.replace("pscache ", "python -m app "),
                           *python_command(Path(args.lib) if args.lib else None, source)))
    if not candidates:
        parser.error("nothing to count: give --layer DIR, --python or --python-at")
    results = count_candidates(candidates, dict(s.split("=", 1) for s in args.setting))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
