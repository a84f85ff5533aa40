"""The candidates and scenarios of docs/benchmarks.md ("A model of 10 to 10,000 environments")."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.model import retry, sized
from bench.model.candidates import InFunctionCache, Pscache, SdkOnly
from bench.model.run import Upstream, Workload
from bench.model.services import SSM_HIGHER_THROUGHPUT_TPS, Brownout

MEMORY_MB = 1024
PREFETCH = "{prefetch}"  # replaced by the scenario's keys
TUNED = {  # pscache with the extras the figures argue for (docs/deploying.md)
    "PSCACHE_PREFETCH": PREFETCH, "PSCACHE_REFRESH_AHEAD_PERCENT": "20", "PSCACHE_STALE_IF_ERROR": "300",
}


def candidates(keys: list[str], memory_mb: int = MEMORY_MB, only: tuple[str, ...] = ()) -> list:
    prefetch = " ".join(f"ssm:{k}" for k in keys)
    pscache = sized.pscache_startup(memory_mb)

    def ps(name: str, variables: dict[str, str]) -> Pscache:
        return Pscache(pscache, {k: v.replace(PREFETCH, prefetch) for k, v in variables.items()}, name)

    every = [
        SdkOnly(sized.function_startup("python-sdk", memory_mb), retry.boto3_default(), "SDK, no cache (boto3)"),
        InFunctionCache(sized.function_startup("node-sdk", memory_mb), retry.js_v3_default(), 5,
                        "Powertools TS/Java, 5 s"),
        InFunctionCache(sized.function_startup("python-powertools", memory_mb), retry.boto3_default(), 300,
                        "Powertools Python, 300 s"),
        ps("pscache defaults", {}),
        ps("pscache + prefetch, refresh ahead, stale-if-error", TUNED),
        ps("... + TTL jitter 10 %", dict(TUNED, PSCACHE_TTL_JITTER_PERCENT="10")),
        ps("... + jitter, 1 attempt", dict(TUNED, PSCACHE_TTL_JITTER_PERCENT="10", PSCACHE_MAX_ATTEMPTS="1")),
        ps("... + jitter, adaptive retries", dict(TUNED, PSCACHE_TTL_JITTER_PERCENT="10",
                                                   PSCACHE_RETRY_MODE="adaptive")),
    ]
    return [c for c in every if not only or c.name in only]


@dataclass
class Scenario:
    name: str
    workload: Workload
    upstream: Upstream = field(default_factory=Upstream)
    note: str = ""


def steady(rate: float, keys: int = 1, minutes: float = 8) -> Workload:
    """A minute's ramp from nothing (Lambda adds at most 1,000 environments per 10 s), then the rate."""
    return Workload([(60, 0, rate), (minutes * 60 - 60, rate, rate)], keys=keys, hold_s=0.1)


def scale_out(keys: int = 1, minutes: float = 8) -> Workload:
    """10,000 invokes per second of 100 ms from the first second: 1,000 environments at once."""
    return Workload([(minutes * 60, 10000, 10000)], keys=keys, hold_s=0.1)


SCENARIOS = {
    "steady": [Scenario(f"steady {rate:,} invokes/s", steady(rate)) for rate in (10, 100, 1000, 10000)],
    "scale-out": [Scenario("scale-out 0 to 1,000 environments", scale_out()),
                  Scenario("scale-out 0 to 1,000 environments, higher-throughput quota", scale_out(),
                           Upstream(tps=SSM_HIGHER_THROUGHPUT_TPS), "Parameter Store's paid tier")],
    "brown-out": [Scenario("brown-out: half the calls throttled for a minute, 1,000 invokes/s", steady(1000),
                           Upstream(brownouts=(Brownout(270, 330, 0.5),)),
                           "from 270 s to 330 s: across both the refresh-ahead point (80 % of the TTL) and the expiry of the entries fetched in the ramp")],
    "keys": [Scenario(f"scale-out, {k} keys per invoke", scale_out(k, minutes=6)) for k in (1, 5, 20)],
}
