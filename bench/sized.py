"""One cold start in a sized environment, and its figures: what a function of a given memory size sees.

Each run is a fresh LambdaEmulator environment in its own cgroup (locallambda.sized): CPU quota memory_mb / 1769
of one CPU, memory limit memory_mb, INIT at the share or boosted to one CPU (init_cpu), the extension's and the function's
files evicted from the page cache first. The function is bench/reference/function (Go, standard library): a 50 ms
init, then one parameter and one secret read through the extension per invoke; the first invoke is the cold
start, the rest are hits. The candidates are extensions folders: pscache's binary or `python -m app`, and the
compiled floor, bench/reference/extension (Go, standard library).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.seeded_aws import PARAM_NAME, PARAM_VALUE, SECRET_ID, SECRET_VALUE, TOKEN
from locallambda.emulator import LambdaEmulator
from locallambda.extensions import cold_files
from locallambda.local_aws import extension_env
from locallambda.net import free_port
from locallambda.runtimes import go_build

REFERENCE = Path(__file__).resolve().parent / "reference"
FUNCTION_INIT_MS = 50
# Lambda's INIT limit is 10 s; a sized run may pass it (that is a finding, flagged in the table), so the emulator
# waits longer instead of failing the run.
INIT_LIMIT_S = 10
INIT_WAIT_S = 120

FIGURES = ("register_ms", "register_cpu_ms", "init_ms", "first_read_ms", "cold_to_first_value_ms", "cpu_ms", "hit_ms",
           "max_memory_used_mb", "extension_memory_mb", "peak_rss_mb", "peak_anon_mb", "peak_file_mb")


@dataclass(frozen=True)
class Candidate:
    name: str
    extensions: Path  # a folder holding exactly one executable named pscache
    files: tuple[Path, ...]  # what its cold start reads from disk (evicted before each run)


def build_reference(out: Path) -> dict[str, Path]:
    """go build the floor extension and the bench function (standard library only, no module download)."""
    built = {}
    for program in ("extension", "function"):
        target = out / program / ("pscache" if program == "extension" else "bootstrap")
        built[program] = go_build(REFERENCE, f"./{program}", target, out)
    return built


def floor_candidate(built: dict[str, Path]) -> Candidate:
    folder = built["extension"].parent
    return Candidate("compiled floor (Go)", folder, (folder,))


def pscache_candidate(name: str, extensions: Path) -> Candidate:
    return Candidate(name, extensions, tuple(cold_files(extensions)))


def run_environment(candidate: Candidate, function: Path, endpoint: str, memory_mb: int, init_cpu: str,
                    invokes: int, log_dir: Path, settings: dict[str, str] | None = None) -> dict:
    """One cold start plus (invokes - 1) warm invokes; the figures of this one environment."""
    port = free_port()
    env = dict(extension_env(endpoint, TOKEN, port), BENCH_PARAMETER=PARAM_NAME, BENCH_SECRET=SECRET_ID,
               BENCH_INIT_MS=str(FUNCTION_INIT_MS), **(settings or {}))
    with LambdaEmulator(candidate.extensions, env=env, runtime=[str(function)], sized=True, memory_mb=memory_mb,
                        init_cpu=init_cpu, evict_paths=list(candidate.files), init_timeout_s=INIT_WAIT_S,
                        function_name="pscache-bench-sized", log_dir=log_dir) as emu:
        results = [emu.invoke(timeout_s=INIT_WAIT_S)]
        results += [emu.invoke(timeout_s=30) for _ in range(invokes - 1)]
        agent = emu.agent("pscache")
        emu.shutdown()
        log = emu.output("pscache")
    cold = results[0]
    failures = [r for r in results if not r.ok or not _values_right(r.response)]
    if failures:
        first = failures[0]
        raise RuntimeError(f"{candidate.name} at {memory_mb} MB ({init_cpu}): {first.error_type or 'wrong values'} "
                           f"{first.response!r}\n{log[-2000:]}")
    last = results[-1].report
    pscache = last.processes["pscache"]
    value_at = cold.response["parameter"]["at_ns"] / 1e9  # CLOCK_MONOTONIC, the emulator's perf_counter
    return {
        "register_ms": (agent.t_register - agent.t_exec) * 1000,
        "register_cpu_ms": agent.cpu_ms_at_register,
        "init_ms": cold.report.init_duration_ms,
        "first_read_ms": (cold.response["parameter"]["at_ns"] - cold.response["received_ns"]) / 1e6,
        "cold_to_first_value_ms": (value_at - cold.init.t_start) * 1000,
        "cpu_ms": cold.cpu_ms_at_response["pscache"],
        "hit_ms": statistics.median((r.response["parameter"]["at_ns"] - r.response["received_ns"]) / 1e6
                                    for r in results[1:]) if len(results) > 1 else float("nan"),
        "max_memory_used_mb": last.max_memory_used_mb,
        "extension_memory_mb": pscache.charged_mb,
        "peak_rss_mb": pscache.peak_rss_mb,
        "peak_anon_mb": pscache.anon_mb,
        "peak_file_mb": pscache.file_mb,
        "function_cpu_ms": cold.cpu_ms_at_response["runtime"],
        "hit_states": [r.response["parameter"]["cache"] for r in results[1:]],
        "report": cold.report.line(),
    }


def _values_right(response) -> bool:
    try:
        return (response["parameter"]["status"] == 200 and response["parameter"]["length"] == len(PARAM_VALUE)
                and response["secret"]["status"] == 200 and response["secret"]["length"] == len(SECRET_VALUE))
    except (KeyError, TypeError):
        return False
