"""Serving a split export (easy_rec/export/split.py): raw features -> row ids (the scoring
signature's ids signature, e.g. `embedding_ids` for serving_default) -> hot-id cache -> one
pipelined HMGET round trip to the Redis embedding store for the misses -> the dense scoring
signature. The ids signature answers each table's distinct ids, so each id is looked up once
per request; through the 1 × N pair (`score_user_items`) a user's ids are one row each.

    runners = SplitModelRunner.load_all(export_dir, redis_client)  # {signature: runner}
    outputs = runners["serving_default"]({"user_id": np.array([...]), ...})

The runners of one export share its EmbeddingRows: the store version its export names and
one hot-id cache. At most every `poll_secs` it reads the pushes committed since the last look
and drops exactly their ids from the cache (all of it after a full push). Consistency
(docs/embedding_store.md): an export published with push k loads only once push k is
committed, so its dense weights are never served with rows older than push k. Redis down: a
request whose rows are all cached is answered; any other raises StoreUnavailableError (the
service's 503).
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import tensorflow as tf

from easy_rec.export.split import IDS_PREFIX, IDS_SIGNATURE, ROWS_PREFIX, read_store_info
from easy_rec.serving.signature import (
    SIGNATURE_KEY,
    ServingSignature,
    flat_call,
    load_saved_model,
)
from easy_rec.store.embedding_store import (
    EmbeddingStore,
    StoreUnavailableError,
    VersionNotReadableError,
)
from easy_rec.store.hot_cache import HotRowCache
from easy_rec.tables.errors import PredictError

logger = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 64 << 20


class EmbeddingRows:
    """The embedding store version of one split export, with its hot-id cache and the pushes
    applied to it."""

    def __init__(self, saved_model_dir: str, info: dict, client, cache: HotRowCache | None,
                 poll_secs: float):
        self.store = EmbeddingStore(client, info["model"])
        self.version = self.store.version_info(info["version"])
        if self.version.pushes < info["push"]:
            raise VersionNotReadableError(
                f"{saved_model_dir} goes with push {info['push']} of embedding store version "
                f"{info['version']}, which has {self.version.pushes} pushes committed so far")
        self.tables: dict[str, int] = info["tables"]
        self.cache = cache if cache is not None else HotRowCache(DEFAULT_CACHE_BYTES)
        self.poll_secs = poll_secs
        self.pushes_seen = self.version.pushes
        records, _ = self.store.pushes_after(info["version"], None)
        self._stream_id = records[-1].stream_id if records else None
        self._last_poll = time.monotonic()
        self._epoch = 0
        self._lock = threading.Lock()

    def sync_pushes(self, force: bool = False) -> int:
        """Drops the ids of pushes committed since the last look from the cache (at most every
        poll_secs unless `force`); returns how many pushes were applied. Redis errors are
        logged, not raised: the cache cannot go stale while no push can land."""
        if not force and time.monotonic() - self._last_poll < self.poll_secs:
            return 0
        self._last_poll = time.monotonic()
        try:
            records, gap = self.store.pushes_after(self.version.version, self._stream_id)
        except StoreUnavailableError as error:
            logger.warning("%s", error)
            return 0
        if not records:
            return 0
        with self._lock:
            self._epoch += 1
            if gap or any(r.full for r in records):
                self.cache.clear()
            else:
                for record in records:
                    for table, ids in record.ids.items():
                        self.cache.invalidate(table, ids)
            self._stream_id = records[-1].stream_id
            self.pushes_seen = records[-1].push
        return len(records)

    def lookup(self, ids: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each table's rows [n, dim] float32 of its distinct `ids`: the cached ones, the rest
        in one round trip to the store (offered to the cache)."""
        rows, missing = {}, {}
        for table, table_ids in ids.items():
            rows[table], missed = self.cache.get(table, table_ids, self.tables[table])
            if missed.any():
                missing[table] = np.flatnonzero(missed)
        if not missing:
            return rows
        epoch = self._epoch
        fetched, _ = self.store.read_rows(self.version,
                                          {t: ids[t][m] for t, m in missing.items()})
        with self._lock:
            admit = epoch == self._epoch  # no push landed while reading: the rows are current
            for table, values in fetched.items():
                rows[table][missing[table]] = values
                if admit:
                    self.cache.offer(table, ids[table][missing[table]], values)
        return rows


class SplitModelRunner(ServingSignature):
    """One scoring signature of a split export, bound to the export's EmbeddingRows."""

    def __init__(self, saved_model_dir: str, rows: EmbeddingRows,
                 signature_key: str = SIGNATURE_KEY, ids_signature: str = IDS_SIGNATURE,
                 loaded: object | None = None):
        super().__init__(saved_model_dir, signature_key, loaded)
        self.rows = rows
        self.input_dtypes = {n: d for n, d in self.input_dtypes.items()
                             if not n.startswith((IDS_PREFIX, ROWS_PREFIX))}
        self._ids_fn = self._loaded.signatures[ids_signature]
        self._ids = flat_call(self._ids_fn)

    @classmethod
    def load_all(cls, export_dir: str, client, cache: HotRowCache | None = None,
                 poll_secs: float = 1.0) -> dict[str, SplitModelRunner]:
        """The runners of every scoring signature of a split export (`client`: redis-py,
        store/redis_client.connect), sharing one EmbeddingRows."""
        info = read_store_info(export_dir)
        if info is None:
            raise PredictError(f"{export_dir} is not a split export (no embedding store)")
        # the store first: a version whose push is not in yet fails before TensorFlow loads
        rows = EmbeddingRows(export_dir, info, client, cache, poll_secs)
        loaded = load_saved_model(export_dir)
        return {key: cls(export_dir, rows, key, ids, loaded) for key, ids
                in info.get("ids_signatures", {SIGNATURE_KEY: IDS_SIGNATURE}).items()}

    @classmethod
    def load(cls, export_dir: str, client, **kwargs) -> SplitModelRunner:
        """The runner of a split export's serving_default (load_all's arguments)."""
        return cls.load_all(export_dir, client, **kwargs)[SIGNATURE_KEY]

    @property
    def cache(self) -> HotRowCache:
        """The hot-id cache of the export's rows."""
        return self.rows.cache

    @property
    def pushes_seen(self) -> int:
        """The last push of the store version applied to the cache."""
        return self.rows.pushes_seen

    def __call__(self, inputs: dict[str, np.ndarray],
                 output_names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Outputs (all by default) for one batch of numpy input columns."""
        return super().__call__(inputs, output_names or self.output_names)

    def _run(self, tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.rows.sync_pushes()
        ids = self._ids(tensors)
        tables = {name[len(IDS_PREFIX):]: value for name, value in ids.items()}
        rows = self.rows.lookup({table: value.numpy() for table, value in tables.items()})
        for table, value in tables.items():
            tensors[IDS_PREFIX + table] = value
            tensors[ROWS_PREFIX + table] = tf.constant(rows[table])
        return super()._run(tensors)
