"""The chief of parameter-server training: tf.distribute.ParameterServerStrategy with a
ClusterCoordinator.

The chief builds the model inside the strategy's scope, so every variable lives on a ps task:
embedding tables are split into one contiguous shard per ps task (`TablePartitioner`),
dense variables stay whole and are spread round-robin. The optimizers' slots sit next to
their variables (on the same shard). Lookups gather only the rows a batch needs from each
shard and the embedding optimizer updates only those rows, so a step moves rows, never
tables.

The train step is sent to the workers (`ClusterCoordinator.schedule`): each runs it on a
batch of its own share of the data (per_worker_input.py), or, for inputs read in Python
(Kafka, Parquet) and files with `data_config.chief_reads_input`, on the batch the chief read
and sent with the step (chief_input.py, whose position the checkpoint keeps), and
updates the variables on the ps tasks without waiting for the others (asynchronous
training). The chief schedules steps in rounds of up to `save_checkpoints_steps` (or
`log_step_count_steps`, the smaller), waits for a round to finish, then logs, checkpoints,
evaluates and exports on its own: evaluation and export read the checkpoint just written
into a plain single-process copy of the model, so they never wait on the workers and the
export is an ordinary SavedModel. Embedding-store pushes
(training/embedding_push.py) also happen between rounds (a step-cadenced push ends a round),
so no step is half-recorded in the touched marks the workers write on the ps tasks.
"""
from __future__ import annotations

import contextlib
import logging

import tensorflow as tf
from tqdm import tqdm

from easy_rec.distribute.chief_input import ChiefInput, read_by_chief
from easy_rec.distribute.cluster import allow_worker_restarts, cluster_spec, mark_done
from easy_rec.distribute.local_copy import LocalCopyMixin
from easy_rec.distribute.per_worker_input import PerWorkerInput
from easy_rec.distribute.tf_config import ClusterInfo
from easy_rec.input.column_plan import ColumnPlan
from easy_rec.layers.embedding import CREATING_TABLE
from easy_rec.protos import pipeline_pb2
from easy_rec.training.cadence import Cadence, Throttle
from easy_rec.training.throughput import Throughput
from easy_rec.training.trainer import Trainer

logger = logging.getLogger(__name__)


class TablePartitioner:
    """Splits embedding tables (created inside easy_rec.layers.embedding.EmbeddingTable)
    into `num_shards` row ranges; every other variable stays whole."""

    def __init__(self, num_shards: int):
        self.num_shards = num_shards

    def __call__(self, shape: tf.TensorShape, dtype: tf.DType, axis: int = 0) -> list[int]:
        del dtype, axis
        whole = [1] * shape.rank
        if CREATING_TABLE.get() and shape.rank and shape[0] >= self.num_shards > 1:
            return [self.num_shards] + whole[1:]
        return whole


def ps_strategy(cluster: ClusterInfo) -> tuple[tf.distribute.experimental.ParameterServerStrategy,
                                               tf.distribute.experimental.coordinator.ClusterCoordinator]:
    """The strategy (tables sharded over every ps task) and its coordinator, for the chief."""
    allow_worker_restarts()
    spec = cluster_spec(cluster)
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        spec, task_type="chief", task_id=0, rpc_layer="grpc")
    strategy = tf.distribute.experimental.ParameterServerStrategy(
        resolver, variable_partitioner=TablePartitioner(len(spec.job_tasks("ps"))))
    return strategy, tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)


class PSTrainer(LocalCopyMixin, Trainer):
    """Trainer of the chief of a parameter-server job (see the module docstring)."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, cluster: ClusterInfo,
                 base_dir: str | None = None, **kwargs):
        self.cluster = cluster
        self.strategy, self.coordinator = ps_strategy(cluster)
        super().__init__(config, base_dir, **kwargs)
        mark_done(config.model_dir, False)
        self._worker_step = tf.function(self._run_step, input_signature=self.input.step_signature,
                                        autograph=False)
        for table in self.model.feature_layer.embedding_tables():
            shards = table.parts
            logger.info("table %s [%d, %d]: %d shard(s) on %s", table.name, table.num_ids,
                        table.dim, len(shards), ", ".join(v.device for v in shards))

    # ------------------------------------------------------------------ Trainer hooks
    def _variable_scope(self) -> contextlib.AbstractContextManager:
        return self.strategy.scope()

    def _build_input(self, config: pipeline_pb2.EasyRecConfig,
                     plan: ColumnPlan) -> PerWorkerInput | ChiefInput:
        if read_by_chief(config):
            return ChiefInput(config, plan)
        return PerWorkerInput(config, plan, self.strategy, self.coordinator)

    # ------------------------------------------------------------------ the step
    def _run_step(self, arg) -> dict[str, tf.Tensor]:
        batch = self.input.batch_of(arg)
        result = self.strategy.run(self._step, args=(batch,))
        result["examples"] = tf.shape(batch[self._label], out_type=tf.int64)[0]
        return result

    # ------------------------------------------------------------------ loop
    def train(self) -> dict[str, float]:
        """Schedules the steps up to num_steps (or until a worker's share ends); returns the
        last evaluation's results."""
        resumed = self.restore()
        tc = self.train_config
        num_steps = int(tc.num_steps) or None
        step = start = int(self.global_step.numpy())
        saves = Cadence(steps=0 if tc.save_checkpoints_secs else tc.save_checkpoints_steps,
                        secs=tc.save_checkpoints_secs)
        saves.mark(step)
        if self.pusher is not None:
            self.pusher.cadence.mark(step)
        evals = Throttle(self.config.eval_config.eval_interval_secs)
        log_every = max(int(tc.log_step_count_steps), 1)
        round_steps = min(log_every, int(tc.save_checkpoints_steps) or log_every)
        throughput = Throughput()
        progress = tqdm(total=num_steps, initial=step, unit="step", desc="train", disable=None)
        logger.info("parameter-server training: %s", self.cluster.describe())
        try:
            while num_steps is None or step < num_steps:
                count = round_steps if num_steps is None else min(round_steps, num_steps - step)
                if self.pusher is not None:  # a round ends where a push is due
                    count = min(count, self.pusher.cadence.steps_left(step) or count)
                last, examples, ended = self._run_round(count)
                step = int(self.global_step.numpy())
                for batch_examples in examples:
                    throughput.add(batch_examples)
                progress.update(step - progress.n)
                if last is not None:
                    self._log(step, last, throughput, num_steps)
                if ended:
                    logger.info("the training input (or a worker's share) ended at step %d", step)
                    break
                # the last step is evaluated once, after the loop
                self._save_when_due(step, saves, evals, throughput,
                                    step != num_steps and self._evaluates_here())
                self._push_when_due(step)
                if self._should_stop(step):
                    break
        finally:
            progress.close()
        results = self._finish(throughput, step, resumed and step == start, saves.last_step)
        mark_done(self.config.model_dir, True)
        return results

    def _run_round(self, count: int) -> tuple[dict[str, tf.Tensor] | None, list[int], bool]:
        """Schedules `count` steps and waits for them: (the last step's outputs, the examples
        of each step trained, whether the input ended)."""
        remote, ended = [], False
        for _ in range(count):
            args = self.input.step_args()
            if args is None:
                ended = True
                break
            remote.append(self.coordinator.schedule(self._worker_step, args=args))
        try:
            self.coordinator.join()
        except tf.errors.OutOfRangeError:
            ended = True
        self.input.trained()  # before any checkpoint of this round
        outputs = [r.fetch() for r in remote if _finished(r)]
        return (outputs[-1] if outputs else None), [int(o["examples"]) for o in outputs], ended


def _finished(remote) -> bool:
    """Whether a scheduled step's result arrived (not failed, not cancelled)."""
    try:
        remote.fetch()
    except (tf.errors.OpError, tf.errors.CancelledError):
        return False
    except Exception:  # noqa: BLE001 (the coordinator's own "closure aborted" errors)
        return False
    return True
