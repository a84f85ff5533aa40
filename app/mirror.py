"""Fresh answers of the owner's cache, readable by the hit workers (PSCACHE_WORKERS > 1).

One shared anonymous mapping, made before the workers fork: no file, nothing another process can open. Only the
owner writes. A slot per key hash holds the offset of that key's record in a ring; a record is never changed once
written and carries a digest of everything a reader uses, so a reader racing the owner (a slot just cleared, a
record overwritten as the ring wraps, a half-written one) finds a mismatch and asks the owner instead. Never a torn
or foreign answer. Expiry times are on CLOCK_MONOTONIC (time.monotonic), which every process of the host shares.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
import zlib
from typing import Hashable

_U64 = struct.Struct("<Q")
_FIELDS = struct.Struct("<IIdd")  # body length, key length, fetched, serve until
_DIGEST = 16
_HEAD = _FIELDS.size + _DIGEST
DEFAULT_SLOTS = 16384
DEFAULT_ARENA = 16 << 20  # touched pages only cost memory; a full ring overwrites its oldest records


def key_bytes(key: Hashable) -> bytes:
    return repr(key).encode()  # cache keys are tuples of str, int, bool and None: repr is exact and stable


def _digest(fields: bytes, key: bytes, body: bytes) -> bytes:
    return hashlib.sha256(fields + key + body).digest()[:_DIGEST]


class Mirror:
    def __init__(self, workers: int, slots: int = DEFAULT_SLOTS, arena: int = DEFAULT_ARENA):
        self.workers = workers
        self.slots = slots
        self._table = workers * _U64.size  # hit counters first, one per process (0: the owner)
        self._arena_at = self._table + slots * _U64.size
        self._arena = arena
        self._map = mmap.mmap(-1, self._arena_at + arena)  # MAP_SHARED | MAP_ANONYMOUS: survives fork, shared
        # The owner's bookkeeping (a worker's copy goes unused): the ring's write position, counted from the start
        # (its offset is written % arena), and what each key's published record holds.
        self._written = 0
        self._published: dict[bytes, tuple[object, int]] = {}  # key -> (entry, position of its record)

    # -- owner ----------------------------------------------------------------

    def publish(self, key: Hashable, entry: object, body: bytes, fetched: float, serve_until: float) -> bool:
        """Make body the workers' answer for key until serve_until; False when it does not fit. Publishing the
        same entry again is free while its record is intact."""
        kb = key_bytes(key)
        slot = self._slot(kb)
        held = self._published.get(kb)
        if held is not None and held[0] is entry and self._intact(slot, held[1]):
            return True
        size = _HEAD + len(kb) + len(body)
        if size > self._arena // 4:
            return False  # a huge value would push out many others; the owner answers it
        if self._written % self._arena + size > self._arena:
            self._written += self._arena - self._written % self._arena  # skip the tail: records never wrap
        at = self._written % self._arena
        fields = _FIELDS.pack(len(body), len(kb), fetched, serve_until)
        base = self._arena_at + at
        self._map[base:base + size] = fields + _digest(fields, kb, body) + kb + body
        _U64.pack_into(self._map, slot, at + 1)  # published after the record: a reader sees all of it or rejects it
        self._published[kb] = (entry, self._written)
        self._written += (size + 7) & ~7
        return True

    def drop(self, key: Hashable) -> None:
        kb = key_bytes(key)
        held = self._published.pop(kb, None)
        if held is not None:
            slot = self._slot(kb)
            if _U64.unpack_from(self._map, slot)[0] == held[1] % self._arena + 1:
                _U64.pack_into(self._map, slot, 0)

    def clear(self) -> None:
        for kb in list(self._published):
            _U64.pack_into(self._map, self._slot(kb), 0)
        self._published.clear()

    def _intact(self, slot: int, position: int) -> bool:
        """Whether the record at position is still the slot's and not yet overwritten by the ring."""
        return (_U64.unpack_from(self._map, slot)[0] == position % self._arena + 1
                and self._written <= position + self._arena)

    def _slot(self, kb: bytes) -> int:
        return self._table + (zlib.crc32(kb) % self.slots) * _U64.size

    # -- workers --------------------------------------------------------------

    def lookup(self, key: Hashable, now: float) -> tuple[bytes, float] | None:
        """(body, fetched) of key's published answer while now is before its serve-until time; None: ask the
        owner (never published, dropped, expired, or changing under this read)."""
        kb = key_bytes(key)
        at = _U64.unpack_from(self._map, self._slot(kb))[0] - 1
        if at < 0 or at + _HEAD > self._arena:
            return None
        base = self._arena_at + at
        body_len, key_len = _FIELDS.unpack_from(self._map, base)[:2]
        end = at + _HEAD + key_len + body_len
        if key_len != len(kb) or end > self._arena:
            return None
        record = self._map[base:self._arena_at + end]  # a copy: every check below is on bytes nobody can change
        fields, digest = record[:_FIELDS.size], record[_FIELDS.size:_HEAD]
        body = record[_HEAD + key_len:]
        if record[_HEAD:_HEAD + key_len] != kb or _digest(fields, kb, body) != digest:
            return None
        fetched, until = _FIELDS.unpack(fields)[2:]
        return (body, fetched) if now < until else None

    # -- hit counters -----------------------------------------------------------

    def count_hit(self, process: int) -> None:
        at = process * _U64.size  # each process writes only its own counter
        _U64.pack_into(self._map, at, _U64.unpack_from(self._map, at)[0] + 1)

    def hits(self) -> list[int]:
        """Hits each hit worker answered itself (process 1 onwards)."""
        return [_U64.unpack_from(self._map, i * _U64.size)[0] for i in range(1, self.workers)]
