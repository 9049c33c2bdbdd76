"""Where a feature table lives in Redis: the names of its keys and the bucket of a row.

For namespace `ns`, table `t` and version `v` (a decimal counter):

- ``{ns:t}:current``: string, the current version of the table (absent until a load commits).
- ``{ns:t}:versions``: hash, version -> JSON of the version's schema (key field, field types,
  bucket count, row count, times).
- ``{ns:t}:expiry``: hash, version -> epoch seconds when the version's rows expire (every
  version but the current one: old versions and loads in progress or abandoned).
- ``{ns:t}:next``: counter the version numbers come from; ``{ns:t}:lock``: the load lock.
- ``ns:t:v:b`` for b in 0 .. buckets-1: hash, row key -> JSON object of the row's values as
  text; each bucket also holds the placeholder field "" so that every bucket of a live
  version exists (a missing bucket means the version is gone).

The table's own keys share the hash tag ``{ns:t}`` (one Redis Cluster slot), so the pointer
switch can update them in one script; the row buckets carry no tag, so a table's rows spread
over the cluster. A row's bucket is ``crc32(utf-8 key) mod buckets``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

PLACEHOLDER = ""  # hash field every bucket holds; no row key is empty
_FORBIDDEN = set("{}: \t\r\n")


def check_name(kind: str, name: str) -> str:
    """`name` if it is usable in a key (non-empty, no braces, colons or blanks), else
    ValueError naming `kind`."""
    if not name or _FORBIDDEN & set(name):
        raise ValueError(f"{kind} {name!r}: use a non-empty name without braces, colons "
                         "or blanks")
    return name


def bucket_of(key: str, num_buckets: int) -> int:
    """The bucket a row key belongs to: crc32 of its UTF-8 bytes modulo `num_buckets`."""
    return zlib.crc32(key.encode("utf-8", "surrogateescape")) % num_buckets


# attribute of TableKeys -> suffix of the table's own (hash-tagged) keys
_TABLE_KEYS = {"current": "current", "versions": "versions", "expiry": "expiry",
               "counter": "next", "lock": "lock"}


@dataclass(frozen=True)
class TableKeys:
    """The Redis key names of one feature table: `current` (version pointer), `versions`
    (schemas), `expiry` (expiry times), `counter` (version numbers), `lock` (load lock), and
    the row buckets of each version."""

    namespace: str
    table: str
    current: str = field(init=False, repr=False)
    versions: str = field(init=False, repr=False)
    expiry: str = field(init=False, repr=False)
    counter: str = field(init=False, repr=False)
    lock: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_name("namespace", self.namespace)
        check_name("table", self.table)
        for attribute, suffix in _TABLE_KEYS.items():
            object.__setattr__(self, attribute, f"{{{self.namespace}:{self.table}}}:{suffix}")

    def bucket(self, version: str, index: int) -> str:
        """Hash key of one row bucket of `version`."""
        return f"{self.namespace}:{self.table}:{version}:{index}"

    def buckets(self, version: str, num_buckets: int) -> list[str]:
        """Every row bucket key of `version`."""
        return [self.bucket(version, i) for i in range(num_buckets)]
