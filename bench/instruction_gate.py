"""The start-up budget CI keeps: instructions from exec to the first served value, and peak RSS, of a layer's binary.

    scripts/instruction-gate --layer DIR [--budget build/start-up-budget.json] [--set]

Counts the binary's instructions with callgrind (bench/instructions.py: start-up, then one parameter and one
secret served; deterministic, whatever the machine's load) and measures its peak RSS (VmHWM after the same two
reads, natively, median of 3 runs), and compares both with the budget file kept in the repository. Fails when a
figure exceeds its budget by more than the file's tolerance (3 % by default). A figure well under its budget is
reported too: lowering the budget is part of every change that earns it (--set writes the measured figures and
the commit they were measured at; commit the file). Raising it needs a reason in the commit message.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.instructions import binary_command, count_candidates
from bench.seeded_aws import PARAM, SECRET, TOKEN, base_env, start_local_aws
from locallambda import procstat
from locallambda.extensions import ROOT
from locallambda.net import free_port, http_get

BUDGET_FILE = ROOT / "build" / "start-up-budget.json"
DEFAULT_TOLERANCE = 0.03
RSS_RUNS = 3
FIGURES = {"instructions": "instructions, exec -> one parameter and one secret served",
           "peak_rss_kb": "peak RSS (VmHWM) after them, KiB"}


class BudgetError(ValueError):
    """The budget file is missing a figure or is not what this script writes."""


@dataclass(frozen=True)
class Budget:
    figures: dict[str, int]
    commit: str
    tolerance: float = DEFAULT_TOLERANCE

    @classmethod
    def read(cls, path: Path) -> Budget:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise BudgetError(f"{path}: cannot read the budget: {exc}") from None
        figures = {name: data.get(name) for name in FIGURES}
        bad = [name for name, value in figures.items() if not isinstance(value, int) or value <= 0]
        if bad or not isinstance(data.get("commit"), str):
            raise BudgetError(f"{path}: needs positive whole numbers for {', '.join(FIGURES)} and the commit "
                              f"that set them; wrong or missing: {', '.join(bad) or 'commit'}")
        tolerance = data.get("tolerance", DEFAULT_TOLERANCE)
        if not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
            raise BudgetError(f"{path}: tolerance {tolerance!r} must be a fraction from 0 to 1 (0.03 = 3 %)")
        return cls(figures, data["commit"], float(tolerance))

    def write(self, path: Path) -> None:
        data = {**self.figures, "commit": self.commit, "tolerance": self.tolerance,
                "what": {name: label for name, label in FIGURES.items()},
                "measured_by": "scripts/instruction-gate --layer DIR (the release layer, x86_64)"}
        Path(path).write_text(json.dumps(data, indent=2) + "\n")


def verdicts(measured: dict[str, int], budget: Budget) -> tuple[bool, list[str]]:
    """Whether every figure is within its budget plus the tolerance, and one line per figure saying how it stands."""
    ok, lines = True, []
    for name, limit in budget.figures.items():
        value = measured[name]
        ratio = value / limit
        line = f"{name}: {value:,} against a budget of {limit:,} (set at {budget.commit}): {ratio - 1:+.1%}"
        if ratio > 1 + budget.tolerance:
            ok = False
            line += f" -- OVER the budget by more than {budget.tolerance:.0%}: find what grew, or raise the budget " \
                    "with the reason in the commit message"
        elif ratio < 1 - budget.tolerance:
            line += " -- under the budget: lower it in this change (--set) so the gain is kept"
        lines.append(line)
    return ok, lines


def peak_rss_kb(layer: Path, endpoint: str, runs: int = RSS_RUNS) -> int:
    """Median VmHWM of the binary after one parameter and one secret, run natively as a local server."""
    peaks = []
    for _ in range(runs):
        port = free_port()
        env = dict(base_env(endpoint, port), PSCACHE_EXTENSION_NAME="pscache")
        proc = subprocess.Popen(binary_command(layer), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            for path in (PARAM, SECRET):
                response = _get_once_listening(port, path, proc)
                if response.status != 200:
                    raise RuntimeError(f"GET {path} answered {response.status}: {response.text[:300]}")
            memory = procstat.memory(proc.pid)
            if memory is None:
                raise RuntimeError("pscache exited before its memory could be read")
            peaks.append(memory.peak_rss_kb)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    return int(statistics.median(peaks))


def _get_once_listening(port: int, path: str, proc: subprocess.Popen):
    """GET path as soon as the port is bound (a refused connect never reaches pscache, so it changes nothing)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return http_get(port, path, TOKEN, timeout=60)
        except ConnectionRefusedError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def measure(layer: Path) -> dict[str, int]:
    counts = count_candidates([("binary", binary_command(layer), {})])["binary"]
    aws = start_local_aws()
    try:
        rss = peak_rss_kb(layer, aws.endpoint)
    finally:
        aws.close()
    return {"instructions": counts["total"], "peak_rss_kb": rss}


def head_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return (out.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", required=True, help="unpacked layer whose binary to measure")
    parser.add_argument("--budget", default=str(BUDGET_FILE), help="the budget file (default: %(default)s)")
    parser.add_argument("--set", action="store_true", help="write the measured figures as the new budget")
    args = parser.parse_args(argv)
    budget_path = Path(args.budget)
    budget = None
    if not args.set:
        budget = Budget.read(budget_path)  # a broken file fails before the long measurement
    measured = measure(Path(args.layer))
    if args.set:
        old = Budget.read(budget_path) if budget_path.exists() else None
        Budget(measured, head_commit(), old.tolerance if old else DEFAULT_TOLERANCE).write(budget_path)
        print(f"budget written to {budget_path}: " + ", ".join(f"{k} {v:,}" for k, v in measured.items()))
        return 0
    ok, lines = verdicts(measured, budget)
    print("\n".join(lines))
    print("start-up budget: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
