"""What one execution environment does when its function reads values: the alternatives and pscache.

Every candidate gives an environment's INIT time and, per read, either an answer without waiting (quick) or a
process that waits on the upstream (read). pscache's behaviour follows app/loader.py: single flight, refresh
ahead on hits and on INVOKE, stale-if-error with a background retry at most every RETRY_STALE_S, prefetch in
batches during INIT (which waits at most INIT_HOLD_S), and TTLs from app.cache.jittered_ttl; its settings are
parsed by app.config.load from the same variables a real environment gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import config
from app.cache import jittered_ttl
from app.loader import RETRY_STALE_S
from app.main import INIT_HOLD_S
from app.upstream import GET_PARAMETERS_MAX
from bench.model import retry
from bench.model.engine import Signal


@dataclass
class StartUp:
    """Times of one environment's cold start, in seconds (bench/model/sized.py reads them from bench-sized)."""

    init_s: float  # launch -> INIT done, nothing held for
    sdk_s: float = 0.0  # launch -> pscache's AWS clients ready, when INIT does not wait for them
    hit_s: float = 0.0008  # one read answered from a cache


class Candidate:
    name = ""
    policy: retry.Policy

    def new_env(self, fleet):
        raise NotImplementedError

    def start(self, fleet, env):
        """A process run at the environment's launch; returns when INIT is done."""
        yield self.startup.init_s

    def on_invoke(self, fleet, env) -> None:
        pass

    def quick(self, fleet, env, key):
        """Seconds to answer key without waiting on the upstream, or None."""
        raise NotImplementedError

    def read(self, fleet, env, key):
        """A process: returns True (a value) or False (an error)."""
        raise NotImplementedError


class _ClientEnv:
    __slots__ = ("client", "values")

    def __init__(self, client):
        self.client = client
        self.values: dict = {}  # key -> expiry, for the in-function cache


class SdkOnly(Candidate):
    """The function calls the SDK on every read, no cache."""

    def __init__(self, startup: StartUp, policy: retry.Policy, name: str = "SDK in the function, no cache"):
        self.name, self.startup, self.policy = name, startup, policy

    def new_env(self, fleet):
        return _ClientEnv(retry.Client(fleet.engine, fleet.service, self.policy, fleet.rng))

    def quick(self, fleet, env, key):
        return None

    def read(self, fleet, env, key):
        return (yield from env.client.call("GetParameter"))


class InFunctionCache(SdkOnly):
    """Powertools Parameters: a per-process cache with max_age; a miss calls the SDK on the read path."""

    def __init__(self, startup: StartUp, policy: retry.Policy, max_age_s: float, name: str):
        super().__init__(startup, policy, name)
        self.max_age_s = max_age_s

    def quick(self, fleet, env, key):
        expires = env.values.get(key)
        return self.startup.hit_s if expires is not None and fleet.engine.now < expires else None

    def read(self, fleet, env, key):
        ok = yield from env.client.call("GetParameter")
        if ok:
            env.values[key] = fleet.engine.now + self.max_age_s
        return ok


class _Entry:
    __slots__ = ("fetched", "ttl", "read", "failed_at")

    def __init__(self, fetched: float, ttl: float):
        self.fetched, self.ttl, self.read, self.failed_at = fetched, ttl, False, 0.0


class _PscacheEnv:
    __slots__ = ("client", "entries", "inflight", "sdk_ready")

    def __init__(self, client, sdk_ready: float):
        self.client = client
        self.entries: dict = {}
        self.inflight: dict = {}  # key -> Signal of the fetch that will bring it (value: True or False)
        self.sdk_ready = sdk_ready


def pscache_settings(variables: dict[str, str]) -> config.Settings:
    """The product's own parsing of an environment's variables, as under Lambda."""
    return config.load(dict(variables, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001"), argv0="/opt/extensions/pscache")


class Pscache(Candidate):
    def __init__(self, startup: StartUp, variables: dict[str, str], name: str = "pscache"):
        self.name, self.startup = name, startup
        self.settings = pscache_settings(variables)
        self.policy = retry.for_pscache(self.settings)
        s = self.settings
        self.ttl = s.ssm_ttl if s.caching("ssm") else 0
        self.stale_s = s.stale_if_error
        self.ahead = s.refresh_ahead_percent
        self.jitter = s.ttl_jitter_percent
        self.prefetch = bool(s.prefetch) and s.caching("ssm")

    def new_env(self, fleet):
        now = fleet.engine.now
        return _PscacheEnv(retry.Client(fleet.engine, fleet.service, self.policy, fleet.rng), now + self.startup.sdk_s)

    def start(self, fleet, env):
        if not self.prefetch:
            yield self.startup.init_s
            return
        # INIT waits for the SDK and the prefetch (at most INIT_HOLD_S): the clients are ready when INIT ends.
        started = fleet.engine.now
        env.sdk_ready = started + self.startup.sdk_s
        # The scenarios prefetch exactly the keys the function reads (PSCACHE_PREFETCH lists them).
        done = self._launch(fleet, env, list(fleet.keys), "GetParameters", background=True)
        gate = Signal()
        fleet.engine.after(INIT_HOLD_S + self.startup.init_s, _fire_once, (fleet.engine, gate))
        done.waiters.append(_chain(fleet.engine, gate))
        yield gate
        left = started + self.startup.init_s - fleet.engine.now
        if left > 0:
            yield left

    # -- the loader ---------------------------------------------------------------------------------------
    def _get(self, env, key, now):
        """Cache.get: the entry, fresh or still servable as stale, else None (and forgotten)."""
        entry = env.entries.get(key)
        if entry is not None and now >= entry.fetched + entry.ttl + self.stale_s:
            del env.entries[key]
            return None
        return entry

    def _due(self, entry, now) -> bool:
        return bool(self.ahead) and now >= entry.fetched + entry.ttl * (100 - self.ahead) / 100

    def on_invoke(self, fleet, env) -> None:
        """Loader.refresh_due at INVOKE: entries read and near (or past) expiry refetch in the background."""
        if not self.ahead:
            return
        now = fleet.engine.now
        for key, entry in list(env.entries.items()):
            if entry.read and self._due(entry, now) and key not in env.inflight:
                self._launch(fleet, env, [key], "GetParameter", background=True)

    def quick(self, fleet, env, key):
        now = fleet.engine.now
        entry = self._get(env, key, now)
        if entry is None:
            return None
        if now < entry.fetched + entry.ttl:
            entry.read = True
            if self._due(entry, now) and key not in env.inflight:
                self._launch(fleet, env, [key], "GetParameter", background=True)
            return self.startup.hit_s
        if entry.failed_at:
            entry.read = True
            fleet.metrics.add("stale", now)
            if now - entry.failed_at >= RETRY_STALE_S and key not in env.inflight:
                self._launch(fleet, env, [key], "GetParameter", background=True)
            return self.startup.hit_s
        return None

    def read(self, fleet, env, key):
        done = env.inflight.get(key) or self._launch(fleet, env, [key], "GetParameter", background=False)
        if (yield done):
            entry = env.entries.get(key)
            if entry is not None:
                entry.read = True
            return True
        return self._stale_or_error(fleet, env, key)

    def _stale_or_error(self, fleet, env, key) -> bool:
        now = fleet.engine.now
        entry = self._get(env, key, now) if self.stale_s else None
        if entry is None:
            return False
        entry.failed_at = now
        entry.read = True
        fleet.metrics.add("stale", now)
        return True

    def _launch(self, fleet, env, keys: list, api: str, background: bool) -> Signal:
        done = Signal()
        for key in keys:
            env.inflight[key] = done
        fleet.engine.spawn(self._fetch(fleet, env, keys, api, done, background))
        return done

    def _fetch(self, fleet, env, keys, api, done, background):
        engine = fleet.engine
        if engine.now < env.sdk_ready:
            yield env.sdk_ready - engine.now  # the first call waits for the SDK import and the client
        ok = True
        batches = [keys] if api == "GetParameter" else [
            keys[i:i + GET_PARAMETERS_MAX] for i in range(0, len(keys), GET_PARAMETERS_MAX)]
        for _ in batches:
            ok = yield from env.client.call(api)
            if not ok:
                break
        now = engine.now
        for key in keys:
            if env.inflight.get(key) is done:
                del env.inflight[key]
            if ok and self.ttl:
                env.entries[key] = _Entry(now, jittered_ttl(self.ttl, self.jitter, fleet.rng.random))
            elif not ok and background:
                entry = self._get(env, key, now)
                if entry is not None and entry.failed_at:
                    entry.failed_at = now
        engine.fire(done, ok)


def _fire_once(pair) -> None:
    engine, signal = pair
    if not signal.fired:
        engine.fire(signal, True)


def _chain(engine, gate: Signal):
    """A process waiting on a signal that fires gate when it resumes (the INIT hold's 'whichever comes first')."""

    def waiter():
        yield None
        _fire_once((engine, gate))

    process = waiter()
    next(process)
    return process
