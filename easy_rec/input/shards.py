"""Shares of an input for the training tasks of a distributed job.

A share is given to a reader's `make_dataset(..., shard=Shard(count, index))`: share `index`
of `count`. The shares of one input are disjoint and together cover each epoch exactly once,
and a task reads and parses only its own share:

- files, when there are at least as many files as shares: share i gets files i, i + n, ...
  (the same order and shuffling as one process has, over fewer files);
- otherwise rows (CSV lines, TFRecord records): every file is read, but a row not of this
  share is dropped before it is parsed (row r of file f belongs to share (r + f) % n).

Parquet shares row groups (units) instead (parquet_input.py), Kafka partitions
(kafka_settings.assigned_partitions).
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # TensorFlow only where a row mask is built: config checks import this
    import tensorflow as tf


class Shard(NamedTuple):
    """Share `index` of `count` (count 1: the whole input)."""

    count: int = 1
    index: int = 0

    def check(self) -> Shard:
        """ValueError unless 0 <= index < count; returns itself."""
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"share {self.index} of {self.count} does not exist")
        return self

    @property
    def whole(self) -> bool:
        """Whether this share is the whole input."""
        return self.count == 1


WHOLE = Shard()


def worker_shard() -> Shard:
    """This process's share among the training tasks of TF_CONFIG: chief (or master) first,
    then the workers; the whole input without TF_CONFIG or for other task types."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return WHOLE
    config = json.loads(raw)
    cluster, task = config.get("cluster", {}), config.get("task", {})
    members = [(kind, i) for kind in ("chief", "master", "worker")
               for i in range(len(cluster.get(kind, [])))]
    me = (task.get("type"), int(task.get("index", 0)))
    if me not in members:
        return WHOLE
    return Shard(len(members), members.index(me))


def file_share(num_files: int, shard: Shard) -> list[int] | None:
    """The ids of the files of this share when the input is shared by files (at least as
    many files as shares); None when it is shared by rows (or not shared)."""
    shard.check()
    if shard.whole or num_files < shard.count:
        return None
    return list(range(shard.index, num_files, shard.count))


def row_share_mask(file_id: tf.Tensor, rows: tf.Tensor, shard: Shard) -> tf.Tensor:
    """Which of the rows `rows` (row numbers in file `file_id`) belong to this share."""
    import tensorflow as tf

    place = tf.cast(file_id, tf.int64) + tf.cast(rows, tf.int64)
    return tf.equal(place % shard.count, shard.index)
