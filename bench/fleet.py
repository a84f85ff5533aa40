"""A Lambda fleet on loopback: many execution environments, each a real pscache process under the emulator.

Invokes arrive on a schedule (a linear ramp of the arrival rate, like Artillery's `arrivalRate` + `rampTo`). Each
one goes to an idle environment, else a new environment is created for it and initialised first (a cold start),
as on-demand Lambda scales. Between invokes every environment is frozen (SIGSTOP), as Lambda freezes it. The
function is an in-process handler of the emulator: it reads its parameters through that environment's pscache
and then holds for a set time. The proxy in front of moto counts what reaches the local AWS.
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
import statistics
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.seeded_aws import upstream_calls
from locallambda.emulator import LambdaEmulator
from locallambda.fault_proxy import FaultProxy
from locallambda.net import free_port, http_get

clock = time.perf_counter


@dataclass
class Ramp:
    """Arrival rate rising linearly from rate_from to rate_to per second over duration_s."""

    duration_s: float = 60.0
    rate_from: float = 10.0
    rate_to: float = 40.0

    def arrivals(self) -> list[float]:
        """Arrival times: the k-th invoke (from 0) comes when the integral of the rate reaches k + 1/2."""
        a, b = self.rate_from, (self.rate_to - self.rate_from) / self.duration_s
        total = a * self.duration_s + b * self.duration_s ** 2 / 2
        marks = [k + 0.5 for k in range(int(total))]
        if b == 0:
            return [m / a for m in marks]
        return [(-a + math.sqrt(a * a + 2 * b * m)) / b for m in marks]


@dataclass
class Invocation:
    t: float  # arrival, seconds since the start of the run
    env: int
    cold: bool
    ok: bool
    total_ms: float  # arrival -> the environment is free again (init included on a cold start)
    reads: list[tuple[int, float, str | None]] = field(default_factory=list)  # (status, ms, X-Pscache-Cache)
    queued: bool = False  # it waited for a free environment: the fleet was at max_environments


@dataclass
class ScenarioResult:
    name: str
    settings: dict[str, str]
    keys: int
    invocations: list[Invocation]
    environments: int
    upstream_calls: int
    calls_per_second: list[int]
    arrivals_per_second: list[int]
    environments_per_second: list[int]
    throttled_calls: int = 0  # of upstream_calls, those the proxy's rate limit answered ThrottlingException

    @property
    def failed(self) -> int:
        return sum(not i.ok or any(s != 200 for s, _, _ in i.reads) for i in self.invocations)

    def read_ms(self, cold: bool) -> list[float]:
        return [ms for i in self.invocations if i.cold == cold for _, ms, _ in i.reads]

    def cache_states(self) -> Counter:
        return Counter(state for i in self.invocations for _, _, state in i.reads)

    def summary(self) -> dict:
        warm, cold = sorted(self.read_ms(False)), sorted(self.read_ms(True))
        states = self.cache_states()
        return {
            "scenario": self.name, "invokes": len(self.invocations), "failed": self.failed,
            "environments": self.environments, "queued": sum(i.queued for i in self.invocations),
            "upstream_calls": self.upstream_calls, "throttled_calls": self.throttled_calls,
            "calls_per_env_per_key": self.upstream_calls / max(1, self.environments * self.keys),
            "warm_read_p50_ms": percentile(warm, 50), "warm_read_p99_ms": percentile(warm, 99),
            "cold_read_p50_ms": percentile(cold, 50),
            # A miss or a coalesced read waited for an upstream call; a hit or a stale read did not.
            "reads_missed": None if None in states else states["miss"] + states["coalesced"],
        }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * p / 100))] if p < 100 else values[-1]


def parameter_path(name: str) -> str:
    return "/systemsmanager/parameters/get?" + urllib.parse.urlencode({"name": name})


class Environment:
    """One execution environment: an emulator around its own pscache on its own port."""

    def __init__(self, index: int, ext_dir: Path, env: dict[str, str]):
        self.index = index
        self.port = free_port()
        self.token = env["AWS_SESSION_TOKEN"]
        self.emu = LambdaEmulator(ext_dir, env=dict(env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(self.port)),
                                  init_timeout_s=60, function_name="pscache-fleet")

    def invoke(self, paths: list[str], hold_s: float, timeout_s: float):
        def handler(event, context):
            reads = []
            for path in paths:
                started = clock()
                r = http_get(self.port, path, token=self.token, timeout=timeout_s)
                reads.append((r.status, (clock() - started) * 1000, r.headers.get("x-pscache-cache")))
            time.sleep(hold_s)  # the rest of the function's work
            return reads

        return self.emu.invoke(handler=handler, timeout_s=timeout_s)


class Fleet:
    """Routes each invoke to an idle environment (the most recently freed one, or the longest idle with
    routing='lru'), else creates one. At max_environments (the machine's bound, like a reserved concurrency)
    an invoke waits for the next environment to free up instead."""

    def __init__(self, ext_dir: Path, env: dict[str, str], paths: list[str], hold_s: float,
                 routing: str = "mru", max_environments: int = 24, invoke_timeout_s: float = 30.0):
        if routing not in ("mru", "lru"):
            raise ValueError("routing must be mru or lru")
        self.ext_dir, self.env, self.paths, self.hold_s = ext_dir, env, paths, hold_s
        self.routing, self.max_environments, self.invoke_timeout_s = routing, max_environments, invoke_timeout_s
        self.environments: list[Environment] = []  # every one created, broken ones included
        self.invocations: list[Invocation] = []
        self._idle: list[Environment] = []
        self._live = 0
        self._pending: collections.deque[float] = collections.deque()  # arrival times of queued invokes
        self._closing = False
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def dispatch(self, t0: float) -> None:
        arrived = clock()
        with self._lock:
            if self._closing:
                return
            env, cold = self._take()
            if env is None:
                self._pending.append(arrived)
                return
        thread = threading.Thread(target=self._run, args=(env, cold, t0, arrived), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _take(self) -> tuple[Environment | None, bool]:
        """An idle environment, else a new one below the bound, else None (caller holds the lock)."""
        if self._idle:
            return self._idle.pop(-1 if self.routing == "mru" else 0), False
        if self._live >= self.max_environments:
            return None, False
        env = Environment(len(self.environments), self.ext_dir, self.env)
        self.environments.append(env)
        self._live += 1
        return env, True

    def _run(self, env: Environment, cold: bool, t0: float, arrived: float, queued: bool = False) -> None:
        while env is not None:
            try:
                result = env.invoke(self.paths, self.hold_s, self.invoke_timeout_s)
                ok, reads = result.ok, result.response if result.ok and isinstance(result.response, list) else []
            except Exception:  # a broken environment counts as a failed invoke; the run goes on
                ok, reads = False, []
            record = Invocation(arrived - t0, env.index, cold, ok, (clock() - arrived) * 1000, reads, queued)
            with self._lock:
                self.invocations.append(record)
                if ok:
                    self._idle.append(env)
                else:
                    self._live -= 1  # dropped; a new environment may take its place
                if self._closing or not self._pending:
                    return
                arrived, queued = self._pending.popleft(), True
                env, cold = self._take()  # never None: this thread just freed or dropped one

    def drain(self, timeout_s: float = 120) -> None:
        deadline = clock() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - clock()))

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._pending.clear()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # each close may wait on a frozen, loaded process
            list(pool.map(lambda e: e.emu.close(), self.environments))


def run_scenario(name: str, ext_dir: Path, env: dict[str, str], settings: dict[str, str], proxy: FaultProxy,
                 parameter_names: list[str], ramp: Ramp, hold_s: float, routing: str = "mru",
                 max_environments: int = 24, log=print) -> ScenarioResult:
    """Run one schedule against a fresh fleet and count the upstream calls it causes."""
    fleet = Fleet(ext_dir, dict(env, **settings), [parameter_path(n) for n in parameter_names], hold_s, routing,
                  max_environments)
    samples: list[tuple[float, int, int]] = []  # (t, upstream calls so far, environments)
    calls_before = upstream_calls(proxy)
    throttled_before = sum(proxy.throttled.values())
    stop = threading.Event()
    t0 = clock()

    def sample() -> None:
        while not stop.is_set():
            samples.append((clock() - t0, upstream_calls(proxy) - calls_before, len(fleet.environments)))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    arrivals = ramp.arrivals()
    try:
        for t in arrivals:
            delay = t0 + t - clock()
            if delay > 0:
                time.sleep(delay)
            fleet.dispatch(t0)
        fleet.drain()
        time.sleep(0.2)  # let the last background fetches (refresh ahead, prefetch) land
        stop.set()
        sampler.join()
        total = upstream_calls(proxy) - calls_before
        samples.append((clock() - t0, total, len(fleet.environments)))
    finally:
        stop.set()
        fleet.close()
    seconds = int(math.ceil(max(ramp.duration_s, samples[-1][0])))
    result = ScenarioResult(
        name, settings, len(parameter_names), sorted(fleet.invocations, key=lambda i: i.t),
        len(fleet.environments), total, per_second(samples, 1, seconds), count_per_second(arrivals, seconds),
        [max((e for t, _, e in samples if t < s + 1), default=0) for s in range(seconds)],
        sum(proxy.throttled.values()) - throttled_before)
    s = result.summary()
    log(f"{name}: {s['invokes']} invokes ({s['failed']} failed, {s['queued']} queued), {s['environments']} environments, "
        f"{s['upstream_calls']} upstream calls ({s['throttled_calls']} throttled), warm read p50 {s['warm_read_p50_ms']:.1f} ms")
    return result


def per_second(samples: list[tuple[float, int, int]], column: int, seconds: int) -> list[int]:
    """Differences of a cumulative sampled counter over one-second bins."""
    def at(t: float) -> int:
        return max((row[column] for row in samples if row[0] <= t), default=0)

    return [at(s + 1) - at(s) for s in range(seconds)]


def count_per_second(times: list[float], seconds: int) -> list[int]:
    counts = Counter(int(t) for t in times)
    return [counts.get(s, 0) for s in range(seconds)]


def median_summary(results: list[ScenarioResult]) -> dict:
    """The median of every figure over repeated runs of one scenario."""
    rows = [r.summary() for r in results]
    merged = {"scenario": rows[0]["scenario"], "runs": len(rows)}
    for key in rows[0]:
        if key != "scenario":
            values = [row[key] for row in rows if row[key] is not None]
            merged[key] = statistics.median(values) if values else None
    return merged
