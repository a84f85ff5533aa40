"""The cache on its own: TTL from the fetch on a monotonic clock, LRU eviction, bypass."""

from app.cache import Cache


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_entries_expire_ttl_after_the_fetch_not_after_the_last_read():
    clock = Clock()
    cache = Cache(10, clock)
    cache.put("k", b"v", 5)
    clock.now += 4.9
    assert cache.get("k") == b"v"
    clock.now += 0.1
    assert cache.get("k") is None
    assert len(cache) == 0


def test_least_recently_used_is_evicted_first():
    cache = Cache(2, Clock())
    cache.put("a", b"1", 60)
    cache.put("b", b"2", 60)
    assert cache.get("a") == b"1"  # a is now the most recently used
    cache.put("c", b"3", 60)
    assert cache.get("b") is None
    assert cache.get("a") == b"1" and cache.get("c") == b"3"


def test_expired_entries_are_evicted_before_live_ones():
    clock = Clock()
    cache = Cache(2, clock)
    cache.put("short", b"1", 1)
    cache.put("long", b"2", 60)
    cache.get("short")  # recently used, but about to expire
    clock.now += 2
    cache.put("new", b"3", 60)
    assert cache.get("long") == b"2" and cache.get("new") == b"3"


def test_size_zero_ttl_zero_and_not_storing_bypass():
    cache = Cache(0, Clock())
    cache.put("k", b"v", 60)
    assert cache.get("k") is None
    cache = Cache(5, Clock())
    cache.put("k", b"v", 0)
    assert cache.get("k") is None
    cache.storing = False
    cache.put("k", b"v", 60)
    assert cache.get("k") is None


def test_overwrite_refreshes_ttl():
    clock = Clock()
    cache = Cache(5, clock)
    cache.put("k", b"old", 5)
    clock.now += 4
    cache.put("k", b"new", 5)
    clock.now += 4
    assert cache.get("k") == b"new"
