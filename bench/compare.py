"""One function, seven ways: a parameter and a secret per invoke, through the SDK in the function or through pscache
(its 2773 API, or the SDK in the function with its endpoint set to pscache).

Each variant is a custom runtime process (bench/functions/) under the Lambda emulator, with pscache as its
extension or with no extension at all. One run of a variant: INIT, then `invokes` invokes, then the figures.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.seeded_aws import upstream_calls
from locallambda.emulator import LambdaEmulator
from locallambda.fault_proxy import FaultProxy
from locallambda.net import free_port

FUNCTIONS = Path(__file__).resolve().parent / "functions"


@dataclass(frozen=True)
class Variant:
    name: str
    function: str  # file in bench/functions
    with_pscache: bool
    calls_per_invoke: bool  # True: two upstream calls every invoke; False: two in all (cached)
    sdk_endpoint: bool = False  # the function's SDK calls pscache's wire front (AWS_ENDPOINT_URL_SSM, ...)

    def command(self) -> list[str]:
        path = str(FUNCTIONS / self.function)
        if path.endswith(".mjs"):
            node = shutil.which("node")
            if node is None:
                raise RuntimeError("node is required for the Node bench functions (apt install nodejs)")
            return [node, path]
        return [sys.executable, path]


VARIANTS = (
    Variant("Node, SDK in the function", "node_sdk.mjs", False, True),
    Variant("Node, through pscache", "node_pscache.mjs", True, False),
    Variant("Python, boto3 in the function", "py_boto3.py", False, True),
    Variant("Python, Powertools Parameters (cache 300 s)", "py_powertools.py", False, False),
    Variant("Python, through pscache", "py_pscache.py", True, False),
    # No code change: the SDK functions above, with only the two endpoint variables pointing at pscache.
    Variant("Node, SDK in the function, endpoint = pscache", "node_sdk.mjs", True, False, sdk_endpoint=True),
    Variant("Python, boto3 in the function, endpoint = pscache", "py_boto3.py", True, False, sdk_endpoint=True),
)


def process_group_peak_mb(leader: int | None) -> float:
    """Sum of the peak RSS (VmHWM) of every process in the leader's process group; the emulator starts each
    extension and the runtime in its own group, so this is the whole process tree."""
    if leader is None:
        return 0.0
    total_kb = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != leader:
                continue
            status = Path(f"/proc/{entry}/status").read_text()
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


@dataclass
class VariantRun:
    init_ms: float
    first_invoke_ms: float
    warm_invoke_ms: float  # median over the invokes after the first
    function_mb: float
    extension_mb: float
    upstream_calls: int
    responses: list


def run_variant(variant: Variant, env: dict[str, str], proxy: FaultProxy, ext_dir: Path, empty_dir: Path,
                invokes: int, log_dir: Path | None = None, extra_env: dict[str, str] | None = None) -> VariantRun:
    """INIT and `invokes` invokes of one variant; the proxy's counts are reset first."""
    port = free_port()
    env = dict(env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(port), **(extra_env or {}))
    if variant.sdk_endpoint:  # pscache inherits them too, and ignores them for its own calls
        env.update(AWS_ENDPOINT_URL_SSM=f"http://localhost:{port}", AWS_ENDPOINT_URL_SECRETS_MANAGER=f"http://localhost:{port}")
    proxy.reset_state()
    with LambdaEmulator(ext_dir if variant.with_pscache else empty_dir, env=env, runtime=variant.command(),
                        init_timeout_s=60, function_name="pscache-compare", log_dir=log_dir) as emu:
        init = emu.init()
        if not init.ok:
            raise RuntimeError(f"{variant.name}: init failed: {init}\n{emu.runtime_output()}")
        results = [emu.invoke(timeout_s=30) for _ in range(invokes)]
        bad = [r for r in results if not r.ok or r.function_error]
        if bad:
            raise RuntimeError(f"{variant.name}: invoke failed: {bad[0]}\n{emu.runtime_output()}")
        function_mb = process_group_peak_mb(emu.runtime_pid())
        extension_mb = process_group_peak_mb(emu.pid("pscache")) if variant.with_pscache else 0.0
        calls = upstream_calls(proxy)
        emu.shutdown()
    warm = [r.duration_ms for r in results[1:]] or [float("nan")]
    return VariantRun(init.duration_ms, results[0].duration_ms, statistics.median(warm), function_mb, extension_mb,
                      calls, [r.response for r in results])
