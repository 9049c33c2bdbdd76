"""The trainer's input: batches plus the position to resume from, saved in the checkpoint.

File input (CSV, Parquet) saves the tf.data iterator itself. A Kafka stream saves the next
offset of each assigned partition, updated inside the train step for the batches actually
trained, and seeks there after a restore: model and position are always saved together.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import tensorflow as tf

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.kafka_input import OFFSETS_KEY, KafkaInput
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.reader import (
    PARQUET_INPUTS,
    build_reader,
    train_input_path,
    training_batches,
    with_column_rules,
)
from easy_rec.input.shards import Shard, worker_shard
from easy_rec.protos import pipeline_pb2
from easy_rec.training.progress import count_rows

logger = logging.getLogger(__name__)


class InputStateError(ValueError):
    """The checkpoint's input position does not fit the configured input pipeline."""


class FileTrainInput:
    """Files read through a tf.data iterator whose position is checkpointed."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, plan: ColumnPlan):
        data = config.data_config
        #: the train step may read batches inside its graph (next_optional); not the
        #: Parquet readers, whose batches come from Python (pyarrow): read inside a
        #: multi-step graph call they trained differently from one step per call
        self.reads_in_graph = data.input_type not in PARQUET_INPUTS
        reader = build_reader(data, train_input_path(config), plan)
        reader.check_head("training")
        self.output_signature = {**reader.output_signature,
                                 MALFORMED_KEY: tf.TensorSpec([], tf.int64)}
        self._iterator = iter(training_batches(reader, data))
        self.missing_columns: list[str] = []  # file batches carry no missing-cell matrix
        self._files, self._data = reader.files, data

    def row_count(self) -> int | None:
        """Rows in one pass over the files, when cheap to know (progress.count_rows)."""
        return count_rows(self._files, self._data.input_type, self._data.with_header)

    def checkpoint_items(self) -> dict[str, object]:
        """Objects to save in the training checkpoint."""
        return {"train_iterator": self._iterator}

    def start(self, resumed: bool) -> None:
        """Called after restore (the iterator was restored in place)."""
        del resumed

    def record(self, batch: dict[str, tf.Tensor]) -> None:
        """Inside the train step: nothing to do, the iterator tracks its position."""
        del batch

    def next_batch(self) -> dict[str, tf.Tensor]:
        """The next batch; StopIteration at the end of the input."""
        return next(self._iterator)

    def next_optional(self) -> tf.experimental.Optional:
        """The next batch as an Optional (empty at the end of the input); usable inside a
        tf.function, where it reads from the same iterator as next_batch."""
        return self._iterator.get_next_as_optional()

    def after_save(self) -> None:
        """Called after each checkpoint."""

    def close(self) -> None:
        """Called after the last checkpoint; the iterator stays (it is saved state)."""


class KafkaTrainInput:
    """A Kafka stream whose per-partition next offsets are checkpointed with the model."""

    #: batches come through next_batch only (a broker failure is raised with its cause)
    reads_in_graph = False

    def __init__(self, config: pipeline_pb2.EasyRecConfig, plan: ColumnPlan,
                 shard: Shard | None = None):
        """shard: this reader's share of the topic's partitions (input/shards.py); by
        default this process's place among TF_CONFIG's chief and workers."""
        self._data = config.data_config
        self._reader = with_column_rules(
            KafkaInput(self._data, config.kafka_train_input, list(plan.columns),
                       shard=shard or worker_shard(), with_missing=config.HasField("drift_guard")),
            self._data, set(plan.columns))
        self._server = config.kafka_train_input
        self.missing_columns = self._reader.column_names
        self.output_signature = {**self._reader.output_signature,
                                 MALFORMED_KEY: tf.TensorSpec([], tf.int64)}
        saved = self._saved_partitions()
        with self._variable_scope():
            self.offsets = tf.Variable(tf.fill([len(saved)], tf.constant(-1, tf.int64)),
                                       trainable=False, name="kafka_next_offsets")
            self.partitions = tf.Variable(tf.constant(saved, tf.int64), trainable=False,
                                          name="kafka_partitions")
        self._iterator = None
        self._committer = None

    @staticmethod
    def row_count() -> None:
        """A stream has no known size."""
        return None

    def checkpoint_items(self) -> dict[str, object]:
        """The offsets (and which partitions they belong to) go into the checkpoint."""
        return {"kafka_offsets": self.offsets, "kafka_partitions": self.partitions}

    def start(self, resumed: bool) -> None:
        """Seeks to the restored offsets, or to the configured start on a fresh model_dir."""
        if resumed:
            restored = [int(p) for p in self.partitions.numpy()]
            if restored != self._saved_partitions():
                raise InputStateError(
                    f"the checkpoint holds offsets of partitions {restored} of topic "
                    f"{self._reader.topic!r}, this job saves {self._saved_partitions()}; "
                    "keep partitions and workers unchanged when resuming")
            start = self._own(self.offsets.numpy())
            logger.info("resuming topic %s at offsets %s", self._reader.topic,
                        dict(zip(self._reader.partitions, start)))
        else:
            start = self._reader.start_offsets()
            self._publish_start(start)
        dataset = self._reader.make_dataset(
            self._data.batch_size, num_epochs=self._data.num_epochs or None, start_offsets=start)
        self._iterator = iter(dataset)

    def record(self, batch: dict[str, tf.Tensor]) -> None:
        """Inside the train step: the batch is trained, so its next offsets become ours."""
        self.offsets.assign(batch[OFFSETS_KEY])

    # hooks of the synchronous multi-worker input (distribute/mirrored_input.py), where the
    # chief's checkpoint holds the offsets of every task's partitions
    def _variable_scope(self) -> contextlib.AbstractContextManager:
        """Where the offset variables are created."""
        return contextlib.nullcontext()

    def _saved_partitions(self) -> list[int]:
        """The partitions whose offsets the checkpoint holds: this worker's."""
        return self._reader.partitions

    def _own(self, saved: Sequence[int]) -> list[int]:
        """This worker's offsets among the saved ones."""
        return [int(o) for o in saved]

    def _publish_start(self, start: list[int]) -> None:
        """Sets the saved offsets to this worker's start offsets."""
        self.offsets.assign(start)

    def next_batch(self) -> dict[str, tf.Tensor]:
        """The next batch; StopIteration at the end of a bounded read (num_epochs: 1)."""
        try:
            return next(self._iterator)
        except tf.errors.OpError:
            if self._reader.failure is not None:
                raise self._reader.failure from None
            raise

    def after_save(self) -> None:
        """Commits the saved offsets to the consumer group, for lag monitoring only."""
        if not self._server.group:
            return
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        if self._committer is None:
            self._committer = self._reader.connect(group=True)
        offsets = {tp: OffsetAndMetadata(int(o), "", -1)
                   for tp, o in zip(self._reader.topic_partitions(),
                                    self._own(self.offsets.numpy()))}
        try:
            self._committer.commit(offsets, timeout_ms=2000)
        except KafkaError as error:
            logger.warning("could not commit offsets to group %s (monitoring only): %s",
                           self._server.group, error)

    def close(self) -> None:
        """Stops reading (the stream would otherwise keep polling) and closes the consumers."""
        self._reader.stop()
        self._iterator = None
        if self._committer is not None:
            self._committer.close(autocommit=False)
            self._committer = None


def build_train_input(config: pipeline_pb2.EasyRecConfig, plan: ColumnPlan,
                      shard: Shard | None = None) -> FileTrainInput | KafkaTrainInput:
    """The training input the config names, reading the columns of `plan`; `shard` as in
    KafkaTrainInput (file input is read whole)."""
    if config.WhichOneof("train_path") == "kafka_train_input":
        return KafkaTrainInput(config, plan, shard)
    return FileTrainInput(config, plan)
