"""Serving a split export (easy_rec/export/split.py): raw features -> row ids (the export's
`embedding_ids` signature) -> hot-id cache -> one pipelined HMGET round trip to the Redis
embedding store for the misses -> the dense `serving_default` signature. Each distinct id is
looked up once per request (a user's ids repeat on each of its N item rows).

    runner = SplitModelRunner.load(export_dir, redis_client)
    outputs = runner({"user_id": np.array([...]), ...})   # {output name: numpy array}

The runner reads the store version its export names and follows that version's pushes: at
most every `poll_secs` it reads the pushes committed since the last look and drops exactly
their ids from the cache (all of it after a full push). Consistency (docs/embedding_store.md):
an export published with push k loads only once push k is committed, so its dense weights
are never served with rows older than push k. Redis down: a request whose rows are all cached
is answered; any other raises StoreUnavailableError (the service's 503).
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import tensorflow as tf

from easy_rec.export.split import IDS_PREFIX, IDS_SIGNATURE, ROWS_PREFIX, read_store_info
from easy_rec.serving.signature import ServingSignature
from easy_rec.store.embedding_store import (
    EmbeddingStore,
    StoreUnavailableError,
    VersionNotReadableError,
)
from easy_rec.store.hot_cache import HotRowCache
from easy_rec.tables.errors import PredictError

logger = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 64 << 20


class SplitModelRunner(ServingSignature):
    """A split export bound to its embedding store version, with a hot-id cache."""

    def __init__(self, saved_model_dir: str, client, cache: HotRowCache | None = None,
                 poll_secs: float = 1.0):
        info = read_store_info(saved_model_dir)
        if info is None:
            raise PredictError(f"{saved_model_dir} is not a split export (no embedding store)")
        # the store first: a version whose push is not in yet fails before TensorFlow loads
        self.store = EmbeddingStore(client, info["model"])
        self.version = self.store.version_info(info["version"])
        if self.version.pushes < info["push"]:
            raise VersionNotReadableError(
                f"{saved_model_dir} goes with push {info['push']} of embedding store version "
                f"{info['version']}, which has {self.version.pushes} pushes committed so far")
        super().__init__(saved_model_dir)
        self.input_dtypes = {n: d for n, d in self.input_dtypes.items()
                             if not n.startswith((IDS_PREFIX, ROWS_PREFIX))}
        self._ids_fn = self._loaded.signatures[IDS_SIGNATURE]
        self.tables: dict[str, int] = info["tables"]
        self.cache = cache if cache is not None else HotRowCache(DEFAULT_CACHE_BYTES)
        self.poll_secs = poll_secs
        self.pushes_seen = self.version.pushes
        records, _ = self.store.pushes_after(info["version"], None)
        self._stream_id = records[-1].stream_id if records else None
        self._last_poll = time.monotonic()
        self._epoch = 0
        self._lock = threading.Lock()

    @classmethod
    def load(cls, export_dir: str, client, **kwargs) -> SplitModelRunner:
        """The runner of a split export (`client`: redis-py, store/redis_client.connect)."""
        return cls(export_dir, client, **kwargs)

    def __call__(self, inputs: dict[str, np.ndarray],
                 output_names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Outputs (all by default) for one batch of numpy input columns."""
        return super().__call__(inputs, output_names or self.output_names)

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

    def _run(self, tensors: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.sync_pushes()
        needed, repeat = {}, {}  # each table's distinct ids; where each looked-up id is in them
        for name, ids in self._ids_fn(**tensors).items():
            table, ids = name[len(IDS_PREFIX):], ids.numpy()
            needed[table], inverse = np.unique(ids, return_inverse=True)
            repeat[table] = inverse.reshape(ids.shape)
        rows, missing = {}, {}
        for table, ids in needed.items():
            rows[table], missed = self.cache.get(table, ids, self.tables[table])
            missing[table] = np.flatnonzero(missed)
        epoch = self._epoch
        fetched, _ = self.store.read_rows(
            self.version, {t: needed[t][m] for t, m in missing.items() if len(m)})
        with self._lock:
            admit = epoch == self._epoch  # no push landed while reading: the rows are current
            for table, values in fetched.items():
                rows[table][missing[table]] = values
                if admit:
                    self.cache.offer(table, needed[table][missing[table]], values)
        feeds = {}
        for table, ids in needed.items():
            feeds[IDS_PREFIX + table] = tf.constant(ids[repeat[table]], tf.int64)
            feeds[ROWS_PREFIX + table] = tf.constant(rows[table][repeat[table]])
        return self._fn(**tensors, **feeds)
