"""Training input of parameter-server jobs: each worker reads its own share of the data.

TensorFlow's `ClusterCoordinator.create_per_worker_dataset` builds the same dataset on every
worker (it expects them to differ only by shuffling). Here worker i gets the dataset of its
own share instead: the chief builds one dataset function per worker and creates each
iterator on its worker as a per-worker resource, which the coordinator re-creates when a
worker comes back after a failure. The share is the reader's (easy_rec/input/shards.py):
whole files when there are at least as many files as workers, else rows dropped before they
are parsed; the shares are disjoint and together cover each epoch.

The chief trains nothing itself, so the shares are those of the workers only (EasyRec's
`chief_redundant` reading). The input position is not checkpointed (the iterators live on
the workers); a restarted job reads each share from its start again (for an exact resume the
chief reads the files instead: `data_config.chief_reads_input`, chief_input.py). Readers
that run Python (Parquet through pyarrow, Kafka) cannot run on a worker that is only a
TensorFlow server: the chief always reads those.
"""
from __future__ import annotations

import logging

import tensorflow as tf
from tensorflow.python.distribute import input_lib
from tensorflow.python.distribute.coordinator import values as coordinator_values

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.reader import build_reader, train_input_path, training_batches
from easy_rec.input.shards import Shard
from easy_rec.protos import pipeline_pb2

logger = logging.getLogger(__name__)


class PerWorkerInput:
    """One iterator per worker, over that worker's share of the training input."""

    reads_in_graph = False  # the coordinator schedules the steps

    def __init__(self, config: pipeline_pb2.EasyRecConfig, plan: ColumnPlan,
                 strategy: tf.distribute.experimental.ParameterServerStrategy,
                 coordinator: tf.distribute.experimental.coordinator.ClusterCoordinator):
        data = config.data_config
        self._reader = build_reader(data, train_input_path(config), plan)
        self._reader.check_head("training")
        self._data = data
        self._strategy = strategy
        self._coordinator = coordinator
        self.output_signature = {**self._reader.output_signature,
                                 MALFORMED_KEY: tf.TensorSpec([], tf.int64)}
        self.missing_columns: list[str] = []
        self.iterator: coordinator_values.PerWorkerDistributedIterator | None = None
        #: the scheduled step takes the iterator, whose spec is fixed: traced once without one
        self.step_signature = None

    def share(self, worker: int, num_workers: int) -> tf.data.Dataset:
        """Batches of worker `worker` of `num_workers`: its files or lines (shards.py)."""
        return training_batches(self._reader, self._data, Shard(num_workers, worker))

    def checkpoint_items(self) -> dict[str, object]:
        """Nothing: the iterators live on the workers."""
        return {}

    def start(self, resumed: bool) -> None:
        """Creates each worker's iterator on that worker."""
        if resumed:
            logger.warning("the workers' input position is not checkpointed: each worker reads "
                           "its share from the start again (set data_config.chief_reads_input "
                           "to resume exactly)")
        workers = self._coordinator._cluster.workers  # noqa: SLF001 (no public per-worker args)
        remote = []
        for worker in workers:
            dataset_fn = tf.function(
                lambda index=worker.worker_index: self.share(index, len(workers))
            ).get_concrete_function()
            iterator = worker.create_resource(lambda fn=dataset_fn: iter(fn()))
            iterator._type_spec = input_lib.get_iterator_spec_from_dataset(  # noqa: SLF001
                self._strategy, dataset_fn.structured_outputs)
            remote.append(iterator)
        self.iterator = coordinator_values.PerWorkerDistributedIterator(tuple(remote))
        logger.info("%d workers read their shares of %s", len(workers), self._reader.files
                    if hasattr(self._reader, "files") else "the input")

    def step_args(self) -> tuple[coordinator_values.PerWorkerDistributedIterator]:
        """The arguments of a scheduled step: the iterators (each worker reads its own)."""
        return (self.iterator,)

    @staticmethod
    def batch_of(iterator) -> dict[str, tf.Tensor]:
        """Inside the step, on a worker: the next batch of its share."""
        return next(iterator)

    def record(self, batch: dict[str, tf.Tensor]) -> None:
        """Inside the train step: nothing to record."""
        del batch

    def trained(self) -> None:
        """After `coordinator.join()`: nothing (the position is not kept)."""

    def after_save(self) -> None:
        """Called after each checkpoint."""

    def close(self) -> None:
        """Drops the iterators."""
        self.iterator = None
