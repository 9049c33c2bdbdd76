"""Training input of synchronous jobs (MultiWorkerMirroredStrategy, MirroredStrategy): each
training task reads its own share, and the position of every share is saved in the chief's
checkpoint, so a restarted job continues each share exactly where it stopped.

TensorFlow lets only the chief keep its checkpoint (the other tasks write theirs into a
scratch folder that is deleted), and every task restores from the chief's. So the positions
of all tasks must be values the chief holds:

- files (CSV, TFRecord, Parquet): the tasks step together, one batch each per step, so every
  task has trained the same number of batches of its share. The chief saves that number (and
  the number of shares, which must not change); a resumed task rebuilds its share's pipeline,
  whose order is fixed by the shuffle seed, and skips that many batches (they are read again,
  not trained again).
- Kafka: task i of n reads the partitions p with p % n == i. A vector holds the next offset of
  every partition of the job; in each step every task puts its partitions' offsets in their
  slots (zeros elsewhere) and an all-reduce sum gives every task, the chief included, the
  whole vector, which the chief saves with the model of that step.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.kafka_input import OFFSETS_KEY
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.reader import build_reader, train_input_path, training_batches
from easy_rec.input.shards import worker_shard
from easy_rec.protos import pipeline_pb2
from easy_rec.training.train_input import InputStateError, KafkaTrainInput

logger = logging.getLogger(__name__)

def _first_replica_updates(next_creator, **kwargs):
    """Variables updated inside the step by assignment (counters, moving averages, input
    positions) take the first replica's value: every replica computes the same one."""
    if kwargs.get("aggregation") in (None, tf.VariableAggregation.NONE):
        kwargs["aggregation"] = tf.VariableAggregation.ONLY_FIRST_REPLICA
    return next_creator(**kwargs)


def replica_variable_scope(strategy: tf.distribute.Strategy) -> contextlib.ExitStack:
    """The strategy's scope, where assigned variables take the first replica's value."""
    stack = contextlib.ExitStack()
    stack.enter_context(strategy.scope())
    stack.enter_context(tf.variable_creator_scope(_first_replica_updates))
    return stack


class ShardedFileInput:
    """This task's share of the training files as a distributed dataset, resumed after the
    number of batches the chief's checkpoint holds."""

    reads_in_graph = False  # batches go through strategy.run, one step per call

    def __init__(self, config: pipeline_pb2.EasyRecConfig, plan: ColumnPlan,
                 strategy: tf.distribute.Strategy):
        self._data = config.data_config
        self._reader = build_reader(self._data, train_input_path(config), plan)
        self._reader.check_head("training")
        self.output_signature = {**self._reader.output_signature,
                                 MALFORMED_KEY: tf.TensorSpec([], tf.int64)}
        self.missing_columns: list[str] = []
        self._strategy = strategy
        self.shard = worker_shard()
        with replica_variable_scope(strategy):
            #: batches each task has trained from its share (the same on every task)
            self.batches = tf.Variable(0, dtype=tf.int64, trainable=False,
                                       name="train_input_batches")
            self.shares = tf.Variable(self.shard.count, dtype=tf.int64, trainable=False,
                                      name="train_input_shares")
        self._iterator = None

    def checkpoint_items(self) -> dict[str, object]:
        """The position of every share: batches trained per task, and the number of shares."""
        return {"train_input_batches": self.batches, "train_input_shares": self.shares}

    def row_count(self) -> None:
        """Unknown: the tasks split the rows (the progress total comes from num_steps)."""
        return None

    def start(self, resumed: bool) -> None:
        """Builds this task's share, after the batches already trained when resuming."""
        skip = 0
        if resumed:
            shares = int(self.shares.numpy())
            if shares != self.shard.count:
                raise InputStateError(
                    f"the checkpoint's input position is one of {shares} shares, this job has "
                    f"{self.shard.count} training tasks; keep the number of tasks when resuming")
            skip = int(self.batches.numpy())
            logger.info("share %d of %d resumes after %d trained batches (read again, not "
                        "trained)", self.shard.index, self.shard.count, skip)
        # each step takes one batch per local replica (devices of MirroredStrategy)
        per_step = len(self._strategy.extended.worker_devices)

        def share(context: tf.distribute.InputContext) -> tf.data.Dataset:
            del context  # the share is the task's (worker_shard), as for Kafka
            return training_batches(self._reader, self._data, self.shard).skip(skip * per_step)

        self._iterator = iter(self._strategy.distribute_datasets_from_function(share))

    def record(self, batch: dict[str, tf.Tensor]) -> None:
        """Inside the train step: one more batch of the share is trained."""
        del batch
        self.batches.assign_add(1)

    def next_batch(self) -> dict[str, tf.Tensor]:
        """The next batch; StopIteration at the end of the share."""
        return next(self._iterator)

    @property
    def element_spec(self) -> dict[str, tf.TypeSpec]:
        """A step's batch as the distributed iterator gives it (one part per local replica)."""
        return self._iterator.element_spec

    def after_save(self) -> None:
        """Called after each checkpoint."""

    def close(self) -> None:
        """Called after the last checkpoint."""


class ShardedKafkaInput(KafkaTrainInput):
    """This task's partitions of a topic; the next offsets of all the job's partitions live
    in one vector, completed by an all-reduce in every step and saved by the chief."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, plan: ColumnPlan,
                 strategy: tf.distribute.Strategy):
        self._strategy = strategy
        super().__init__(config, plan)
        slots = [self._reader.all_partitions.index(p) for p in self._reader.partitions]
        self._slots = np.array(slots, np.int64)
        self._publish_start_fn = tf.function(
            lambda start: strategy.run(self.record, args=({OFFSETS_KEY: start},)),
            autograph=False)

    def _variable_scope(self) -> contextlib.AbstractContextManager:
        return replica_variable_scope(self._strategy)

    def _saved_partitions(self) -> list[int]:
        return list(self._reader.all_partitions)

    def _own(self, saved: Sequence[int]) -> list[int]:
        return [int(saved[i]) for i in self._slots]

    def _publish_start(self, start: list[int]) -> None:
        self._publish_start_fn(tf.constant(start, tf.int64))

    def record(self, batch: dict[str, tf.Tensor]) -> None:
        """Inside the step (every task at once): this task's next offsets in their slots,
        summed with the other tasks' into the whole vector."""
        mine = tf.scatter_nd(self._slots[:, None], batch[OFFSETS_KEY],
                             [len(self._reader.all_partitions)])
        whole = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, mine)
        self.offsets.assign(whole)
