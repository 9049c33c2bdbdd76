"""Versioned feature tables in Redis: rows of the current version fetched in one pipelined
round trip, single-row upserts, and new versions loaded and switched in atomically.

The key layout is in keys.py (and docs/serving.md, "Feature store"); values are typed as in
values.py. A store object caches the current version's schema of each table it has read;
every fetch and upsert checks the version pointer in the same round trip, and a changed
pointer makes it read the new schema and go again, so a reader never mixes versions.
Redis errors (`redis.ConnectionError`, `redis.TimeoutError`) reach the caller.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis
import redis.cluster

from easy_rec.store.keys import TableKeys, bucket_of
from easy_rec.store.table_load import (
    DEFAULT_EXPIRE_OLD_SECS,
    DEFAULT_LOADING_TTL_SECS,
    DEFAULT_NUM_BUCKETS,
    TableLoad,
    new_load,
)
from easy_rec.store.values import encode_row, parse_rows, row_texts, type_name, type_rows
from easy_rec.store.versions import TableNotFoundError, VersionInfo, as_text

_ATTEMPTS = 3  # round trips a fetch or upsert makes at most when versions switch meanwhile

# KEYS: bucket; ARGV: row key, JSON object of field texts, "1" to replace the row.
# Returns 0 when the bucket is gone (its version expired), else 1.
_UPSERT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local row = cjson.decode(ARGV[2])
if ARGV[3] ~= '1' then
  local stored = redis.call('HGET', KEYS[1], ARGV[1])
  if stored then
    local merged = cjson.decode(stored)
    for name, text in pairs(row) do merged[name] = text end
    row = merged
  end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(row))
return 1
"""


class FeatureStore:
    """Feature tables of one namespace in the Redis (or Redis Cluster) `client`."""

    def __init__(self, client, namespace: str = "easy_rec"):
        self._client = client
        self.namespace = namespace
        self._known: dict[str, VersionInfo] = {}
        self._upsert_sha: str | None = None
        self._upsert_script = client.register_script(_UPSERT)
        # redis-py's cluster pipelines take no scripts: there an upsert is two round trips
        self._cluster = isinstance(client, redis.cluster.RedisCluster)

    def _keys(self, table: str) -> TableKeys:
        return TableKeys(self.namespace, table)

    def current_version(self, table: str) -> str | None:
        """The table's current version, None before its first load committed."""
        return as_text(self._client.get(self._keys(table).current))

    def schema(self, table: str) -> VersionInfo:
        """Key field, field types and counts of the table's current version (read now).
        TableNotFoundError when the table has none."""
        return self._refresh(table)

    def _refresh(self, table: str) -> VersionInfo:
        keys = self._keys(table)
        pipe = self._client.pipeline(transaction=False)
        pipe.get(keys.current)
        pipe.hgetall(keys.versions)
        current, infos = pipe.execute()
        version = as_text(current)
        stored = infos.get(current) if current is not None else None
        if stored is None:
            self._known.pop(table, None)
            raise TableNotFoundError(f"feature table {table!r} (namespace {self.namespace!r}) "
                                     "has no current version: load it first")
        info = VersionInfo.from_json(version, stored)
        self._known[table] = info
        return info

    def _cached(self, table: str) -> VersionInfo:
        info = self._known.get(table)
        return info if info is not None else self._refresh(table)

    def fetch(self, table: str, keys: Sequence[str]) -> list[dict[str, object] | None]:
        """The rows of `keys` in the current version, in order (None for a key without a row),
        values typed by the version's field types. One pipelined round trip: the rows of the
        version last seen and the version pointer; if the pointer moved, again with the new
        version. Keys are the key field's text (other values are turned into text).
        TableNotFoundError when the table has no current version."""
        (info, rows), = self._fetch([(table, keys)])
        typed = iter(type_rows(info.fields, [row for row in rows if row is not None]))
        return [None if row is None else next(typed) for row in rows]

    def fetch_texts(self, requests: Sequence[tuple[str, Sequence[str]]]
                    ) -> list[list[dict[str, str] | None]]:
        """For each (table, keys): the rows of `keys` as `fetch` reads them, but untyped
        (field -> the stored canonical text, see values.py), all tables in ONE pipelined round
        trip (each table's pointer checked in it, as in `fetch`)."""
        return [rows for _, rows in self._fetch(requests)]

    def _fetch(self, requests: Sequence[tuple[str, Sequence[str]]]
               ) -> list[tuple[VersionInfo, list[dict[str, str] | None]]]:
        """(version read, rows as texts) of each (table, keys), in one round trip per try."""
        requests = [(table, [k if isinstance(k, str) else str(k) for k in keys])
                    for table, keys in requests]
        for _ in range(_ATTEMPTS):
            infos = [self._cached(table) for table, _ in requests]
            pipe = self._client.pipeline(transaction=False)
            plans = []
            for (table, keys), info in zip(requests, infos):
                table_keys = self._keys(table)
                pipe.get(table_keys.current)
                groups = _bucket_groups(keys, info.num_buckets)
                for index, positions in groups.items():
                    pipe.hmget(table_keys.bucket(info.version, index), [keys[p] for p in positions])
                plans.append(groups)
            replies, at = pipe.execute(), 0
            results, moved = [], []
            for (table, keys), info, groups in zip(requests, infos, plans):
                if as_text(replies[at]) != info.version:
                    moved.append(table)
                results.append((info, _rows(len(keys), groups,
                                            replies[at + 1:at + 1 + len(groups)])))
                at += 1 + len(groups)
            if not moved:
                return results
            for table in moved:
                self._refresh(table)
        raise RuntimeError(f"feature table {', '.join(map(repr, moved))}: the current version "
                           f"kept changing during {_ATTEMPTS} reads")

    def upsert(self, table: str, key: str, row: Mapping[str, object], *,
               replace: bool = False) -> None:
        """Writes one row into the table's current version, visible to the next fetch.

        By default the given fields are merged into the stored row (fields not given keep
        their values; a new key gets only the given fields); `replace=True` replaces the whole
        row. The key field's value is set to `key`. Values are typed or cell text (see
        values.py); ValueError for an unknown field or a value that does not fit its type.
        An upsert racing a load's commit is written to the new version too.
        """
        if not key:
            raise ValueError("upsert: empty key")
        table_keys = self._keys(table)
        for _ in range(_ATTEMPTS):
            info = self._cached(table)
            texts = row_texts(info.fields, {**row, info.key_field: key})
            if texts[info.key_field] != key or (
                    info.key_field in row
                    and row_texts(info.fields, {info.key_field: row[info.key_field]}) != {
                        info.key_field: key}):
                raise ValueError(f"upsert: key {key!r} differs from the row's "
                                 f"{info.key_field} or from its canonical text "
                                 f"{texts[info.key_field]!r}")
            bucket = table_keys.bucket(info.version, bucket_of(key, info.num_buckets))
            written, current = self._upsert_round_trip(
                table_keys, bucket, key, encode_row(texts), replace)
            if written and as_text(current) == info.version:
                return
            self._refresh(table)
        raise RuntimeError(f"feature table {table!r}: the current version kept changing "
                           f"during {_ATTEMPTS} upserts")

    def _upsert_round_trip(self, table_keys: TableKeys, bucket: str, key: str, row: str,
                           replace: bool) -> tuple[int, bytes | None]:
        """(the upsert script's answer, the version pointer after it) in one pipeline; the
        script is loaded once per server (again after a restart emptied its script cache)."""
        flag = "1" if replace else "0"
        if self._cluster:
            written = self._upsert_script(keys=[bucket], args=[key, row, flag])
            return written, self._client.get(table_keys.current)
        for _ in range(2):
            if self._upsert_sha is None:
                self._upsert_sha = as_text(self._client.script_load(_UPSERT))
            pipe = self._client.pipeline(transaction=False)
            pipe.evalsha(self._upsert_sha, 1, bucket, key, row, flag)
            pipe.get(table_keys.current)
            try:
                written, current = pipe.execute()
            except redis.exceptions.NoScriptError:
                self._upsert_sha = None
                continue
            return written, current
        raise redis.exceptions.NoScriptError("the upsert script could not be loaded")

    def begin_load(self, table: str, key_field: str, fields: Mapping[str, str | int], *,
                   num_buckets: int = DEFAULT_NUM_BUCKETS,
                   expire_old_secs: int = DEFAULT_EXPIRE_OLD_SECS,
                   loading_ttl_secs: int = DEFAULT_LOADING_TTL_SECS) -> TableLoad:
        """Starts loading a new version of `table` whose rows have `fields` (name -> FieldType
        name or number, in column order) and are keyed by `key_field`. Commit it (or leave
        its `with` block) to make it current; `expire_old_secs` is how long the version it
        replaces stays readable. LoadError when another load of the table is running."""
        types = {name: type_name(t) for name, t in fields.items()}
        return new_load(self._client, self._keys(table), key_field, types, num_buckets,
                        expire_old_secs, loading_ttl_secs)


def _bucket_groups(keys: list[str], num_buckets: int) -> dict[int, list[int]]:
    """bucket -> the positions of the keys in it (empty keys in none: no row has one, the
    field "" is each bucket's marker)."""
    if num_buckets == 1:
        return {0: [position for position, key in enumerate(keys) if key]}
    groups: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        if key:
            groups.setdefault(bucket_of(key, num_buckets), []).append(position)
    return groups


def _rows(count: int, groups: dict[int, list[int]], replies: list[list[bytes | None]]
          ) -> list[dict[str, str] | None]:
    """The rows (field texts) of `count` keys from the HMGET replies of their buckets."""
    rows: list[dict[str, str] | None] = [None] * count
    found = [(position, stored) for positions, values in zip(groups.values(), replies)
             for position, stored in zip(positions, values) if stored is not None]
    for (position, _), row in zip(found, parse_rows([s for _, s in found])):
        rows[position] = row
    return rows
