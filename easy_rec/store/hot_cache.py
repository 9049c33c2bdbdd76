"""In-process cache of hot embedding rows, in front of the Redis embedding store.

Bounded by bytes (row bytes plus a fixed per-entry overhead); least recently used rows are
evicted first. Admission by frequency: an id enters only once it was looked up `min_count`
times (counted in a bounded table of recent ids, halved when full), so one-off ids of a
long Zipf tail do not push hot rows out. Thread-safe.

Each table's rows live in one float32 array; a dict maps an id to its slot, and each slot
records the lookup (a counter) that last used it. A lookup is one dict probe per id, the rest
(gathering the rows, marking them used) is vectorised; eviction takes the slots with the
oldest marks across all tables. A table's row array keeps its largest size (at most the
bound's worth of its rows); freed slots are reused.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

#: bytes counted per cached row besides the row itself (dict entry, key, slot bookkeeping)
ENTRY_OVERHEAD = 160
_FREE = -1  # the `used` mark of an empty slot


class _TableRows:
    """One table's cached rows: id -> slot, and per slot its row, id and last use."""

    def __init__(self, dim: int):
        self.row_bytes = 4 * dim + ENTRY_OVERHEAD
        self.slot_of: dict[int, int] = {}
        self.rows = np.zeros([0, dim], np.float32)
        self.ids = np.zeros(0, np.int64)
        self.used = np.zeros(0, np.int64)
        self.free: list[int] = []

    def slots(self, ids: np.ndarray) -> np.ndarray:
        """The slot of each id, -1 where it is not cached."""
        get = self.slot_of.get
        return np.array([get(i, -1) for i in ids.tolist()], np.int64)

    def allocate(self, count: int, limit: int) -> np.ndarray:
        """`count` free slots, growing the arrays (doubling, up to `limit` slots) as needed."""
        short = count - len(self.free)
        if short > 0:
            old = len(self.used)
            size = min(max(2 * old, old + short, 64), max(limit, old + short))
            self.rows = np.concatenate([self.rows, np.zeros([size - old, self.rows.shape[1]],
                                                            np.float32)])
            self.ids = np.concatenate([self.ids, np.zeros(size - old, np.int64)])
            self.used = np.concatenate([self.used, np.full(size - old, _FREE, np.int64)])
            self.free += range(size - 1, old - 1, -1)
        taken = self.free[-count:] if count else []
        del self.free[len(self.free) - count:]
        return np.array(taken[::-1], np.int64)

    def drop(self, slots: np.ndarray) -> None:
        """Empties the slots."""
        for key in self.ids[slots].tolist():
            del self.slot_of[key]
        self.used[slots] = _FREE
        self.free += slots.tolist()


class HotRowCache:
    """(table, id) -> float32 row."""

    def __init__(self, max_bytes: int, min_count: int = 2, max_counted: int = 1 << 20):
        self.max_bytes = int(max_bytes)
        self.min_count = max(int(min_count), 1)
        self._max_counted = max_counted
        self._tables: dict[str, _TableRows] = {}
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._clock = 0  # lookups so far: the `used` mark of the rows a lookup touches
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return sum(len(t.slot_of) for t in self._tables.values())

    def get(self, table: str, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows [n, dim] with the cached ones filled, bool mask of the ids not cached)."""
        with self._lock:
            cached = self._tables.get(table)
            if cached is None or not cached.slot_of:
                self.misses += len(ids)
                return np.zeros([len(ids), dim], np.float32), np.ones(len(ids), bool)
            slots = cached.slots(ids)
            missed = slots < 0
            found = slots[~missed]
            if len(found) == len(ids):
                rows = cached.rows[found]
            else:
                rows = np.zeros([len(ids), dim], np.float32)
                rows[~missed] = cached.rows[found]
            self._clock += 1
            cached.used[found] = self._clock
            self.hits += len(found)
            self.misses += len(ids) - len(found)
        return rows, missed

    def offer(self, table: str, ids: np.ndarray, rows: np.ndarray) -> None:
        """Counts a lookup of each id (fetched from the store) and admits the frequent ones."""
        with self._lock:
            admit = []
            for i, key in enumerate((table, x) for x in ids.tolist()):
                count = self._counts.get(key, 0) + 1
                if count < self.min_count:
                    self._count(key, count)
                    continue
                self._counts.pop(key, None)
                admit.append(i)
            if admit:
                self._put(table, ids[admit], np.asarray(rows, np.float32)[admit])

    def invalidate(self, table: str, ids: Iterable[int]) -> int:
        """Drops the given ids of a table; returns how many were cached."""
        with self._lock:
            cached = self._tables.get(table)
            if cached is None:
                return 0
            slots = cached.slots(np.asarray(list(ids), np.int64))
            slots = slots[slots >= 0]
            cached.drop(slots)
            self.bytes -= len(slots) * cached.row_bytes
        return len(slots)

    def clear(self) -> None:
        """Drops every row (and the admission counts)."""
        with self._lock:
            self._tables.clear()
            self._counts.clear()
            self.bytes = 0

    @property
    def hit_rate(self) -> float:
        """Share of looked-up ids served from the cache so far."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def _count(self, key: tuple[str, int], count: int) -> None:
        if len(self._counts) >= self._max_counted:
            self._counts = {k: c // 2 for k, c in self._counts.items() if c > 1}
        self._counts[key] = count

    def _put(self, table: str, ids: np.ndarray, rows: np.ndarray) -> None:
        cached = self._tables.setdefault(table, _TableRows(rows.shape[1]))
        limit = self.max_bytes // cached.row_bytes  # rows of this table the bound holds
        if not limit:
            return
        ids, first = np.unique(ids, return_index=True)
        slots = cached.slots(ids)
        known = slots >= 0
        cached.rows[slots[known]] = rows[first[known]]  # a row offered again: its new value
        ids, rows = ids[~known][-limit:], rows[first[~known]][-limit:]
        if not len(ids):
            return
        self._evict(self.bytes + len(ids) * cached.row_bytes - self.max_bytes)
        slots = cached.allocate(len(ids), limit)
        cached.rows[slots], cached.ids[slots] = rows, ids
        self._clock += 1
        cached.used[slots] = self._clock
        cached.slot_of.update(zip(ids.tolist(), slots.tolist()))
        self.bytes += len(ids) * cached.row_bytes

    def _evict(self, excess: int) -> None:
        """Evicts the least recently used rows of all tables until `excess` bytes are freed."""
        if excess <= 0:
            return
        names = list(self._tables)
        slots = [np.flatnonzero(self._tables[n].used != _FREE) for n in names]
        marks = np.concatenate([self._tables[n].used[s] for n, s in zip(names, slots)])
        owner = np.concatenate([np.full(len(s), k) for k, s in enumerate(slots)])
        position = np.concatenate(slots)
        sizes = np.array([self._tables[n].row_bytes for n in names])[owner]
        order = np.argsort(marks, kind="stable")
        count = int(np.searchsorted(np.cumsum(sizes[order]), excess)) + 1
        chosen = order[:count]
        for k, name in enumerate(names):
            mine = position[chosen[owner[chosen] == k]]
            self._tables[name].drop(mine)
            self.bytes -= len(mine) * self._tables[name].row_bytes
        self.evictions += len(chosen)
