"""In-process cache of hot embedding rows, in front of the Redis embedding store.

Bounded by bytes (row bytes plus a fixed per-entry overhead); least recently used rows are
evicted first. Admission by frequency: an id enters only once it was looked up `min_count`
times (counted in a bounded table of recent ids, halved when full), so one-off ids of a
long Zipf tail do not push hot rows out. Thread-safe.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

#: bytes counted per cached row besides the row itself (dict entry, key, array header)
ENTRY_OVERHEAD = 160


class HotRowCache:
    """(table, id) -> float32 row."""

    def __init__(self, max_bytes: int, min_count: int = 2, max_counted: int = 1 << 20):
        self.max_bytes = int(max_bytes)
        self.min_count = max(int(min_count), 1)
        self._max_counted = max_counted
        self._rows: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, table: str, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows [n, dim] with the cached ones filled, bool mask of the ids not cached)."""
        rows = np.zeros([len(ids), dim], np.float32)
        missed = np.ones(len(ids), bool)
        with self._lock:
            for i, key in enumerate((table, int(x)) for x in ids):
                row = self._rows.get(key)
                if row is not None:
                    self._rows.move_to_end(key)
                    rows[i], missed[i] = row, False
            found = int(len(ids) - missed.sum())
            self.hits += found
            self.misses += len(ids) - found
        return rows, missed

    def offer(self, table: str, ids: np.ndarray, rows: np.ndarray) -> None:
        """Counts a lookup of each id (fetched from the store) and admits the frequent ones."""
        with self._lock:
            for i, key in enumerate((table, int(x)) for x in ids):
                count = self._counts.get(key, 0) + 1
                if count < self.min_count:
                    self._count(key, count)
                    continue
                self._counts.pop(key, None)
                self._put(key, np.array(rows[i], np.float32))

    def invalidate(self, table: str, ids: Iterable[int]) -> int:
        """Drops the given ids of a table; returns how many were cached."""
        dropped = 0
        with self._lock:
            for key in ((table, int(x)) for x in ids):
                row = self._rows.pop(key, None)
                if row is not None:
                    self.bytes -= row.nbytes + ENTRY_OVERHEAD
                    dropped += 1
        return dropped

    def clear(self) -> None:
        """Drops every row (and the admission counts)."""
        with self._lock:
            self._rows.clear()
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

    def _put(self, key: tuple[str, int], row: np.ndarray) -> None:
        size = row.nbytes + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        old = self._rows.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes + ENTRY_OVERHEAD
        while self._rows and self.bytes + size > self.max_bytes:
            _, evicted = self._rows.popitem(last=False)
            self.bytes -= evicted.nbytes + ENTRY_OVERHEAD
            self.evictions += 1
        self._rows[key] = row
        self.bytes += size
