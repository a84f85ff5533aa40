"""SSM and Secrets Manager as the model sees them: a token bucket per quota and a latency distribution.

Parameter Store's default quota is 40 transactions per second per account and region, shared by GetParameter,
GetParameters and GetParametersByPath (higher throughput: 3,000 for the first two, 100 for GetParametersByPath);
Secrets Manager allows 10,000 GetSecretValue per second. AWS does not document the buckets' burst: the model
gives each bucket one second of its rate. A throttled call is answered ThrottlingException and takes no token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from locallambda.fault_proxy import RateLimit

SSM_STANDARD_TPS = 40
SSM_HIGHER_THROUGHPUT_TPS = 3000
SSM_BY_PATH_HIGHER_THROUGHPUT_TPS = 100
SECRETS_GET_TPS = 10000


@dataclass
class Latency:
    """Lognormal answer time: median and 99th percentile in seconds."""

    median_s: float = 0.015
    p99_s: float = 0.060

    def sampler(self, rng):
        mu = math.log(self.median_s)
        sigma = math.log(self.p99_s / self.median_s) / 2.326 if self.p99_s > self.median_s else 0.0
        return lambda: rng.lognormvariate(mu, sigma)


def quota(rate: float, burst: float | None = None) -> RateLimit:
    """A token bucket on the model's clock (simulated seconds from 0, passed to take()): the fault proxy's own."""
    return RateLimit(rate, burst, clock=lambda: 0.0)


@dataclass
class Brownout:
    """From start_s to end_s the service throttles this share of its calls, whatever its quota."""

    start_s: float
    end_s: float
    share: float = 0.5


class Service:
    """One AWS service: each API draws on its quota (several APIs may share one); calls are counted per second."""

    def __init__(self, name: str, quotas: dict[str, RateLimit], latency: Latency, metrics, rng,
                 brownouts: tuple[Brownout, ...] = ()):
        self.name = name
        self.quotas = quotas
        self.latency = latency.sampler(rng)
        self.metrics = metrics
        self.rng = rng
        self.brownouts = brownouts

    def attempt(self, now: float, api: str) -> tuple[bool, float]:
        """One HTTP call: (answered, seconds until the answer). False means ThrottlingException."""
        self.metrics.add("calls", now)
        ok = True
        for b in self.brownouts:
            if b.start_s <= now < b.end_s and self.rng.random() < b.share:
                ok = False
        quota = self.quotas.get(api)
        if ok and quota is not None and not quota.take(now):
            ok = False
        if not ok:
            self.metrics.add("throttled", now)
        return ok, self.latency()


def ssm(metrics, rng, tps: float = SSM_STANDARD_TPS, latency: Latency = Latency(), burst: float | None = None,
        brownouts: tuple[Brownout, ...] = ()) -> Service:
    """Parameter Store with one shared quota for its three reads (standard throughput)."""
    shared = quota(tps, burst)
    quotas = {"GetParameter": shared, "GetParameters": shared, "GetParametersByPath": shared}
    return Service("ssm", quotas, latency, metrics, rng, brownouts)
