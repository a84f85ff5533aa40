"""One model run: a workload of invokes against one candidate's fleet and one upstream."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from bench.model.engine import Engine
from bench.model.lambda_fleet import LambdaFleet, Scaling
from bench.model.metrics import Metrics
from bench.model.services import SSM_STANDARD_TPS, Brownout, Latency, ssm


@dataclass
class Workload:
    """Arrival rate in linear segments (duration_s, rate_from, rate_to); the k-th invoke arrives when the rate's
    integral reaches k + 1/2, as in bench/fleet.py's Ramp. tail_s: simulated time after the last segment."""

    segments: list[tuple[float, float, float]]
    keys: int = 1
    hold_s: float = 0.1
    tail_s: float = 5.0

    @property
    def duration_s(self) -> float:
        return sum(d for d, _, _ in self.segments)

    def arrivals(self):
        start, carried = 0.0, 0.0  # carried: the integral up to the segment's start
        k = 0
        for duration, a, b in self.segments:
            slope = (b - a) / duration if duration else 0.0
            total = a * duration + slope * duration ** 2 / 2
            while total > 0 and k + 0.5 <= carried + total:
                m = k + 0.5 - carried
                t = m / a if slope == 0 else (-a + math.sqrt(a * a + 2 * slope * m)) / slope
                yield start + t
                k += 1
            start, carried = start + duration, carried + total


@dataclass
class Upstream:
    tps: float = SSM_STANDARD_TPS
    burst: float | None = None
    latency: Latency = field(default_factory=Latency)
    brownouts: tuple[Brownout, ...] = ()


@dataclass
class Result:
    candidate: str
    metrics: Metrics
    environments: int
    run_s: float  # wall time of the simulation itself

    def summary(self) -> dict:
        totals = self.metrics.totals()
        calls = self.metrics.per_second["calls"]
        return dict(totals, candidate=self.candidate, environments=self.environments,
                    peak_calls_per_s=max(calls, default=0), wait_p50_ms=self.metrics.wait_percentile(50) * 1000,
                    wait_p99_ms=self.metrics.wait_percentile(99) * 1000, run_s=round(self.run_s, 2))


def simulate(candidate, workload: Workload, upstream: Upstream = Upstream(), scaling: Scaling = Scaling(),
             seed: int = 1, **fleet_options) -> Result:
    started = time.perf_counter()
    rng = random.Random(seed)
    seconds = int(math.ceil(workload.duration_s + workload.tail_s))
    metrics = Metrics(seconds)
    engine = Engine()
    service = ssm(metrics, rng, upstream.tps, upstream.latency, upstream.burst, upstream.brownouts)
    keys = [f"/model/key-{i}" for i in range(workload.keys)]
    fleet = LambdaFleet(engine, candidate, service, keys, workload.hold_s, scaling, metrics, rng, **fleet_options)
    fleet.drive(workload.arrivals())
    engine.run(seconds)
    return Result(candidate.name, metrics, fleet.created, time.perf_counter() - started)
