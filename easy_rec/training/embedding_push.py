"""Real-time updates of the Redis embedding store from a training job
(export_config.embedding_store with push_every_n_steps / push_every_n_secs;
docs/embedding_store.md).

Inside the train step, each stored table's gradient (IndexedSlices) marks the rows it updates
in a boolean `touched` variable of the table's size. Every N steps or seconds the trainer
pushes: the touched rows' current values go into the store's current version as the next
numbered push, the marks are cleared, and a dense SavedModel is published under
`<export root>/push/` naming that push (a runner loads it only once the push is committed).

Distributed jobs (easy_rec.distribute): the marks are created in the strategy's scope like
the tables. Under parameter servers they live on the ps tasks, sharded exactly like their
table (shard k of the marks belongs to shard k of the table), so the workers' steps write
them where the rows are; the chief pushes between rounds of steps, after every scheduled step
has finished, reading only the ids of marked rows and those rows from the ps tasks. Under
MultiWorkerMirrored every replica applies the same all-reduced (gathered) gradients, so each
replica's marks hold the rows touched by all of them; only the chief pushes.

- A push that fails (Redis down) keeps its ids and is retried, together with the rows touched
  since, at the next push.
- A drift alarm blocks pushes as it blocks exports; the marks are kept until it clears.
- The marks are not checkpointed: the first push of every process (so the one after a
  kill -9 and restart) is a full push of every row, which also overwrites rows pushed after
  the checkpoint the job resumed from.
- Without a current version in the store, the first push is a split export (a new version).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from easy_rec.export.policy import ExportPolicy
from easy_rec.export.split import StoreRelease, check_tables, store_settings, stored_tables
from easy_rec.layers.embedding import CREATING_TABLE
from easy_rec.models.base import RankModel
from easy_rec.protos import pipeline_pb2
from easy_rec.store.embedding_store import EmbeddingStore, StoreUnavailableError
from easy_rec.store.redis_client import connect
from easy_rec.training.cadence import Cadence

logger = logging.getLogger(__name__)

#: the export kind (folder under the export root) of the dense models pushes publish
PUSH_KIND = "push"


class EmbeddingPusher(tf.Module):
    """Touched-row marks of the stored tables and the pushes of their rows."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, model: RankModel,
                 sync_output: Callable[[bool], None] | None = None):
        """Created in the scope the model's variables were created in. `sync_output(tables)`
        is called before an export made for a push: a trainer whose exports read a copy of
        the model brings the copy up to date there (with the stored tables when `tables`)."""
        super().__init__(name="embedding_push")
        settings = store_settings(config)
        self._settings = settings
        self._sync_output = sync_output or (lambda tables: None)
        self._tables = stored_tables(model, settings.min_rows_to_store)
        token = CREATING_TABLE.set(True)  # a variable partitioner shards them like the tables
        try:
            self.touched = {n: tf.Variable(tf.zeros([t.num_ids], tf.bool), trainable=False,
                                           name=f"{n}_touched")
                            for n, t in self._tables.items()}
        finally:
            CREATING_TABLE.reset(token)
        #: each table variable (each shard of a sharded one) -> its marks variable (shard)
        self._marks = {}
        for name, table in self._tables.items():
            parts, marks = _shards(table.weights), _shards(self.touched[name])
            if [p.shape[0] for p in parts] != [m.shape[0] for m in marks]:
                raise ValueError(f"the touched marks of {name} are not sharded like the table")
            self._marks.update((p.ref(), m) for p, m in zip(parts, marks))
        self.cadence = Cadence(steps=settings.push_every_n_steps,
                               secs=settings.push_every_n_secs)
        self.store = EmbeddingStore(connect(settings.redis_url,
                                            timeout_secs=settings.timeout_secs),
                                    settings.model_name)
        #: ids of pushes that failed, per table, pushed again with the next one
        self._pending: dict[str, np.ndarray] = {}
        self._full = True
        self._dense_step: int | None = None
        self.pushes: list[int] = []

    @property
    def tables(self) -> dict:
        """The stored tables (EmbeddingTable by name) whose touched rows are pushed."""
        return self._tables

    @classmethod
    def create(cls, config: pipeline_pb2.EasyRecConfig, model: RankModel,
               sync_output: Callable[[bool], None] | None = None) -> EmbeddingPusher | None:
        """The pusher of a job whose embedding store has a push cadence and a table to store;
        None otherwise."""
        settings = store_settings(config)
        if settings is None or not (settings.push_every_n_steps or settings.push_every_n_secs):
            return None
        if not stored_tables(model, settings.min_rows_to_store):
            logger.warning("embedding_store push cadence set, but no table has %d rows or "
                           "more: nothing to push", settings.min_rows_to_store)
            return None
        return cls(config, model, sync_output)

    def track(self, grads: Sequence[tf.Tensor | tf.IndexedSlices | None],
              variables: Sequence[tf.Variable]) -> None:
        """Marks the rows the step's gradients update (called inside the train step)."""
        for grad, variable in zip(grads, variables):
            marks = self._marks.get(variable.ref())
            if marks is None or grad is None:
                continue
            if isinstance(grad, tf.IndexedSlices):
                marks.scatter_update(tf.IndexedSlices(
                    tf.ones_like(grad.indices, tf.bool), grad.indices))
            else:
                marks.assign(tf.ones(marks.shape, tf.bool))

    def maybe_push(self, step: int, gate: Callable[[str], bool], exports: ExportPolicy) -> None:
        """Pushes when the cadence is due (and the gate lets it)."""
        if self.cadence.due(step):
            self.push(step, gate, exports)
            self.cadence.mark(step)

    def push(self, step: int, gate: Callable[[str], bool], exports: ExportPolicy) -> int | None:
        """One push (see the module docstring); its number, or None when none was made."""
        if not gate("embedding push"):
            return None
        try:
            number = self._push_rows(exports)
            if number is not None and self._dense_step != step:
                self._sync_output(False)
                exports.export(PUSH_KIND, StoreRelease(self.store.current_version(),
                                                       write_rows=False, push=number))
                self._dense_step = step
        except StoreUnavailableError as error:
            logger.warning("embedding push failed, retried at the next one: %s", error)
            return None
        return number

    def _push_rows(self, exports: ExportPolicy) -> int | None:
        version = self.store.current_version()
        if version is None:
            self._sync_output(True)
            exports.export(PUSH_KIND)  # a whole new version; its dense model goes with push 0
            self._clear(None)
            self._full = False
            return None
        info = self.store.version_info(version)
        check_tables(info, self._tables)
        ids = self._ids_to_push()
        if not self._full and not any(len(i) for i in ids.values()):
            return None
        rows = {n: (i, tf.nn.embedding_lookup(self._tables[n].weights, i).numpy()) for n, i in ids.items()}
        self._pending = {n: i for n, (i, _) in rows.items()}
        self._clear(ids)
        number = self.store.push(info, rows, full=self._full, threads=self._settings.threads,
                                 batch_size=self._settings.batch_size)
        self._pending, self._full = {}, False
        self.pushes.append(number)
        return number

    def _ids_to_push(self) -> dict[str, np.ndarray]:
        """Per table: every id for a full push, else the touched and the pending ones."""
        if self._full:
            return {n: np.arange(t.num_ids, dtype=np.int64) for n, t in self._tables.items()}
        return {n: np.union1d(_marked_ids(self.touched[n]),
                              self._pending.get(n, np.zeros([0], np.int64))).astype(np.int64)
                for n in self._tables}

    def _clear(self, ids: dict[str, np.ndarray] | None) -> None:
        """Clears the marks of `ids` (all marks with None)."""
        for name, touched in self.touched.items():
            if ids is None:
                for part in _shards(touched):
                    part.assign(tf.zeros(part.shape, tf.bool))
            elif len(ids[name]):
                touched.scatter_update(tf.IndexedSlices(
                    tf.zeros([len(ids[name])], tf.bool), tf.constant(ids[name])))


def _shards(variable) -> list[tf.Variable]:
    """The shards of a sharded variable (parameter-server training), else [variable]."""
    return list(getattr(variable, "variables", None) or [variable])


def _marked_ids(touched) -> np.ndarray:
    """The ids whose mark is set; each shard's are found where the shard lives, so only the
    ids travel."""
    found, offset = [], 0
    for part in _shards(touched):
        with tf.device(part.device):
            local = tf.where(part)[:, 0]
        found.append(local.numpy() + offset)
        offset += int(part.shape[0])
    return np.concatenate(found)
