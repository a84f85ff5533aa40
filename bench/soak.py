"""Soak: a bounded run of mixed traffic against pscache inside the Lambda emulator.

    scripts/soak [--seconds 600] [--json FILE]          (PSCACHE_TEST_LAYER=<dir> soaks the compiled layer)

Each invoke is one function invocation that sends a random mix of requests on a pooled keep-alive connection
(and now and then a fresh one): hits, misses of existing items, names that do not exist (404), expiries
(TTLs of 2-3 s, and 0-0.6 s frozen between invokes: the emulator SIGSTOPs pscache after every invoke), and
injected upstream faults (throttling, 5xx, resets, slow answers past the timeout, expired credentials, garbage).
Every fault kind is met during warm-up too, so what the SDK loads lazily is loaded before memory is measured.

Figures: resident memory (VmRSS) at the end of warm-up and at the end, its growth in %, the largest fd count
during warm-up and the count at the end, and every answer that was not the one expected for its request.
Loopback only; the run stops by itself after --seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from locallambda import fault_proxy as faults
from locallambda.emulator import LambdaEmulator
from locallambda.extensions import pscache_extensions, test_layer
from locallambda.local_aws import LocalAws, extension_env
from locallambda.net import free_port
from locallambda.procstat import rss_and_fds

TOKEN = "soak-token"

PARAMS = [f"/soak/p{i}" for i in range(40)]
SECRETS = [f"soak/s{i}" for i in range(15)]
TIMEOUT_MS = 2500
# fault -> (how to make it, the statuses it may be answered with). Retried faults may also end as 504: three
# attempts with the SDK's random backoff can outlast the whole-call timeout, which is then what happened.
FAULTS = {
    "throttle": (faults.throttle, (429, 504)),
    "5xx": (lambda: faults.error(503, "ServiceUnavailable"), (502, 504)),
    "reset": (faults.reset, (502, 504)),
    "slow": (lambda: faults.delay(TIMEOUT_MS / 1000 + 1), (504,)),
    "expired": (faults.expired, (403,)),
    "garbage": (faults.garbage, (502,)),
}


@contextlib.contextmanager
def local_aws(work: Path):
    """moto in server mode, seeded with the soak's items, behind a fault proxy; all stopped on exit."""
    with open(work / "moto.log", "wb") as moto_log, LocalAws(log=moto_log, quiet_proxy=False) as aws:
        seed(aws.moto_url)
        yield aws.proxy


def emit(report: dict, json_path: Path | None) -> None:
    text = json.dumps(report, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text + "\n")


def seed(endpoint: str) -> None:
    import boto3

    kw = dict(region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    ssm, sm = boto3.client("ssm", **kw), boto3.client("secretsmanager", **kw)
    for name in PARAMS:
        ssm.put_parameter(Name=name, Value=f"value-of-{name}", Type="SecureString", Overwrite=True)
    for name in SECRETS:
        try:
            sm.create_secret(Name=name, SecretString=f"secret-of-{name}")
        except sm.exceptions.ResourceExistsException:
            pass


class Traffic:
    """The function's side: one pooled connection, counters, and what each answer should have been."""

    def __init__(self, port: int, proxy, rng: random.Random):
        self.port, self.proxy, self.rng = port, proxy, rng
        self.conn: http.client.HTTPConnection | None = None
        self.counts: dict[str, int] = {}
        self.unexpected: list[str] = []
        self.requests = 0

    def _get(self, path: str, fresh: bool) -> int:
        for attempt in (1, 2):
            if fresh or self.conn is None:
                if self.conn is not None:
                    self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_MS / 1000 + 10)
            try:
                self.conn.request("GET", path, headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
                r = self.conn.getresponse()
                r.read()
                return r.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A pooled connection the server closed while idle; clients retry on a new one, as here.
                self.count("reconnect")
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def expect(self, kind: str, path: str, statuses: tuple, fresh: bool = False) -> None:
        self.requests += 1
        self.count(kind)
        try:
            status = self._get(path, fresh)
        except OSError as exc:
            self.unexpected.append(f"{kind} {path}: {type(exc).__name__}: {exc}")
            return
        if status not in statuses:
            self.unexpected.append(f"{kind} {path}: {status}, expected {statuses}")

    def fault(self, name: str) -> None:
        make, statuses = FAULTS[name]
        secret = self.rng.random() < 0.5
        operation = "GetSecretValue" if secret else "GetParameter"
        # refreshNow is not on main yet: a never-cached selector guarantees an upstream call.
        path = (f"/secretsmanager/get?secretId={self.rng.choice(SECRETS)}&versionStage=F{self.rng.randrange(10**9)}"
                if secret else f"/systemsmanager/parameters/get?name={self.rng.choice(PARAMS)}&label=F{self.rng.randrange(10**9)}")
        self.proxy.always(operation, make())
        try:
            self.expect(f"fault:{name}", path, statuses)
        finally:
            self.proxy.reset_state()

    def invoke(self, n: int, fault: str | None) -> None:
        rng = self.rng
        for _ in range(n):
            roll = rng.random()
            fresh = rng.random() < 0.1
            if roll < 0.55:
                self.expect("param", f"/systemsmanager/parameters/get?name={rng.choice(PARAMS[:10])}&withDecryption=true", (200,), fresh)
            elif roll < 0.75:
                self.expect("param-wide", f"/systemsmanager/parameters/get?name={rng.choice(PARAMS)}", (200,), fresh)
            elif roll < 0.92:
                self.expect("secret", f"/secretsmanager/get?secretId={rng.choice(SECRETS)}", (200,), fresh)
            else:
                self.expect("not-found", f"/secretsmanager/get?secretId=soak/missing-{rng.randrange(10**9)}", (404,), fresh)
        if fault:
            self.fault(fault)


def run(seconds: float, proxy, ext_dir: Path, work: Path, warmup_s: float | None = None, seed_value: int = 6) -> dict:
    rng = random.Random(seed_value)
    warmup_s = warmup_s if warmup_s is not None else min(60.0, seconds / 4)
    port = free_port()
    env = dict(extension_env(proxy.url, TOKEN, port), SSM_PARAMETER_STORE_TTL="2", SECRETS_MANAGER_TTL="3",
               SSM_PARAMETER_STORE_TIMEOUT_MILLIS=str(TIMEOUT_MS), SECRETS_MANAGER_TIMEOUT_MILLIS=str(TIMEOUT_MS))
    traffic = Traffic(port, proxy, rng)
    samples: list[tuple[float, int, int]] = []
    with LambdaEmulator(ext_dir, env=env, log_dir=work / "logs") as emu:
        init = emu.init()
        if not init.ok:
            raise RuntimeError(f"init failed: {init}")
        pid = emu.pid("pscache")
        started = time.monotonic()
        invokes = 0
        warm_faults = list(FAULTS) * 2
        while time.monotonic() - started < seconds:
            if warm_faults:
                fault = warm_faults.pop(0)
            else:
                fault = rng.choice(list(FAULTS)) if rng.random() < 0.15 else None
            result = emu.invoke(lambda e, c: traffic.invoke(rng.randint(5, 30), fault), timeout_s=30)
            invokes += 1
            if not result.ok:
                traffic.unexpected.append(f"invoke {invokes} failed: {result}")
                break
            rss, fds = rss_and_fds(pid)  # frozen now: a quiet moment to read /proc
            samples.append((time.monotonic() - started, rss, fds))
            time.sleep(rng.uniform(0, 0.6))  # frozen: TTLs run on
        shutdown = emu.shutdown()
        ext = shutdown.extensions["pscache"]
        log = emu.output("pscache")
    warm = [s for s in samples if s[0] < warmup_s] or samples[:1]
    steady = [s for s in samples if s[0] >= warmup_s] or samples[-1:]
    rss_warm = warm[-1][1]
    rss_end = steady[-1][1]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "warmup_seconds": warmup_s,
        "invokes": invokes,
        "requests": traffic.requests,
        "by_kind": dict(sorted(traffic.counts.items())),
        "faults_injected": sum(v for k, v in traffic.counts.items() if k.startswith("fault:")),
        "unexpected": traffic.unexpected,
        "rss_warm_mb": round(rss_warm / 2**20, 2),
        "rss_end_mb": round(rss_end / 2**20, 2),
        "rss_max_after_warmup_mb": round(max(s[1] for s in steady) / 2**20, 2),
        "rss_growth_pct": round((rss_end - rss_warm) / rss_warm * 100, 2),
        "fds_warmup_max": max(s[2] for s in warm),
        "fds_end": steady[-1][2],
        "fds_max_after_warmup": max(s[2] for s in steady),
        "shutdown": {"state": ext.state, "exit_code": ext.exit_code, "exit_ms": round(ext.exit_ms or -1, 1)},
        "log_errors": sum(" ERROR " in line for line in log.splitlines()),
        "tracebacks": log.count("Traceback"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=None, help="seconds (default: a quarter of the run, at most 60)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pscache-soak-"))
    with local_aws(work) as proxy:
        report = run(args.seconds, proxy, pscache_extensions(work, test_layer()), work, args.warmup, args.seed)
    emit(report, args.json)
    ok = not report["unexpected"] and report["rss_growth_pct"] < 5 and report["fds_end"] <= report["fds_warmup_max"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
