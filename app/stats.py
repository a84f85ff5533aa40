"""Counters of what the cache and the upstream did, for /pscache/stats and CloudWatch EMF lines.

EMF (Embedded Metric Format) is a JSON log line that CloudWatch Logs turns into
metrics, so a function gets pscache's metrics without any API call.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque

# "negative": hits answered from a cached error (PSCACHE_NEGATIVE_TTL), also counted in "hit".
CACHE_EVENTS = ("hit", "miss", "stale", "coalesced", "refreshed_ahead", "prefetched", "negative")
_SAMPLES = 2048  # latency samples kept per API, for percentiles


def _percentiles(samples) -> dict:
    ordered = sorted(samples)
    if not ordered:
        return {"count": 0}
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)  # noqa: E731
    return {"count": len(ordered), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": pick(1.0)}


class Stats:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.started = clock()
        self.cache: Counter[str] = Counter()
        self.calls: Counter[tuple[str, str]] = Counter()  # (API, "ok" or error code)
        self.latency: dict[str, deque] = {}
        self._window: list[float] = []  # latencies since the last EMF line
        self._emitted: Counter[str] = Counter()
        self.clients: list[str] = []  # AWS clients created so far (warm start makes both right after register)
        self.elsewhere = None  # with PSCACHE_WORKERS > 1: the hits each hit worker answered itself (a callable)

    def _hits_elsewhere(self) -> list[int]:
        return self.elsewhere() if self.elsewhere is not None else []

    def count(self, event: str, n: int = 1) -> None:
        self.cache[event] += n

    def call(self, api: str, outcome: str, seconds: float) -> None:
        self.calls[(api, outcome)] += 1
        self.latency.setdefault(api, deque(maxlen=_SAMPLES)).append(seconds)
        if len(self._window) < 4 * _SAMPLES:
            self._window.append(seconds)

    def snapshot(self, entries: int, size: int) -> dict:
        upstream: dict[str, dict] = {}
        for (api, outcome), n in sorted(self.calls.items()):
            upstream.setdefault(api, {"calls": {}})["calls"][outcome] = n
        for api, samples in self.latency.items():
            upstream[api]["latencyMs"] = _percentiles(samples)
        workers = self._hits_elsewhere()
        snapshot = {
            "uptimeSeconds": round(self._clock() - self.started, 3),
            "cache": {**{e: self.cache[e] for e in CACHE_EVENTS}, "entries": entries, "bytes": size},
            "upstream": upstream,
            "clients": self.clients,
        }
        if workers:  # hits counts them all; hitWorkers says which process answered how many of them
            snapshot["cache"]["hit"] += sum(workers)
            snapshot["hitWorkers"] = {"owner": self.cache["hit"], "workers": workers}
        return snapshot

    def emf_line(self, function_name: str, now_ms: int | None = None) -> str:
        """One EMF document with what happened since the previous one (CloudWatch sums the deltas)."""
        totals = Counter({
            "CacheHits": self.cache["hit"] + sum(self._hits_elsewhere()),
            "CacheMisses": self.cache["miss"],
            "NegativeHits": self.cache["negative"],
            "StaleServed": self.cache["stale"],
            "Coalesced": self.cache["coalesced"],
            "RefreshedAhead": self.cache["refreshed_ahead"],
            "UpstreamCalls": sum(self.calls.values()),
            "UpstreamErrors": sum(n for (_, outcome), n in self.calls.items() if outcome != "ok"),
        })
        delta = {name: totals[name] - self._emitted[name] for name in totals}
        self._emitted = totals
        metrics = [{"Name": name, "Unit": "Count"} for name in delta]
        values: dict = dict(delta)
        latency = _percentiles(self._window)
        self._window = []
        if latency["count"]:
            for q in ("p50", "p99"):
                name = f"UpstreamLatency{q.upper()}"
                metrics.append({"Name": name, "Unit": "Milliseconds"})
                values[name] = latency[q]
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000) if now_ms is None else now_ms,
                "CloudWatchMetrics": [{"Namespace": "pscache", "Dimensions": [["FunctionName"]], "Metrics": metrics}],
            },
            "FunctionName": function_name,
            **values,
        }
        return json.dumps(document, separators=(",", ":"))
