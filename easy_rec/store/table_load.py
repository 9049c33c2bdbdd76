"""Loading a new version of a feature table: begin, write rows in pipelined batches, commit.

`begin` takes the table's load lock (one load per table at a time), numbers the version,
records its schema and creates its row buckets with an expiry (`loading_ttl_secs`, renewed
while rows are written), so an abandoned load cleans itself up. `commit` makes the buckets
permanent, then switches the table's current-version pointer in one script (readers move from
the old version to the complete new one, never to a half-loaded one) and gives every other
version an expiry (`expire_old_secs` from now for the one just replaced). `abort` deletes the
version's rows; the previous version stays current either way.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

import numpy as np
import redis

from easy_rec.store.keys import PLACEHOLDER, TableKeys, bucket_of
from easy_rec.store.values import column_texts, encode_columns, encode_row, row_texts
from easy_rec.store.versions import LoadError, VersionInfo, as_text

logger = logging.getLogger(__name__)

DEFAULT_EXPIRE_OLD_SECS = 24 * 3600
DEFAULT_LOADING_TTL_SECS = 6 * 3600
DEFAULT_NUM_BUCKETS = 1024
DEFAULT_BATCH_ROWS = 10000  # rows per pipelined write: ~10 rows per HSET with 1024 buckets
LOCK_SECS = 300  # a crashed loader blocks the next load of its table at most this long

# KEYS: current pointer, expiry hash; ARGV: new version, expiry (epoch s) of the replaced one
_SWITCH = """
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if previous and previous ~= ARGV[1] then
  redis.call('HSET', KEYS[2], previous, ARGV[2])
end
return previous
"""


class TableLoad:
    """One load of a new version of a table (made by `FeatureStore.begin_load`).

    Used as a context manager it commits when the block ends normally and aborts when it
    raises. Rows are written with `write_rows` (values as Python values or cell text) or
    `write_columns` (typed numpy columns); a row's key is its key field's canonical text, and a
    later row with the same key replaces the earlier one.
    """

    def __init__(self, client, keys: TableKeys, info: VersionInfo, expire_old_secs: int,
                 loading_ttl_secs: int, lock):
        self._client = client
        self._keys = keys
        self.info = info
        self._expire_old_secs = int(expire_old_secs)
        self._loading_ttl_secs = int(loading_ttl_secs)
        self._lock = lock
        self._renewed_at = time.time()
        self.keys_written = 0
        self.finished = False

    @property
    def version(self) -> str:
        """The version this load writes."""
        return self.info.version

    def _bucket_keys(self) -> list[str]:
        return self._keys.buckets(self.version, self.info.num_buckets)

    def start(self) -> None:
        """Records the version (schema, expiry) and creates its empty buckets."""
        expire_at = int(self._renewed_at) + self._loading_ttl_secs
        pipe = self._client.pipeline(transaction=False)
        pipe.hset(self._keys.versions, self.version, self.info.to_json())
        pipe.hset(self._keys.expiry, self.version, expire_at)
        for bucket in self._bucket_keys():
            pipe.hset(bucket, PLACEHOLDER, "")
            pipe.expireat(bucket, expire_at)
        pipe.execute()

    def write_rows(self, rows: Iterable[Mapping[str, object]]) -> int:
        """Writes rows of field -> value (typed, or text as in a CSV cell) in one pipelined
        round trip; returns how many keys were new. ValueError for a field the schema lacks or
        a value that does not fit its type."""
        return self._write_texts([row_texts(self.info.fields, row) for row in rows])

    def write_columns(self, columns: Mapping[str, np.ndarray]) -> int:
        """Writes rows given as typed columns (one numpy array per schema field, as the table
        converter makes them) in one pipelined round trip; returns how many keys were new."""
        texts = {name: column_texts(self.info.fields[name], values)
                 for name, values in columns.items()}
        if self.info.key_field not in texts:
            raise ValueError(f"no column of the key field {self.info.key_field!r}")
        return self._write(texts[self.info.key_field], encode_columns(self.info.fields, texts))

    def _write_texts(self, rows: list[dict[str, str]]) -> int:
        keys = [row.get(self.info.key_field, "") for row in rows]
        return self._write(keys, [encode_row(row) for row in rows])

    def _write(self, keys: list[str], encoded: list[str]) -> int:
        """Writes encoded rows under their keys in one pipelined round trip."""
        self._check_open()
        by_bucket: dict[int, dict[str, str]] = {}
        for key, row in zip(keys, encoded):
            if not key:
                raise ValueError(f"row without a value of the key field {self.info.key_field!r}")
            by_bucket.setdefault(bucket_of(key, self.info.num_buckets), {})[key] = row
        pipe = self._client.pipeline(transaction=False)
        for index, mapping in by_bucket.items():
            pipe.hset(self._keys.bucket(self.version, index), mapping=mapping)
        self._renew(pipe)
        added = pipe.execute()[:len(by_bucket)]
        self.info.rows += len(keys)
        self.keys_written += sum(added)
        return sum(added)

    def _renew(self, pipe) -> None:
        """Keeps the load alive: the lock every write, the buckets' expiry every quarter of
        the loading TTL."""
        self._lock.reacquire()
        now = time.time()
        if now - self._renewed_at < self._loading_ttl_secs / 4:
            return
        self._renewed_at = now
        expire_at = int(now) + self._loading_ttl_secs
        pipe.hset(self._keys.expiry, self.version, expire_at)
        for bucket in self._bucket_keys():
            pipe.expireat(bucket, expire_at)

    def _check_open(self) -> None:
        if self.finished:
            raise LoadError(f"load of {self._keys.table} version {self.version} is finished")

    def commit(self) -> str:
        """Makes this version the table's current one; returns the version replaced (None if
        none). Raises LoadError when the load lost its lock or rows (the previous version
        stays current)."""
        self._check_open()
        try:
            self._lock.reacquire()
        except redis.exceptions.LockError:
            raise LoadError(f"load of {self._keys.table} version {self.version} lost its lock "
                            f"(no write for over {LOCK_SECS} s); not committed") from None
        buckets = self._bucket_keys()
        pipe = self._client.pipeline(transaction=False)
        for bucket in buckets:
            pipe.persist(bucket)
        for bucket in buckets:
            pipe.exists(bucket)
        if not all(pipe.execute()[len(buckets):]):
            raise LoadError(f"rows of {self._keys.table} version {self.version} expired "
                            "during the load; not committed")
        self.info.committed_at = time.time()
        self._client.hset(self._keys.versions, self.version, self.info.to_json())
        switch = self._client.register_script(_SWITCH)
        previous = as_text(switch(keys=[self._keys.current, self._keys.expiry],
                                  args=[self.version, int(time.time()) + self._expire_old_secs]))
        self.finished = True
        expire_versions(self._client, self._keys)
        self._release()
        logger.info("table %s: version %s is current (%d rows; replaced %s)", self._keys.table,
                    self.version, self.info.rows, previous or "nothing")
        return previous

    def abort(self) -> None:
        """Deletes this version's rows and record (best effort: if Redis cannot be reached
        they expire by themselves); the previous version stays current."""
        if self.finished:
            return
        self.finished = True
        try:
            pipe = self._client.pipeline(transaction=False)
            for bucket in self._bucket_keys():
                pipe.unlink(bucket)
            pipe.hdel(self._keys.versions, self.version)
            pipe.hdel(self._keys.expiry, self.version)
            pipe.execute()
        except redis.RedisError as error:
            logger.warning("aborted load of %s version %s: could not delete its rows (%s); "
                           "they expire by themselves", self._keys.table, self.version, error)
        self._release()

    def _release(self) -> None:
        try:
            self._lock.release()
        except redis.RedisError as error:
            logger.warning("load of %s: releasing the lock failed (%s); it expires within "
                           "%d s", self._keys.table, error, LOCK_SECS)

    def __enter__(self) -> TableLoad:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self.finished:
            self.commit()


def expire_versions(client, keys: TableKeys) -> None:
    """Applies the recorded expiry to the buckets of every version but the current one
    (idempotent: absolute times) and forgets versions whose time has passed."""
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.current)
    pipe.hgetall(keys.versions)
    pipe.hgetall(keys.expiry)
    current, infos, expiry = pipe.execute()
    current = as_text(current)
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for raw_version, raw_at in expiry.items():
        version, expire_at = as_text(raw_version), int(as_text(raw_at))
        if version == current or raw_version not in infos:
            pipe.hdel(keys.expiry, raw_version)
            continue
        info = VersionInfo.from_json(version, infos[raw_version])
        for bucket in keys.buckets(version, info.num_buckets):
            pipe.expireat(bucket, expire_at)
        if expire_at <= now:
            pipe.hdel(keys.versions, raw_version)
            pipe.hdel(keys.expiry, raw_version)
    pipe.execute()


def new_load(client, keys: TableKeys, key_field: str, fields: Mapping[str, str],
             num_buckets: int, expire_old_secs: int, loading_ttl_secs: int) -> TableLoad:
    """Takes the table's load lock, numbers a new version and starts its load. LoadError
    when another load of the table holds the lock."""
    if key_field not in fields:
        raise ValueError(f"key field {key_field!r} is not among the fields "
                         f"({', '.join(fields)})")
    if num_buckets < 1 or expire_old_secs < 1 or loading_ttl_secs < 1:
        raise ValueError("num_buckets, expire_old_secs and loading_ttl_secs must be >= 1")
    lock = client.lock(keys.lock, timeout=LOCK_SECS, blocking=False)
    if not lock.acquire():
        raise LoadError(f"another load of table {keys.table} is in progress (or one stopped "
                        f"less than {LOCK_SECS} s ago without releasing its lock)")
    try:
        version = str(client.incr(keys.counter))
        info = VersionInfo(version, key_field, dict(fields), int(num_buckets),
                           started_at=time.time())
        load = TableLoad(client, keys, info, expire_old_secs, loading_ttl_secs, lock)
        load.start()
    except BaseException:
        lock.release()
        raise
    return load

