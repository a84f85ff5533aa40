"""The cache on its own: TTL from the fetch on a monotonic clock, LRU eviction, byte cap, aliases, stale window."""

from app.cache import ENTRY_OVERHEAD, Cache, Entry


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def put(cache, key, item, ttl, idents=(), aliases=()):
    return cache.put(key, Entry(item, "body", cache.clock(), ttl, idents), aliases)


def item(cache, key):
    entry = cache.get(key)
    return entry.item if entry is not None and cache.fresh(entry) else None


def test_entries_expire_ttl_after_the_fetch_not_after_the_last_read():
    clock = Clock()
    cache = Cache(10, clock=clock)
    put(cache, "k", b"v", 5)
    clock.now += 4.9
    assert item(cache, "k") == b"v"
    clock.now += 0.1
    assert cache.get("k") is None
    assert len(cache) == 0


def test_least_recently_used_is_evicted_first():
    cache = Cache(2, clock=Clock())
    put(cache, "a", b"1", 60)
    put(cache, "b", b"2", 60)
    assert item(cache, "a") == b"1"  # a is now the most recently used
    put(cache, "c", b"3", 60)
    assert cache.get("b") is None
    assert item(cache, "a") == b"1" and item(cache, "c") == b"3"


def test_expired_entries_are_evicted_before_live_ones():
    clock = Clock()
    cache = Cache(2, clock=clock)
    put(cache, "short", b"1", 1)
    put(cache, "long", b"2", 60)
    cache.get("short")  # recently used, but about to expire
    clock.now += 2
    put(cache, "new", b"3", 60)
    assert item(cache, "long") == b"2" and item(cache, "new") == b"3"


def test_size_zero_ttl_zero_and_not_storing_bypass():
    cache = Cache(0, clock=Clock())
    assert not put(cache, "k", b"v", 60) and cache.get("k") is None
    cache = Cache(5, clock=Clock())
    assert not put(cache, "k", b"v", 0) and cache.get("k") is None
    cache.storing = False
    assert not put(cache, "k", b"v", 60) and cache.get("k") is None


def test_overwrite_refreshes_ttl():
    clock = Clock()
    cache = Cache(5, clock=clock)
    put(cache, "k", b"old", 5)
    clock.now += 4
    put(cache, "k", b"new", 5)
    clock.now += 4
    assert item(cache, "k") == b"new"


def test_byte_cap_evicts_least_recently_used_and_refuses_oversized_values():
    cache = Cache(100, max_bytes=3 * (ENTRY_OVERHEAD + 100), clock=Clock())
    for key in "abc":
        put(cache, key, b"x" * 100, 60)
    assert cache.bytes == 3 * (ENTRY_OVERHEAD + 100)
    put(cache, "d", b"x" * 100, 60)
    assert cache.get("a") is None and len(cache) == 3 and cache.bytes <= cache.max_bytes
    assert not put(cache, "huge", b"x" * 5000, 60) and cache.get("huge") is None and len(cache) == 3


def test_expired_entry_is_kept_for_the_stale_window_only():
    clock = Clock()
    cache = Cache(10, stale_seconds=30, clock=clock)
    put(cache, "k", b"v", 5)
    clock.now += 20
    entry = cache.get("k")
    assert entry is not None and not cache.fresh(entry)
    clock.now += 15
    assert cache.get("k") is None and len(cache) == 0


def test_aliases_reach_the_same_entry_and_go_with_it():
    cache = Cache(10, clock=Clock())
    put(cache, ("ssm", "/a", "", False), b"v", 60, idents={"/a", "arn:a"}, aliases=[("ssm", "arn:a", "", False)])
    assert item(cache, ("ssm", "arn:a", "", False)) == b"v"
    # A fetch under the alias replaces the one entry instead of making a second.
    put(cache, ("ssm", "arn:a", "", False), b"w", 60, idents={"/a", "arn:a"})
    assert len(cache) == 1 and item(cache, ("ssm", "/a", "", False)) == b"w"
    assert cache.invalidate("ssm", "arn:a") == 1
    assert cache.get(("ssm", "/a", "", False)) is None and cache.get(("ssm", "arn:a", "", False)) is None


def test_invalidate_drops_every_variant_of_one_name_only():
    cache = Cache(10, clock=Clock())
    put(cache, ("ssm", "/a", "", False), b"1", 60, idents={"/a"})
    put(cache, ("ssm", "/a", ":2", True), b"2", 60, idents={"/a"})
    put(cache, ("ssm", "/b", "", False), b"3", 60, idents={"/b"})
    put(cache, ("secretsmanager", "/a", None, None), b"4", 60, idents={"/a"})
    assert cache.invalidate("ssm", "/a") == 2
    assert len(cache) == 2 and cache.clear() == 2 and cache.bytes == 0


def test_ttl_jitter_only_ever_shortens_a_ttl_and_spreads_it_over_its_range():
    import random

    from app.cache import jittered_ttl

    draw = random.Random(7).random
    ttls = [jittered_ttl(300, 10, draw) for _ in range(2000)]
    assert all(270 <= t <= 300 for t in ttls)
    assert min(ttls) < 272 and max(ttls) > 298  # the whole range is used, not one value
    assert jittered_ttl(300, 0, draw) == 300
    assert (jittered_ttl(300, 50, lambda: 0.0), jittered_ttl(300, 50, lambda: 0.999)) == (300, 300 * (1 - 0.4995))
