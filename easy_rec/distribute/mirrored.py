"""Synchronous training with all-reduce: MultiWorkerMirroredStrategy over the chief and the
workers of TF_CONFIG, or MirroredStrategy over the devices of one process.

Every training task (chief and workers) runs this trainer; each holds a full copy of every
variable (tables included: for models whose tables fit in one process). Each reads its own
share of the input (mirrored_input.py: files or rows of files, Kafka partitions; n training
tasks, EasyRec's chief-first numbering), computes gradients on its batch, and the replicas average them (`ReplicaContext.all_reduce`:
dense gradients are all-reduced, sparse ones gathered) before every copy applies the same
update, so the copies stay equal. The global batch is batch_size times the number of replicas.

The chief saves checkpoints into model_dir; the other tasks save theirs into a scratch folder
they delete (TensorFlow's rule for multi-worker checkpoints). Only the chief evaluates and
exports (a single-process copy of the model, local_copy.py). All tasks restore from
model_dir's latest checkpoint, so a restarted job resumes where it stopped, each share of
the input included (its position is in the chief's checkpoint: mirrored_input.py).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil

import tensorflow as tf

from easy_rec.distribute.cluster import cluster_spec
from easy_rec.distribute.local_copy import LocalCopyMixin
from easy_rec.distribute.mirrored_input import (
    ShardedFileInput,
    ShardedKafkaInput,
    replica_variable_scope,
)
from easy_rec.distribute.mode import Mode
from easy_rec.distribute.tf_config import ClusterInfo
from easy_rec.input.column_plan import ColumnPlan
from easy_rec.protos import pipeline_pb2
from easy_rec.training.trainer import Trainer

logger = logging.getLogger(__name__)


def mirrored_strategy(cluster: ClusterInfo, mode: Mode) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over TF_CONFIG's chief and workers, or MirroredStrategy."""
    if mode == Mode.MIRRORED:
        return tf.distribute.MirroredStrategy()
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        cluster_spec(cluster), task_type=cluster.tf_task_type, task_id=cluster.task_index,
        rpc_layer="grpc")
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


class MirroredTrainer(LocalCopyMixin, Trainer):
    """Trainer of every training task of a MultiWorkerMirrored (or Mirrored) job."""

    _replica_counts = tf.VariableAggregation.SUM  # each replica's malformed rows count

    def __init__(self, config: pipeline_pb2.EasyRecConfig, cluster: ClusterInfo, mode: Mode,
                 base_dir: str | None = None, **kwargs):
        self.cluster = cluster
        # before any other TensorFlow work: the strategy configures the runtime's collectives
        self.strategy = mirrored_strategy(cluster, mode)
        super().__init__(config, base_dir, **kwargs)
        self._train_step = tf.function(self._replica_step, autograph=False)
        if not cluster.is_chief and cluster.chief_type:
            self.evaluator = None

    def _variable_scope(self) -> contextlib.AbstractContextManager:
        return replica_variable_scope(self.strategy)

    def _build_input(self, config: pipeline_pb2.EasyRecConfig,
                     plan: ColumnPlan) -> ShardedFileInput | ShardedKafkaInput:
        if config.WhichOneof("train_path") == "kafka_train_input":
            return ShardedKafkaInput(config, plan, self.strategy)
        return ShardedFileInput(config, plan, self.strategy)

    def _update_unless_empty(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Every replica takes part in each step's all-reduce, so none may skip its update
        (TensorFlow cannot all-reduce inside a branch): a batch whose rows were all
        malformed stops the job with this message instead."""
        check = tf.debugging.assert_positive(
            tf.size(batch[self._label]),
            message="every row of a training batch was malformed (ignore_error); synchronous "
                    "training cannot skip a batch: fix the input or use a larger batch_size")
        with tf.control_dependencies([check]):
            return self._update({k: tf.identity(v) for k, v in batch.items()})

    def _combine_gradients(self, grads: list) -> list:
        context = tf.distribute.get_replica_context()
        present = [i for i, g in enumerate(grads) if g is not None]
        reduced = context.all_reduce(tf.distribute.ReduceOp.MEAN, [grads[i] for i in present])
        combined = list(grads)
        for i, grad in zip(present, reduced):
            combined[i] = grad
        return combined

    def _replica_step(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        result = self.strategy.run(self._step, args=(batch,))
        return {k: self.strategy.experimental_local_results(v)[0] for k, v in result.items()}

    def _traced_step(self):
        """The step traced for write_graph with the batch as the loop passes it (values per
        local replica where the input is a distributed dataset)."""
        spec = getattr(self.input, "element_spec", self.input.output_signature)
        return self._train_step.get_concrete_function(spec)

    def _batch_examples(self, batch: dict[str, tf.Tensor]) -> int:
        return sum(int(part.shape[0])
                   for part in self.strategy.experimental_local_results(batch[self._label]))

    def _may_export(self, kind: str) -> bool:
        return self._writes_model_dir and super()._may_export(kind)

    @property
    def _writes_model_dir(self) -> bool:
        return self.cluster.is_chief or not self.cluster.chief_type

    def _save(self, step: int) -> None:
        if self._writes_model_dir:
            super()._save(step)
            return
        # every task takes part in the save; the others write to a scratch folder
        scratch = os.path.join(self.config.model_dir, f".scratch-{self.cluster.task_type}"
                               f"-{self.cluster.task_index}")
        tf.train.CheckpointManager(self.checkpoint, scratch, max_to_keep=1).save(step)
        shutil.rmtree(scratch, ignore_errors=True)
