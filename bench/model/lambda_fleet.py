"""Lambda's side: invokes arriving, environments made, reused, reaped, and the scaling limits.

On-demand Lambda gives an invoke an idle environment of the function if it has one, else makes a new one (a cold
start) while the function may still scale: each function may add 1,000 concurrent executions every 10 seconds,
up to the account's concurrency. Beyond that Lambda refuses the invoke (429). Which idle environment gets an
invoke is not documented; the default here is the most recently freed one (the fleet benchmark's `mru`, which
matched the AWS blog's counts better than least recently used). Idle environments are reclaimed after a time
Lambda does not document either (reap_idle_s). One environment runs one invoke at a time.

The local variant (max_environments, cold_cpu) stands for bench/fleet.py on this machine: a bound beyond which
invokes wait for a free environment, and cold starts that share the host's cores.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from bench.model.engine import Signal


@dataclass
class Scaling:
    burst: int = 1000  # new environments per window and function
    window_s: float = 10.0
    account_limit: int = 3000  # concurrent executions (the default quota is 1,000; large users raise it)
    reap_idle_s: float = 600.0
    routing: str = "mru"
    max_environments: int = 0  # > 0: the local fleet's bound; invokes beyond it wait instead of being refused


class CpuShare:
    """Processor sharing: n jobs on `cores` CPUs each progress at min(parallelism, cores / n) CPU-seconds per
    second (a start-up runs its SDK import on a thread beside its main thread: parallelism above 1)."""

    def __init__(self, engine, cores: float, parallelism: float = 1.0):
        self.engine, self.cores, self.parallelism = engine, cores, parallelism
        self._jobs: dict[Signal, float] = {}
        self._last = 0.0
        self._version = 0

    def run(self, work_s: float) -> Signal:
        done = Signal()
        self._update()
        self._jobs[done] = work_s
        self._schedule()
        return done

    def _rate(self) -> float:
        return min(self.parallelism, self.cores / len(self._jobs)) if self._jobs else 0.0

    def _update(self) -> None:
        spent = (self.engine.now - self._last) * self._rate()
        for job in self._jobs:
            self._jobs[job] -= spent
        self._last = self.engine.now

    def _schedule(self) -> None:
        self._version += 1
        if self._jobs:
            first = min(self._jobs.values())
            self.engine.after(max(0.0, first) / self._rate(), self._complete, self._version)

    def _complete(self, version: int) -> None:
        if version != self._version:
            return
        self._update()
        for job in [j for j, left in self._jobs.items() if left <= 1e-9]:
            del self._jobs[job]
            self.engine.fire(job)
        self._schedule()


class _Env:
    __slots__ = ("state", "freed_at")

    def __init__(self, state):
        self.state = state
        self.freed_at = 0.0


class LambdaFleet:
    def __init__(self, engine, candidate, service, keys: list, hold_s: float, scaling: Scaling, metrics, rng,
                 invoke_overhead_s: float = 0.002, cold_cpu_s: float = 0.0, cores: float = 0.0,
                 cold_parallelism: float = 1.0, read_all: bool = False):
        self.engine, self.candidate, self.service, self.keys = engine, candidate, service, keys
        self.hold_s, self.scaling, self.metrics, self.rng = hold_s, scaling, metrics, rng
        self.invoke_overhead_s = invoke_overhead_s
        self.cpu = CpuShare(engine, cores, cold_parallelism) if cold_cpu_s and cores else None
        self.cold_cpu_s = cold_cpu_s
        self.read_all = read_all  # read every key even after one failed (bench/fleet.py's handler does)
        self.idle: collections.deque[_Env] = collections.deque()  # by the time they were freed, oldest first
        self.pending: collections.deque[float] = collections.deque()  # arrivals waiting at the local bound
        self.live = 0
        self.busy = 0
        self.created = 0
        self._window = -1
        self._window_created = 0
        self._arrivals = engine.lane()
        self._releases = engine.lane()

    # -- arrivals ------------------------------------------------------------------------------------------
    def drive(self, arrival_times) -> None:
        """Schedule the arrivals one after another (a generator of times, never all at once in the heap)."""
        times = iter(arrival_times)

        def next_arrival(_=None):
            self.arrive()
            t = next(times, None)
            if t is not None:
                self._arrivals.append((t, next_arrival, None))

        first = next(times, None)
        if first is not None:
            self._arrivals.append((first, next_arrival, None))
        self.engine.at(0.0, self._tick, 0)

    def arrive(self) -> None:
        now = self.engine.now
        self.metrics.add("arrivals", now)
        if self.idle:
            env = self.idle.pop() if self.scaling.routing == "mru" else self.idle.popleft()
            self.busy += 1
            self._invoke(env, now)
        elif self._may_create(now):
            self._create(now)
        elif self.scaling.max_environments:
            self.pending.append(now)
        else:
            self.metrics.add("lambda_throttled", now)

    def _may_create(self, now: float) -> bool:
        s = self.scaling
        if s.max_environments:
            return self.live < s.max_environments
        window = int(now / s.window_s)
        if window != self._window:
            self._window, self._window_created = window, 0
        return self._window_created < s.burst and self.busy < s.account_limit

    def _create(self, arrived: float) -> None:
        self._window_created += 1
        self.live += 1
        self.busy += 1
        self.created += 1
        self.metrics.add("cold_starts", arrived)
        env = _Env(self.candidate.new_env(self))
        self.engine.spawn(self._cold(env, arrived))

    def _cold(self, env: _Env, arrived: float):
        if self.cpu is not None:
            yield self.cpu.run(self.cold_cpu_s)  # this machine: start-ups (and the SDK import) share its cores
        yield from self.candidate.start(self, env.state)
        self._invoke(env, arrived)

    # -- one invoke ----------------------------------------------------------------------------------------
    def _invoke(self, env: _Env, arrived: float) -> None:
        candidate, state = self.candidate, env.state
        candidate.on_invoke(self, state)
        spent = self.invoke_overhead_s
        for i, key in enumerate(self.keys):
            answered = candidate.quick(self, state, key)
            if answered is None:
                self.engine.spawn(self._wait_reads(env, arrived, i, spent))
                return
            spent += answered
        self._served(env, arrived, True, self.engine.now + spent)

    def _wait_reads(self, env: _Env, arrived: float, first: int, spent: float):
        if spent:
            yield spent
        ok = True
        for key in self.keys[first:]:
            answered = self.candidate.quick(self, env.state, key)
            if answered is not None:
                yield answered
                continue
            if not (yield from self.candidate.read(self, env.state, key)):
                ok = False
                if not self.read_all:
                    break  # the function fails on its first missing value
        self._served(env, arrived, ok, self.engine.now)

    def _served(self, env: _Env, arrived: float, ok: bool, values_at: float) -> None:
        self.metrics.waited(arrived, values_at - arrived)
        if not ok:
            self.metrics.add("errors", arrived)
        self.engine.in_order(self._releases, values_at + (self.hold_s if ok else 0.0), self._release, env)

    def _release(self, env: _Env) -> None:
        now = self.engine.now
        if self.pending:
            self._invoke(env, self.pending.popleft())
            return
        env.freed_at = now
        self.busy -= 1
        self.idle.append(env)

    # -- once a second: reap idle environments, sample the fleet -------------------------------------------
    def _tick(self, second: int) -> None:
        cutoff = self.engine.now - self.scaling.reap_idle_s
        while self.idle and self.idle[0].freed_at < cutoff:
            self.idle.popleft()
            self.live -= 1
        if 0 < second <= self.metrics.seconds:
            self.metrics.environments[second - 1] = self.live
        if second < self.metrics.seconds:
            self.engine.at(second + 1.0, self._tick, second + 1)
