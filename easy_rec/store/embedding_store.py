"""The Redis embedding store: versions of a model's big embedding tables, and numbered pushes
of changed rows into the current version (key layout: row_layout.py, docs/embedding_store.md).

A version is written whole (state `writing`), then marked `complete`, and only then made
current with one SET of the pointer: a reader that follows the pointer, or that names a version
and checks its state, never reads a half-written version. Versions replaced by a newer one
expire after `expire_secs` (the rollback window). A push writes its rows into the version's
hashes first and then, in one MULTI/EXEC, raises the version's push number and appends the
push's ids to its stream, which readers follow to drop exactly those ids from their caches.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from easy_rec.store import row_layout as layout

logger = logging.getLogger(__name__)

#: push records kept per version (a reader further behind clears its whole cache)
MAX_PUSH_RECORDS = 1000


class StoreUnavailableError(RuntimeError):
    """Redis could not be reached or timed out (the message names the server, no password)."""


class VersionNotReadableError(RuntimeError):
    """The version does not exist, has expired or is still being written."""


@dataclass(frozen=True)
class TableInfo:
    """One stored table: row width and row count."""

    dim: int
    rows: int


@dataclass(frozen=True)
class VersionInfo:
    """A complete version of a model's stored tables."""

    model: str
    version: str
    dtype: str
    num_buckets: int
    tables: dict[str, TableInfo]
    pushes: int


@dataclass(frozen=True)
class PushRecord:
    """One push into a version, as readers see it: its number, whether it rewrote every row
    (`full`), and per table the ids it wrote (empty for a full push)."""

    stream_id: bytes
    push: int
    full: bool
    ids: dict[str, np.ndarray]


#: table -> (ids [n] int64, rows [n, dim])
RowSet = Mapping[str, tuple[np.ndarray, np.ndarray]]


def server_name(client) -> str:
    """host:port/db of a redis-py client, for messages (never its password)."""
    kwargs = client.connection_pool.connection_kwargs
    return (f"redis://{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"
            f"/{kwargs.get('db', 0)}")


@contextmanager
def redis_errors(client, what: str) -> Iterator[None]:
    """Turns redis-py's connection and timeout errors into StoreUnavailableError."""
    import redis

    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise StoreUnavailableError(f"embedding store at {server_name(client)} unreachable "
                                    f"while {what}: {error}") from None


class EmbeddingStore:
    """One model's namespace in Redis (`client`: a redis-py client, store/redis_client.py)."""

    def __init__(self, client, model: str):
        self.client = client
        self.model = model

    # ------------------------------------------------------------------ versions
    def current_version(self) -> str | None:
        """The version being served, None when none was completed yet."""
        with redis_errors(self.client, "reading the current version"):
            value = self.client.get(layout.model_key(self.model, "current"))
        return None if value is None else value.decode()

    def version_info(self, version: str) -> VersionInfo:
        """The version's description; VersionNotReadableError unless it is complete."""
        with redis_errors(self.client, f"reading version {version}"):
            meta = self.client.hgetall(layout.version_key(self.model, version, "meta"))
        if meta.get(b"state") != b"complete":
            state = meta.get(b"state", b"missing (never written, or expired)").decode()
            raise VersionNotReadableError(f"embedding store {self.model!r} version {version} "
                                          f"is not readable: {state}")
        return _info_of(self.model, version, meta)

    def new_version_name(self) -> str:
        """A version name not used yet: the time in seconds (as EasyRec's default), bumped
        past any existing one."""
        stamp = int(time.time())
        with redis_errors(self.client, "naming a version"):
            while self.client.zscore(layout.model_key(self.model, "versions"), str(stamp)) \
                    is not None:
                stamp += 1
        return str(stamp)

    def write_version(self, version: str, tables: Mapping[str, np.ndarray], dtype: str,
                      num_buckets: int, threads: int = 4, batch_size: int = 256,
                      expire_secs: int = 24 * 3600) -> VersionInfo:
        """Writes every table ([rows, dim] arrays) as `version`, then makes it current and
        sets the expiry of the versions it replaces."""
        if dtype not in layout.DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(layout.DTYPES)}, got {dtype!r}")
        info = VersionInfo(self.model, version, dtype, num_buckets,
                           {n: TableInfo(int(t.shape[1]), int(t.shape[0]))
                            for n, t in tables.items()}, 0)
        meta = layout.version_key(self.model, version, "meta")
        with redis_errors(self.client, f"writing version {version}"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(meta, mapping={"state": "writing", "dtype": dtype,
                                     "num_buckets": num_buckets, "pushes": 0,
                                     "tables": json.dumps({n: vars(t)
                                                           for n, t in info.tables.items()})})
            pipe.zadd(layout.model_key(self.model, "versions"), {version: time.time()})
            pipe.execute()
        rows = {n: (np.arange(t.shape[0], dtype=np.int64), t) for n, t in tables.items()}
        self.write_rows(info, rows, threads, batch_size)
        with redis_errors(self.client, f"completing version {version}"):
            self.client.hset(meta, "state", "complete")
            self.client.set(layout.model_key(self.model, "current"), version)
        logger.info("embedding store %r: version %s is current (%s)", self.model, version,
                    ", ".join(f"{n} {t.rows}x{t.dim}" for n, t in info.tables.items()))
        self.expire_replaced(version, expire_secs)
        return info

    def expire_replaced(self, current: str, expire_secs: int) -> None:
        """Sets every other version's keys to expire in `expire_secs` and forgets them."""
        versions_key = layout.model_key(self.model, "versions")
        with redis_errors(self.client, "expiring old versions"):
            old = [v.decode() for v in self.client.zrange(versions_key, 0, -1)
                   if v.decode() != current]
            for version in old:
                pipe = self.client.pipeline(transaction=False)
                for key in self._version_keys(version):
                    pipe.expire(key, max(int(expire_secs), 1))
                pipe.zrem(versions_key, version)
                pipe.execute()
        if old:
            logger.info("embedding store %r: versions %s expire in %d s", self.model,
                        ", ".join(old), expire_secs)

    def _version_keys(self, version: str) -> list[str]:
        meta = self.client.hgetall(layout.version_key(self.model, version, "meta"))
        keys = [layout.version_key(self.model, version, s) for s in ("meta", "pushes")]
        if b"tables" in meta:
            info = _info_of(self.model, version, meta)
            keys += [layout.bucket_key(self.model, version, t, b)
                     for t in info.tables for b in range(info.num_buckets)]
        return keys

    # ------------------------------------------------------------------ rows
    def write_rows(self, info: VersionInfo, rows: RowSet, threads: int = 4,
                   batch_size: int = 256) -> None:
        """Writes rows into `info`'s hashes: pipelines of `batch_size` rows, `threads` at a
        time, with a progress bar."""
        chunks = [(table, ids[i:i + batch_size], values[i:i + batch_size])
                  for table, (ids, values) in rows.items()
                  for i in range(0, len(ids), max(batch_size, 1))]
        total = sum(len(ids) for ids, _ in rows.values())
        progress = tqdm(total=total, unit="row", desc="embedding store", disable=None)

        def write(chunk: tuple[str, np.ndarray, np.ndarray]) -> None:
            table, ids, values = chunk
            pipe = self.client.pipeline(transaction=False)
            buckets = layout.buckets_of(ids, info.num_buckets)
            fields, encoded = layout.id_fields(ids), layout.encode_rows(values, info.dtype)
            for bucket in np.unique(buckets):
                members = np.flatnonzero(buckets == bucket)
                pipe.hset(layout.bucket_key(self.model, info.version, table, int(bucket)),
                          mapping={fields[i]: encoded[i] for i in members})
            pipe.execute()
            progress.update(len(ids))

        try:
            with redis_errors(self.client, f"writing rows of version {info.version}"), \
                    ThreadPoolExecutor(max(threads, 1)) as pool:
                list(pool.map(write, chunks))
        finally:
            progress.close()

    def read_rows(self, info: VersionInfo, ids: Mapping[str, np.ndarray]
                  ) -> tuple[dict[str, np.ndarray], int]:
        """(table -> [n, dim] float32 rows of the given ids, rows not found) in one pipelined
        round trip of HMGETs; an id not found gets a zero row."""
        pipe = self.client.pipeline(transaction=False)
        plan = []
        for table, table_ids in ids.items():
            buckets = layout.buckets_of(table_ids, info.num_buckets)
            fields = layout.id_fields(table_ids)
            for bucket in np.unique(buckets):
                members = np.flatnonzero(buckets == bucket)
                pipe.hmget(layout.bucket_key(self.model, info.version, table, int(bucket)),
                           [fields[i] for i in members])
                plan.append((table, members))
        with redis_errors(self.client, f"reading rows of version {info.version}"):
            replies = pipe.execute() if plan else []
        out = {t: np.zeros([len(i), info.tables[t].dim], np.float32) for t, i in ids.items()}
        missing = 0
        for (table, members), values in zip(plan, replies):
            found = [k for k, v in enumerate(values) if v is not None]
            missing += len(values) - len(found)
            out[table][members[found]] = layout.decode_rows(
                [values[k] for k in found], info.tables[table].dim, info.dtype)
        return out, missing

    # ------------------------------------------------------------------ pushes
    def push(self, info: VersionInfo, rows: RowSet, full: bool = False, threads: int = 4,
             batch_size: int = 256) -> int:
        """Writes `rows` into the version, then commits them as its next push; returns the
        push number. A full push rewrites every row (readers drop their whole cache)."""
        self.write_rows(info, rows, threads, batch_size)
        meta = layout.version_key(self.model, info.version, "meta")
        with redis_errors(self.client, f"committing a push to version {info.version}"):
            number = int(self.client.hget(meta, "pushes") or 0) + 1
            record = {"push": number, "full": int(full)}
            if not full:
                record |= {f"ids:{t}": layout.pack_ids(ids) for t, (ids, _) in rows.items()}
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(meta, "pushes", number)
            pipe.xadd(layout.version_key(self.model, info.version, "pushes"), record,
                      maxlen=MAX_PUSH_RECORDS, approximate=False)
            pipe.execute()
        logger.info("embedding store %r version %s: push %d (%s, %d rows)", self.model,
                    info.version, number, "full" if full else "delta",
                    sum(len(i) for i, _ in rows.values()))
        return number

    def pushes_after(self, version: str, stream_id: bytes | None) -> tuple[list[PushRecord], bool]:
        """(the pushes into `version` after the one with `stream_id` (all with None), whether
        some in between were already trimmed from the stream)."""
        key = layout.version_key(self.model, version, "pushes")
        with redis_errors(self.client, f"reading the pushes of version {version}"):
            entries = self.client.xrange(key, min=b"(" + stream_id if stream_id else "-")
            first = self.client.xrange(key, count=1) if stream_id else []
        records = [PushRecord(sid, int(fields[b"push"]), fields[b"full"] == b"1",
                              {k.decode()[4:]: layout.unpack_ids(v) for k, v in fields.items()
                               if k.startswith(b"ids:")}) for sid, fields in entries]
        gap = bool(first) and _stream_order(first[0][0]) > _stream_order(stream_id)
        return records, gap


def _stream_order(stream_id: bytes) -> tuple[int, int]:
    ms, seq = stream_id.split(b"-")
    return int(ms), int(seq)


def _info_of(model: str, version: str, meta: dict[bytes, bytes]) -> VersionInfo:
    tables = {n: TableInfo(**t) for n, t in json.loads(meta[b"tables"]).items()}
    return VersionInfo(model, version, meta[b"dtype"].decode(), int(meta[b"num_buckets"]),
                       tables, int(meta.get(b"pushes", 0)))
