"""An in-memory TTL cache with least-recently-used eviction, bounded in entries and bytes.

It stores finished JSON fragments (bytes), so a hit does no JSON work. TTLs are
counted from the fetch on the monotonic clock, which does not jump when the
wall clock does (thaw after a freeze, SnapStart restore). An expired entry is
kept for `stale_seconds` more, so it can be served when the upstream fails.
One entry can be reached under several keys (by name and by ARN): aliases.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from typing import Callable, Hashable, Iterable

Clock = Callable[[], float]
# Rough per-entry cost beyond the body (entry object, key tuple, dict slots), for the byte cap.
ENTRY_OVERHEAD = 400


def jittered_ttl(ttl: float, percent: int, draw: Callable[[], float] = random.random) -> float:
    """ttl shortened by a random 0..percent %, never lengthened, so "never older than the TTL" holds. Environments
    created in one burst fetch together; without jitter they would also all refetch together, every TTL."""
    return ttl * (1 - percent / 100 * draw()) if percent else ttl


class Entry:
    __slots__ = ("item", "kind", "fetched", "ttl", "read", "idents", "aliases", "size", "failed_at", "failure", "error")

    def __init__(self, item: bytes, kind: str, fetched: float, ttl: float, idents: Iterable[str] = (), error=None):
        self.item = item  # the JSON object of one parameter or secret, or a whole body
        self.kind = kind  # how to turn `item` into a response body (render.body_for)
        self.error = error  # a negative entry: the ApiError the upstream answered (PSCACHE_NEGATIVE_TTL)
        self.fetched = fetched
        self.ttl = ttl
        self.read = False  # read since it was fetched: only those are worth refreshing ahead
        self.idents = frozenset(idents)  # names and ARNs it answers for, for invalidation
        self.aliases: list[Hashable] = []
        self.size = len(item) + ENTRY_OVERHEAD + (len(error.message) if error is not None else 0)
        self.failed_at = 0.0  # when a refetch of this expired entry last failed transiently, and why
        self.failure = ""

    @property
    def expires(self) -> float:
        return self.fetched + self.ttl


class Cache:
    def __init__(self, max_items: int, max_bytes: int = 0, stale_seconds: float = 0, clock: Clock = time.monotonic):
        self.max_items = max_items
        self.max_bytes = max_bytes  # 0: no cap in bytes
        self.stale_seconds = stale_seconds
        self.clock = clock
        self.bytes = 0
        self._items: OrderedDict[Hashable, Entry] = OrderedDict()
        self._aliases: dict[Hashable, Hashable] = {}
        # Cleared under SnapStart until the first INVOKE, so nothing fetched
        # during INIT lands in the snapshot.
        self.storing = True
        self.mirror = None  # the hit workers' view (app/mirror.py): told of every entry that leaves

    def holds(self, key: Hashable, entry: Entry) -> bool:
        """Whether key (or the key it is an alias of) stands for entry now."""
        return self._items.get(self._aliases.get(key, key)) is entry

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Entry | None:
        """The entry under key or one of its aliases, fresh or still servable as stale; None otherwise."""
        key = self._aliases.get(key, key)
        entry = self._items.get(key)
        if entry is None:
            return None
        if self.clock() >= entry.expires + self.stale_seconds:
            self._remove(key)
            return None
        self._items.move_to_end(key)
        return entry

    def fresh(self, entry: Entry) -> bool:
        return self.clock() < entry.expires

    def put(self, key: Hashable, entry: Entry, aliases: Iterable[Hashable] = ()) -> bool:
        if not self.storing or self.max_items <= 0 or entry.ttl <= 0:
            return False
        if self.max_bytes and entry.size > self.max_bytes:
            return False  # one value larger than the whole cache: serve it, do not keep it
        key = self._aliases.get(key, key)
        if key in self._items:
            self._remove(key)
        self._items[key] = entry
        self.bytes += entry.size
        for alias in aliases:
            if alias != key and alias not in self._items:
                self._aliases[alias] = key
                entry.aliases.append(alias)
        if self._over():
            self._evict()
        return True

    def entries(self) -> list[tuple[Hashable, Entry]]:
        return list(self._items.items())

    def invalidate(self, service: str, ident: str) -> int:
        """Drop every entry of one store that answers for ident (any selector, by name or ARN)."""
        doomed = [k for k, e in self._items.items() if k[0] == service and ident in e.idents]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def clear(self) -> int:
        if self.mirror is not None:
            self.mirror.clear()
        count = len(self._items)
        self._items.clear()
        self._aliases.clear()
        self.bytes = 0
        return count

    def _remove(self, key: Hashable) -> None:
        entry = self._items.pop(key)
        self.bytes -= entry.size
        if self.mirror is not None:
            for gone in (key, *entry.aliases):
                self.mirror.drop(gone)
        for alias in entry.aliases:
            if self._aliases.get(alias) == key:
                del self._aliases[alias]

    def _over(self) -> bool:
        return len(self._items) > self.max_items or bool(self.max_bytes and self.bytes > self.max_bytes)

    def _evict(self) -> None:
        # Entries no longer servable go first, then the least recently used ones.
        now = self.clock()
        for key in [k for k, e in self._items.items() if e.expires + self.stale_seconds <= now]:
            self._remove(key)
        while self._over():
            self._remove(next(iter(self._items)))
