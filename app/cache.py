"""An in-memory TTL cache with least-recently-used eviction.

It stores finished response bodies (bytes), so a hit does no JSON work.
TTLs are counted from the fetch on the monotonic clock, which does not jump
when the wall clock does (thaw after a freeze, SnapStart restore).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Hashable

Clock = Callable[[], float]


class Cache:
    def __init__(self, max_items: int, clock: Clock = time.monotonic):
        self.max_items = max_items
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        # Cleared under SnapStart until the first INVOKE, so nothing fetched
        # during INIT lands in the snapshot.
        self.storing = True

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> bytes | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        expires, body = entry
        if self._clock() >= expires:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return body

    def put(self, key: Hashable, body: bytes, ttl_seconds: float) -> None:
        if not self.storing or self.max_items <= 0 or ttl_seconds <= 0:
            return
        self._items[key] = (self._clock() + ttl_seconds, body)
        self._items.move_to_end(key)
        if len(self._items) > self.max_items:
            self._evict()

    def _evict(self) -> None:
        # Expired entries go first, then the least recently used ones.
        now = self._clock()
        for stale in [k for k, (expires, _) in self._items.items() if expires <= now]:
            del self._items[stale]
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
