"""Training input of parameter-server jobs that the chief reads: inputs whose readers run
Python (Parquet through pyarrow, a Kafka consumer), and CSV / TFRecord files when
`data_config.chief_reads_input` asks for an exact resume. The workers train what it sends.

A worker of a parameter-server job is only a TensorFlow server and cannot run Python, so
the chief reads these inputs itself, with the reader and position tracking of the
single-process trainer (training/train_input.py: the tf.data iterator of the files, the
next offset of every partition of a Kafka topic). Each batch it reads becomes the argument
of one scheduled step (`ClusterCoordinator.schedule(fn, args=(batch,))`): a step the
coordinator re-sends after a worker failure trains the same batch again, never another.

The position moves past the batches handed out only once `coordinator.join()` has seen
every one of them trained (`trained`), and the chief checkpoints only after that, so a
checkpoint's input position is exactly the end of the batches in its model: a cluster
restarted from it resumes at the next untrained row or message.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.reader import PYTHON_INPUTS
from easy_rec.input.shards import WHOLE
from easy_rec.protos import pipeline_pb2
from easy_rec.training.train_input import build_train_input


def reads_in_python(config: pipeline_pb2.EasyRecConfig) -> bool:
    """Whether the training input's batches are made in Python (Kafka, Parquet)."""
    return (config.WhichOneof("train_path") == "kafka_train_input"
            or config.data_config.input_type in PYTHON_INPUTS)


def read_by_chief(config: pipeline_pb2.EasyRecConfig) -> bool:
    """Whether the chief reads the training input (Python-made inputs always; files when
    data_config.chief_reads_input is set) rather than each worker its share."""
    return reads_in_python(config) or config.data_config.chief_reads_input


class ChiefInput:
    """The chief's reader of the training input; its batches are the scheduled steps'
    arguments."""

    reads_in_graph = False  # the coordinator schedules the steps

    def __init__(self, config: pipeline_pb2.EasyRecConfig, plan: ColumnPlan):
        # one reader for the whole job: every file, Kafka partition, Parquet row group
        self._input = build_train_input(config, plan, shard=WHOLE)
        self.output_signature = self._input.output_signature
        #: the scheduled step's signature: any batch size (a last short batch, Kafka polls),
        #: one trace, as the single-process step has
        self.step_signature = [self.output_signature]
        self.missing_columns = self._input.missing_columns
        self._last: dict[str, tf.Tensor] | None = None

    def checkpoint_items(self) -> dict[str, object]:
        """The position (the files' iterator, Kafka offsets) saved in the chief's checkpoint."""
        return self._input.checkpoint_items()

    def start(self, resumed: bool) -> None:
        """Starts reading at the restored position, or at the configured start."""
        self._input.start(resumed)

    def step_args(self) -> tuple[dict[str, tf.Tensor]] | None:
        """The arguments of the next scheduled step: the next batch; None at the end of the
        input."""
        try:
            self._last = self._input.next_batch()
        except StopIteration:
            return None
        return (self._last,)

    @staticmethod
    def batch_of(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Inside the step, on a worker: the step's argument is its batch."""
        return batch

    def record(self, batch: dict[str, tf.Tensor]) -> None:
        """Inside the step: nothing (the chief moves the position in `trained`)."""
        del batch

    def trained(self) -> None:
        """After `coordinator.join()`: every batch handed out was trained, so the position
        moves past the last one (a Kafka batch carries the next offset of every partition;
        the files' iterator is already there)."""
        if self._last is not None:
            self._input.record(self._last)
            self._last = None

    def after_save(self) -> None:
        """After a checkpoint: Kafka commits the saved offsets to its group (monitoring)."""
        self._input.after_save()

    def close(self) -> None:
        """Stops reading."""
        self._input.close()
