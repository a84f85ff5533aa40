"""Cold-start times for the model, from the measurements the benchmarks recorded (not constants of its own).

pscache: `scripts/bench-sized`'s medians (docs/bench-sized-release.json, the release binary): INIT, and the first
read after INIT, which waits for the rest of the SDK import before its fetch. The alternatives: the init of the
same functions in `scripts/bench-compare` (docs/benchmarks.md: boto3 in the function 387 ms, Powertools 303 ms,
the Node SDK 170 ms at full speed), scaled to the memory size's CPU share like the SDK's import is.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.model.candidates import StartUp

SIZED = Path(__file__).resolve().parents[2] / "docs" / "bench-sized-release.json"
CANDIDATE = "pscache release-3.13"
FUNCTION_INIT_S = {"python-sdk": 0.387, "python-powertools": 0.303, "node-sdk": 0.170}  # bench-compare, full CPU
IN_PROCESS_HIT_S = 0.00005  # a dictionary lookup in the function's own process
MB_PER_VCPU = 1769


def pscache_startup(memory_mb: int = 1024, init_cpu: str = "share", path: Path = SIZED) -> StartUp:
    medians = json.loads(path.read_text())["medians"][f"{CANDIDATE}|{memory_mb}|{init_cpu}"]
    init_s = medians["init_ms"] / 1000
    return StartUp(init_s=init_s, sdk_s=init_s + medians["first_read_ms"] / 1000, hit_s=medians["hit_ms"] / 1000)


def function_startup(kind: str, memory_mb: int = 1024) -> StartUp:
    share = min(1.0, memory_mb / MB_PER_VCPU)
    return StartUp(init_s=FUNCTION_INIT_S[kind] / share, hit_s=IN_PROCESS_HIT_S)
