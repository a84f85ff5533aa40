"""SHUTDOWN times under the Lambda emulator: idle, and with twelve upstream calls in flight (10 s slow upstream).

    scripts/shutdown-times [--runs 5] [--json FILE]     (PSCACHE_TEST_LAYER=<dir> measures the compiled layer)

For each deadline budget (300, 1000, 2000 ms) it reports the median and the worst time from SHUTDOWN sent to
process exit over --runs runs, and how many runs exited 0 before the deadline. Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.soak import PARAMS, SECRETS, TOKEN, emit, local_aws
from locallambda import fault_proxy as faults
from locallambda.emulator import LambdaEmulator
from locallambda.extensions import pscache_extensions, test_layer
from locallambda.local_aws import extension_env
from locallambda.net import free_port, http_get

BUDGETS_MS = (300, 1000, 2000)


def one(ext_dir: Path, work: Path, proxy, budget_ms: int, in_flight: int) -> tuple[float, bool]:
    port = free_port()
    env = dict(extension_env(proxy.url, TOKEN, port), PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false")
    with LambdaEmulator(ext_dir, env=env, freeze=False, log_dir=work / f"logs-{port}") as emu:
        assert emu.init().ok
        assert http_get(port, f"/systemsmanager/parameters/get?name={PARAMS[0]}", TOKEN).status == 200  # SDK loaded
        proxy.reset_state()
        if in_flight:
            proxy.always("GetParameter", faults.delay(10))
            proxy.always("GetSecretValue", faults.delay(10))
            paths = [f"/systemsmanager/parameters/get?name={PARAMS[0]}", f"/secretsmanager/get?secretId={SECRETS[0]}"]
            for i in range(in_flight):
                threading.Thread(target=_quiet_get, args=(port, paths[i % 2]), daemon=True).start()
            time.sleep(0.5)
        ext = emu.shutdown(budget_ms=budget_ms).extensions["pscache"]
        proxy.reset_state()
        return ext.exit_ms, ext.state == "Exited" and ext.exit_code == 0


def _quiet_get(port: int, path: str) -> None:
    try:
        http_get(port, path, TOKEN, timeout=15)
    except OSError:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pscache-shutdown-"))
    report = {}
    with local_aws(work) as proxy:
        ext_dir = pscache_extensions(work, test_layer())
        for label, in_flight in (("idle", 0), ("12 in flight", 12)):
            for budget in BUDGETS_MS:
                runs = [one(ext_dir, work, proxy, budget, in_flight) for _ in range(args.runs)]
                times = [t for t, _ in runs]
                report[f"{label}, budget {budget} ms"] = {
                    "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                    "clean_exits": f"{sum(ok for _, ok in runs)}/{len(runs)}",
                }
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
