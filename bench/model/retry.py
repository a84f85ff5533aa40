"""The AWS SDK clients' retry policies, on the simulated clock.

botocore's own backoff functions and its adaptive-mode rate limiter (CubicCalculator, RateClocker, TokenBucket,
ClientRateLimiter) run here unchanged, fed the simulated time, so the model retries as pscache's clients do. The
JavaScript SDK v3's standard mode (Powertools for TypeScript) is described by its documented constants: 3
attempts, delay random(0, 1) * 2^attempts * 100 ms (500 ms after a throttling error), at most 20 s, and the same
retry quota as botocore's standard mode.
"""

from __future__ import annotations

from types import SimpleNamespace

from botocore.exceptions import CapacityNotAvailableError
from botocore.retries import adaptive, bucket, quota, standard, throttling
from botocore.retryhandler import delay_exponential

# The standard mode's retry quota per client: a retry costs RETRY_COST, a success without one gives
# NO_RETRY_INCREMENT back (botocore's own figures).
QUOTA_CAPACITY = quota.RetryQuota.INITIAL_CAPACITY
RETRY_COST = standard.RetryQuotaChecker._RETRY_COST
NO_RETRY_INCREMENT = standard.RetryQuotaChecker._NO_RETRY_INCREMENT


class Policy:
    """How one kind of client retries a throttled call."""

    def __init__(self, name: str, max_attempts: int, backoff, quota: bool, adaptive_rate: bool = False):
        self.name = name
        self.max_attempts = max_attempts
        self.backoff = backoff  # (attempts made so far, rng) -> seconds to wait before the next one
        self.quota = quota
        self.adaptive_rate = adaptive_rate


def _botocore_standard(attempt: int, rng) -> float:
    return standard.ExponentialBackoff(random=rng.random).delay_amount(SimpleNamespace(attempt_number=attempt))


def _botocore_legacy(attempt: int, rng) -> float:
    return delay_exponential(base=rng.random(), growth_factor=2, attempts=attempt)


def _js_v3_throttled(attempt: int, rng) -> float:
    return min(20.0, rng.random() * 2 ** attempt * 0.5)


def botocore(mode: str, max_attempts: int) -> Policy:
    """A botocore client configured with retries={"mode": mode, "total_max_attempts": max_attempts}."""
    if mode == "legacy":
        return Policy(f"botocore legacy, {max_attempts} attempts", max_attempts, _botocore_legacy, quota=False)
    return Policy(f"botocore {mode}, {max_attempts} attempts", max_attempts, _botocore_standard, quota=True,
                  adaptive_rate=mode == "adaptive")


def boto3_default() -> Policy:
    """boto3 as a function makes it: legacy mode, with the attempts of botocore's own _retry.json."""
    from botocore.loaders import create_loader

    attempts = create_loader().load_data("_retry")["retry"]["__default__"]["max_attempts"]
    return botocore("legacy", attempts)


def js_v3_default() -> Policy:
    return Policy("JS SDK v3 standard, 3 attempts", 3, _js_v3_throttled, quota=True)


def for_pscache(settings) -> Policy:
    """The policy app/upstream.py gives pscache's clients, from the same settings."""
    return botocore(settings.retry_mode, settings.max_attempts)


class _SimClock:
    def __init__(self, engine):
        self._engine = engine

    def current_time(self) -> float:
        return self._engine.now

    def sleep(self, amount: float) -> None:  # never called: the gate below never blocks
        raise RuntimeError("the simulated clock cannot sleep")


class _Gate:
    """Stands in for the limiter's token bucket: a token not yet available becomes a wait the caller yields."""

    def __init__(self, inner: bucket.TokenBucket):
        self.inner = inner
        self.wait = 0.0

    @property
    def max_rate(self):
        return self.inner.max_rate

    @max_rate.setter
    def max_rate(self, value):
        self.inner.max_rate = value

    @property
    def available_capacity(self):
        return self.inner.available_capacity

    def acquire(self, amount=1, block=True):
        try:
            self.inner.acquire(amount, block=False)
            self.wait = 0.0
        except CapacityNotAvailableError:
            fill = max(self.inner.max_rate, getattr(bucket.TokenBucket, "_MIN_RATE", 0.5))
            self.wait = max(1e-3, (amount - self.inner.available_capacity) / fill)
        return True


class _Detector:
    @staticmethod
    def is_throttling_error(throttled: bool = False, **kwargs) -> bool:
        return throttled


class AdaptiveLimiter:
    """botocore's ClientRateLimiter (adaptive mode) of one client."""

    def __init__(self, engine):
        clock = _SimClock(engine)
        self._gate = _Gate(bucket.TokenBucket(max_rate=1, clock=clock))
        self._limiter = adaptive.ClientRateLimiter(
            rate_adjustor=throttling.CubicCalculator(starting_max_rate=0, start_time=clock.current_time()),
            rate_clocker=adaptive.RateClocker(clock), token_bucket=self._gate, throttling_detector=_Detector(),
            clock=clock)

    def wait_before_send(self) -> float:
        self._gate.wait = 0.0
        self._limiter.on_sending_request(request=None)
        return self._gate.wait

    def answered(self, throttled: bool) -> None:
        self._limiter.on_receiving_response(throttled=throttled)


class Client:
    """One SDK client of one environment: attempts, backoff, the retry quota, the adaptive limiter."""

    def __init__(self, engine, service, policy: Policy, rng):
        self.engine = engine
        self.service = service
        self.policy = policy
        self.rng = rng
        self.quota = QUOTA_CAPACITY
        self.limiter = AdaptiveLimiter(engine) if policy.adaptive_rate else None

    def call(self, api: str):
        """A process: yields waits, returns True when answered, False when every attempt was throttled."""
        engine, policy = self.engine, self.policy
        attempt, cost = 0, 0
        while True:
            attempt += 1
            if self.limiter is not None:
                wait = self.limiter.wait_before_send()
                while wait > 0:
                    yield wait
                    wait = self.limiter.wait_before_send()
            ok, latency = self.service.attempt(engine.now, api)
            yield latency
            if self.limiter is not None:
                self.limiter.answered(not ok)
            if ok:
                if policy.quota:
                    self.quota = min(QUOTA_CAPACITY, self.quota + (cost or NO_RETRY_INCREMENT))
                return True
            if attempt >= policy.max_attempts:
                return False
            if policy.quota:
                if self.quota < RETRY_COST:
                    return False  # the retry quota is spent: fail at once
                self.quota -= RETRY_COST
                cost = RETRY_COST
            yield policy.backoff(attempt, self.rng)
