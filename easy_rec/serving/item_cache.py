"""An in-process cache of item feature rows: bounded in entries, each kept `ttl_secs` (a row
updated elsewhere is seen at most that late; upserts through this service drop the entry at
once). Thread-safe; least recently used entries go first when full."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict


class ItemCache:
    """key -> row, with a size bound and a time to live (size 0 or ttl 0: off)."""

    def __init__(self, max_entries: int, ttl_secs: float):
        self.max_entries = max(int(max_entries), 0)
        self.ttl_secs = ttl_secs
        self._rows: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether anything is ever cached."""
        return self.max_entries > 0 and self.ttl_secs > 0

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """The cached, unexpired rows of `keys`."""
        if not self.enabled:
            return {}
        now, found = time.monotonic(), {}
        with self._lock:
            for key in keys:
                entry = self._rows.get(key)
                if entry is None:
                    continue
                if entry[0] < now:
                    del self._rows[key]
                    continue
                self._rows.move_to_end(key)
                found[key] = entry[1]
        return found

    def put_many(self, rows: dict[str, dict]) -> None:
        """Caches `rows` for ttl_secs, dropping the least recently used beyond the bound."""
        if not self.enabled:
            return
        expires = time.monotonic() + self.ttl_secs
        with self._lock:
            for key, row in rows.items():
                self._rows[key] = (expires, row)
                self._rows.move_to_end(key)
            while len(self._rows) > self.max_entries:
                self._rows.popitem(last=False)

    def drop(self, key: str) -> None:
        """Forgets `key` (after an upsert of its row)."""
        with self._lock:
            self._rows.pop(key, None)
