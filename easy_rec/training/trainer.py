"""Training loop: tf.function train step, sparse embedding updates, checkpoints, eval, export.

Everything the job needs to resume lives in one checkpoint: model and optimizer state, the
global step, the malformed-row count and the input position (the tf.data iterator of file
input, the next offset of each partition of a Kafka stream; see train_input.py), so a restart
continues with exactly the next unseen batch.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator

import tensorflow as tf
from tqdm import tqdm

from easy_rec.export.policy import ExportPolicy, best_metric
from easy_rec.input.line_parser import (
    MALFORMED_KEY,
    MalformedRowError,
    malformed_rows_reported,
)
from easy_rec.input.reader import eval_input_path
from easy_rec.models.base import RankModel
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.models.losses.names import TOTAL
from easy_rec.protos import pipeline_pb2, train_pb2
from easy_rec.training.cadence import Cadence, Throttle
from easy_rec.training.drift_guard import DriftGuard, DriftStopError
from easy_rec.training.early_stop import EarlyStop
from easy_rec.training.embedding_push import EmbeddingPusher
from easy_rec.training.evaluation.evaluator import Evaluator
from easy_rec.training.loss_report import loss_line
from easy_rec.training.optimization.freeze import trainable_after_freeze
from easy_rec.training.optimization.moving_average import (
    CHECKPOINT_KEY as AVERAGES_KEY,
)
from easy_rec.training.optimization.moving_average import (
    MovingAverage,
    moving_average_decays,
)
from easy_rec.training.optimization.optimizers import (
    OptimizerGroup,
    build_optimizers,
    clip_by_global_norm,
)
from easy_rec.training.progress import progress_line, total_steps
from easy_rec.training.restore import resolve_checkpoint
from easy_rec.training.stop_signals import StopSignals
from easy_rec.training.summaries import gradient_summaries, write_graph
from easy_rec.training.throughput import Throughput
from easy_rec.training.train_input import (
    FileTrainInput,
    InputStateError,
    KafkaTrainInput,
    build_train_input,
)
from easy_rec.training.warm_start import warm_start
from easy_rec.training.workdir import prepare_output_dirs, release_model_dir

logger = logging.getLogger(__name__)

#: train steps per call of the compiled step when train_config.steps_per_execution is 0
DEFAULT_STEPS_PER_EXECUTION = 100

BatchObserver = Callable[[dict[str, tf.Tensor]], None]
EvalObserver = Callable[[int, dict[str, float]], None]


# a malformed input row stopped the job (data_config.ignore_error is false)
MalformedInputError = MalformedRowError


def configure_threads(train_config) -> None:
    """Applies inter/intra-op thread counts from train_config (0 keeps TensorFlow's choice)."""
    if train_config.inter_op_parallelism_threads:
        tf.config.threading.set_inter_op_parallelism_threads(train_config.inter_op_parallelism_threads)
    if train_config.intra_op_parallelism_threads:
        tf.config.threading.set_intra_op_parallelism_threads(train_config.intra_op_parallelism_threads)


def apply_seed(train_config: train_pb2.TrainConfig) -> None:
    """With train_config.seed set, makes the run reproducible: seeds TensorFlow's global
    random generator (initial weights, dropout masks) and switches on op determinism (it stays
    on for the rest of the process). The input order is seeded by data_config.shuffle_seed in
    any case. oneDNN's CPU kernels are outside TensorFlow's determinism switch and may add
    partial sums in a different order from run to run; TensorFlow reads
    TF_ENABLE_ONEDNN_OPTS only when it loads, so a warning says to set it to 0."""
    if not train_config.HasField("seed"):
        return
    tf.random.set_seed(train_config.seed)
    tf.config.experimental.enable_op_determinism()
    logger.info("train_config.seed %d: TensorFlow seeded, op determinism on", train_config.seed)
    if onednn_enabled():
        logger.warning("oneDNN kernels are on: runs with the same seed may still differ in the "
                       "last bits; start with TF_ENABLE_ONEDNN_OPTS=0 for bit-for-bit repeatable "
                       "runs")


def onednn_enabled() -> bool:
    """True when TensorFlow runs oneDNN (MKL) kernels, i.e. TF_ENABLE_ONEDNN_OPTS was not 0
    when it loaded (the default of x86 Linux builds)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


class Trainer:
    """Trains the model a pipeline config describes."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, base_dir: str | None = None,
                 batch_observer: BatchObserver | None = None,
                 eval_observer: EvalObserver | None = None):
        """eval_observer, if given, is called with (global_step, results) after each evaluation
        (e.g. to report intermediate metrics to a hyperparameter tuner)."""
        self.config = config
        self.train_config = config.train_config
        prepare_output_dirs(config)
        configure_threads(self.train_config)
        apply_seed(self.train_config)
        self._batch_observer = batch_observer
        self._eval_observer = eval_observer
        with self._variable_scope():
            self._build_training_state(config, base_dir)
        self.stop_signals = StopSignals(self.train_config, config.model_dir)
        # export_config.enable_early_stop: stop when the metric stops improving
        self.early_stop = EarlyStop(config.export_config, best_metric(config)
                                    if config.export_config.enable_early_stop else None)
        self._label = config.data_config.label_fields[0]
        plan = model_column_plan(config, self.model)
        self.input = self._build_input(config, plan)
        with self._variable_scope():
            self.drift_guard = (DriftGuard(config, self.model, plan, self.input.missing_columns)
                                if config.HasField("drift_guard") else None)
            # export_config.embedding_store pushes: touched rows, marked in the step (not saved)
            self.pusher = EmbeddingPusher.create(config, self.model, self._sync_output_model)
        self._train_step = tf.function(self._step, input_signature=[self.input.output_signature],
                                       autograph=False)
        #: several steps per call, batches read inside the graph (None: one step per call)
        self._train_steps = (tf.function(self._steps, autograph=False)
                             if self._steps_per_execution() > 1 else None)
        extra = {"drift_guard": self.drift_guard} if self.drift_guard else {}
        if self.moving_average:
            extra[AVERAGES_KEY] = self.moving_average.checkpointed
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, dense_optimizer=self.optimizers.dense_optimizer,
            embedding_optimizer=self.optimizers.embedding_optimizer, global_step=self.global_step,
            malformed_rows=self.malformed_rows, **self.input.checkpoint_items(), **extra)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, config.model_dir, max_to_keep=self.train_config.keep_checkpoint_max or None,
            step_counter=self.global_step)
        output_model = self._output_model(base_dir)
        eval_path = eval_input_path(config)
        self.evaluator = Evaluator(config, output_model, eval_path, plan) if eval_path else None
        self.exports = ExportPolicy(output_model, config, step=lambda: int(self.global_step.numpy()),
                                    gate=self._may_export, base_dir=base_dir)
        self._summary = tf.summary.create_file_writer(os.path.join(config.model_dir, "train"))
        self.train_stats: dict[str, float] = {}
        self._loss_keys: list[str] = []  # the train step's loss keys, set when it is traced

    # ------------------------------------------------------------------ hooks (distribute/)
    #: how counts of the replicas (malformed rows) combine: SUM where several replicas step
    _replica_counts = tf.VariableAggregation.NONE

    def _variable_scope(self) -> contextlib.AbstractContextManager:
        """Where the model, optimizer and step variables are created (a strategy's scope)."""
        return contextlib.nullcontext()

    def _build_input(self, config: pipeline_pb2.EasyRecConfig,
                     plan) -> FileTrainInput | KafkaTrainInput:
        """The training input of this process."""
        return build_train_input(config, plan)

    def _combine_gradients(self, grads: list) -> list:
        """Inside the step: this replica's gradients -> the ones to apply (all-reduced over
        the replicas of a synchronous strategy)."""
        return grads

    def _batch_examples(self, batch: dict[str, tf.Tensor]) -> int:
        """The number of examples in a training batch."""
        return int(batch[self._label].shape[0])

    def _output_model(self, base_dir: str | None) -> RankModel:
        """The model evaluations and exports read (the trained one)."""
        del base_dir
        return self.model

    def _evaluates_here(self) -> bool:
        """Whether this process evaluates (an eval input is set and no other task evaluates)."""
        return self.evaluator is not None

    def _sync_output_model(self, tables: bool) -> None:
        """Before an export of the current weights outside an evaluation (embedding pushes):
        brings the output model up to date (nothing to do when it is the trained one);
        without `tables`, the embedding store's tables may stay behind."""
        del tables

    def _build_training_state(self, config: pipeline_pb2.EasyRecConfig,
                              base_dir: str | None) -> None:
        """Model, step counters, optimizers and their slots, moving averages."""
        self.model = build_model(config, base_dir)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.malformed_rows = tf.Variable(0, dtype=tf.int64, trainable=False, name="malformed_rows",
                                          aggregation=self._replica_counts)
        # optimizer_config[0] trains the embeddings (EasyRec's get_grouped_vars): with two
        # blocks what the model names, with one the tables, on a copy of it
        embedding_side = {v.ref() for v in (self.model.first_optimizer_variables()
                                            if len(self.train_config.optimizer_config) == 2
                                            else self.model.feature_layer.table_variables())}
        self.optimizers = OptimizerGroup(*build_optimizers(self.train_config),
                                         is_embedding=lambda var: var.ref() in embedding_side)
        # train_config.freeze_gradient: matching variables get no gradient and no slots
        self._variables = trainable_after_freeze(self.model.trainable_variables,
                                                 self.train_config.freeze_gradient)
        self.optimizers.build(self._variables)
        # optimizer_config.use_moving_average: shadows for evaluation, export and readers
        self.moving_average = MovingAverage()
        dense_decay, embedding_decay = moving_average_decays(self.train_config)
        for decay, embedding in ((dense_decay, False), (embedding_decay, True)):
            if decay is not None:
                self.moving_average.build(
                    [v for v in self._variables if (v.ref() in embedding_side) == embedding],
                    decay)

    # ------------------------------------------------------------------ the step
    def _steps_per_execution(self) -> int:
        """Train steps per call of the compiled step: train_config.steps_per_execution (0:
        DEFAULT_STEPS_PER_EXECUTION), or 1 where each batch must pass through Python (a batch
        observer, the drift guard, a Kafka stream)."""
        if (self._batch_observer is not None or self.drift_guard is not None
                or not self.input.reads_in_graph):
            return 1
        return int(self.train_config.steps_per_execution) or DEFAULT_STEPS_PER_EXECUTION

    def _steps(self, count: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor]]:
        """Up to `count` train steps, one after the other, each on the next batch of the input
        read inside the graph; fewer when the input ends. Returns (steps done, examples
        trained, the last step's loss and total_loss)."""
        def more(done, examples, ended, result):
            del examples, result
            return tf.logical_and(done < count, tf.logical_not(ended))

        # the step, traced once: the loop calls it (its summaries keep their tags, without a
        # while/cond/ prefix), and its outputs (the loss terms by name) as zeros are the
        # loop's initial values
        one = self._train_step.get_concrete_function(self.input.output_signature)

        def one_step(done, examples, ended, result):
            del ended
            batch = self.input.next_optional()

            def train():
                value = batch.get_value()
                size = tf.shape(value[self._label], out_type=tf.int64)[0]
                return done + 1, examples + size, tf.constant(False), one(value)

            return tf.cond(batch.has_value(), train,
                           lambda: (done, examples, tf.constant(True), result))

        zero = tf.constant(0, tf.int64)
        initial = {k: tf.zeros(v.shape, v.dtype) for k, v in one.structured_outputs.items()}
        done, examples, _, result = tf.while_loop(
            more, one_step, (zero, zero, tf.constant(False), initial), parallel_iterations=1)
        return done, examples, result

    def _step(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        if self.config.data_config.ignore_error:
            result = self._update_unless_empty(batch)
        else:
            result = self._update(batch)
        self.malformed_rows.assign_add(batch[MALFORMED_KEY])
        self.input.record(batch)
        self.global_step.assign_add(1)
        return result

    def _update_unless_empty(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The update, skipped for a batch that is empty because every row in it was
        malformed (ignore_error): zeros of every loss key instead."""
        # zeros of every loss key (known once the update branch, traced first, ran)
        def empty() -> dict[str, tf.Tensor]:
            return {**{k: tf.constant(0.0) for k in self._loss_keys},
                    **{k: tf.zeros([0]) for k in self._guard_outputs}}
        return tf.cond(tf.size(batch[self._label]) > 0, lambda: self._update(batch), empty)

    def _update(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        variables = self._variables
        with tf.GradientTape() as tape:
            outputs = self.model(batch, training=True)
            losses = self.model.loss_dict(outputs, batch)
            regularization = self.model.regularization_dict(outputs)
            loss = tf.add_n(list(losses.values()))
            total = tf.add_n([loss, *regularization.values()])
        grads = self._combine_gradients(tape.gradient(total, variables))
        if self.pusher is not None:
            self.pusher.track(grads, variables)
        if self.train_config.gradient_clipping_by_norm > 0:
            grads = clip_by_global_norm(grads, self.train_config.gradient_clipping_by_norm)
        if self.train_config.summary_model_vars:
            every = max(int(self.train_config.save_summary_steps), 1)
            with tf.summary.record_if(tf.equal(self.global_step % every, 0)):
                gradient_summaries(grads, variables)
        self.optimizers.apply_gradients(zip(grads, variables), step=self.global_step)
        self.moving_average.update()
        # the loss terms by name (loss_report), "loss" (their sum) and "total_loss"; the
        # predictions made before this update, for the drift guard's window AUC
        terms = {**losses, **regularization, TOTAL: total}
        self._loss_keys = ["loss", *terms]
        return {"loss": loss, **terms, **{k: outputs[k] for k in self._guard_outputs}}

    @property
    def _guard_outputs(self) -> list[str]:
        return self.drift_guard.train_outputs if self.drift_guard else []

    # ------------------------------------------------------------------ restore
    def restore(self) -> bool:
        """Resumes from model_dir's latest checkpoint, else warm-starts from fine_tune_checkpoint.

        Returns True when training resumed from model_dir. The input then starts at the
        restored position (or at its configured start on a fresh model_dir).
        """
        resumed = self._restore_checkpoint()
        self.input.start(resumed)
        return resumed

    def _restore_checkpoint(self) -> bool:
        latest = self.manager.latest_checkpoint
        if latest:
            try:
                self.checkpoint.restore(latest).assert_existing_objects_matched()
            except tf.errors.NotFoundError as error:
                if "restore dataset iterator" not in error.message:
                    raise
                raise InputStateError(
                    f"{latest} was written by a job with a different input pipeline; "
                    "keep data_config (batch_size, num_epochs, shuffle, input files) unchanged "
                    "when resuming, or train into a new model_dir with fine_tune_checkpoint "
                    "pointing at this one") from None
            logger.info("resumed from %s at global step %d", latest, int(self.global_step.numpy()))
            return True
        if self.train_config.fine_tune_checkpoint:
            path = resolve_checkpoint(self.train_config.fine_tune_checkpoint)
            warm_start(self.model, path, self.config.model_config.restore_filters,
                       self.train_config.force_restore_shape_compatible)
            logger.info("warm-started model weights from %s", path)
        return False

    # ------------------------------------------------------------------ loop
    def train(self) -> dict[str, float]:
        """Trains until num_steps or the end of the input; returns the last eval results."""
        resumed = self.restore()
        tc = self.train_config
        num_steps = int(tc.num_steps) or None
        step = start = int(self.global_step.numpy())
        if num_steps is None and not self.config.data_config.num_epochs:
            logger.warning("neither train_config.num_steps nor data_config.num_epochs is set: "
                           "training runs until stopped")
        # save_checkpoints_secs, when set, replaces save_checkpoints_steps
        saves = Cadence(steps=0 if tc.save_checkpoints_secs else tc.save_checkpoints_steps,
                        secs=tc.save_checkpoints_secs)
        exports = Cadence(steps=self.config.export_config.export_every_n_steps,
                          secs=self.config.export_config.export_every_n_secs)
        saves.mark(step)
        exports.mark(step)
        if self.pusher is not None:
            self.pusher.cadence.mark(step)
        evals = Throttle(self.config.eval_config.eval_interval_secs)
        log_every = max(int(tc.log_step_count_steps), 1)
        throughput = Throughput()
        total_planned = total_steps(tc, self.config.data_config, self.input.row_count)
        progress = tqdm(total=total_planned, initial=step, unit="step", desc="train",
                        disable=None)
        try:
            while num_steps is None or step < num_steps:
                if self._train_steps is None:
                    done, examples, result = self._one_step(step)
                else:
                    cadences = (saves, exports) if self.pusher is None else \
                        (saves, exports, self.pusher.cadence)
                    count = self._steps_to_next_event(step, num_steps, log_every, cadences)
                    done, examples, result = self._several_steps(count)
                if not done:
                    logger.info("training input exhausted at step %d", step)
                    break
                if step == start and tc.write_graph:
                    write_graph(self._traced_step(), self.config.model_dir, self._summary)
                step += done
                throughput.add(examples, steps=done)
                progress.update(done)
                if step % log_every == 0:
                    self._log(step, result, throughput, total_planned)
                self._save_when_due(step, saves, evals, throughput, self._evaluates_here())
                if exports.due(step):
                    with self.moving_average.swapped():
                        self.exports.export("latest")
                    exports.mark(step)
                self._push_when_due(step)
                if self._should_stop(step):
                    break
        finally:
            progress.close()
        return self._finish(throughput, step, resumed and step == start, saves.last_step)

    def _save_when_due(self, step: int, saves: Cadence, evals: Throttle, throughput: Throughput,
                       evaluate: bool) -> None:
        """Saves a checkpoint when `saves` is due; then, with `evaluate`, evaluates and exports
        when `evals` lets it (the time does not count as training)."""
        if not saves.due(step):
            return
        self._save(step)
        saves.mark(step)
        if evaluate and evals.ready():
            with throughput.excluded():
                self.early_stop.observe(step, self._evaluate_and_export(step))
            evals.mark()

    def _push_when_due(self, step: int) -> None:
        """Pushes the touched rows to the embedding store when its cadence is due."""
        if self.pusher is not None:
            with self.moving_average.swapped():
                self.pusher.maybe_push(step, self._may_export, self.exports)

    def _should_stop(self, step: int) -> bool:
        """Whether a stop signal, the dead line or early stopping ends training at `step`."""
        stop_reason = self.stop_signals.reason() or self.early_stop.reason()
        if stop_reason:
            logger.info("training stops at step %d: %s", step, stop_reason)
        return bool(stop_reason)

    def _finish(self, throughput: Throughput, step: int, idle: bool, last_saved: int
                ) -> dict[str, float]:
        """After the loop: the run's figures, the last checkpoint, the final evaluation and
        export; `idle` when a resumed job had nothing left to train."""
        self.train_stats = throughput.summary()
        logger.info("trained %d steps, %d examples in %.1f s excluding evaluation (%.0f examples/s)",
                    self.train_stats["steps"], self.train_stats["examples"],
                    self.train_stats["seconds"], self.train_stats["examples_per_sec"])
        if step != last_saved or not self.manager.latest_checkpoint:
            self._save(step)
        if idle:
            logger.info("%s holds a finished job (global step %d): nothing left to train",
                        self.config.model_dir, step)
        self.input.close()
        self._report_data_quality()
        results = self._evaluate_and_export(step, final=True)
        release_model_dir(self.config.model_dir)
        return results

    def _one_step(self, step: int) -> tuple[int, int, dict[str, tf.Tensor]]:
        """One train step on a batch fetched in Python, shown to the batch observer and the
        drift guard; (1, examples, result), or (0, 0, {}) at the end of the input."""
        batch = self._next_batch()
        if batch is None:
            return 0, 0, {}
        if self._batch_observer is not None:
            self._batch_observer(batch)
        with self._step_summaries():
            result = self._train_step(batch)
        self._observe_drift(step + 1, batch, result)
        return 1, self._batch_examples(batch), result

    def _several_steps(self, count: int) -> tuple[int, int, dict[str, tf.Tensor]]:
        """Up to `count` train steps in one call (batches read in the graph); (steps done,
        examples, the last step's result)."""
        with malformed_rows_reported(), self._step_summaries():
            done, examples, result = self._train_steps(tf.constant(count, tf.int64))
        return int(done), int(examples), result

    @contextlib.contextmanager
    def _step_summaries(self) -> Iterator[None]:
        """Around a call of the compiled step: summaries the model writes itself (tf_summary
        of sequence features) go to model_dir/train and are recorded every
        log_step_count_steps steps, like the loss."""
        log_every = max(int(self.train_config.log_step_count_steps), 1)
        with self._summary.as_default(step=self.global_step), tf.summary.record_if(
                lambda: tf.equal(self.global_step % log_every, 0)):
            yield

    def _steps_to_next_event(self, step: int, num_steps: int | None, log_every: int,
                             cadences: tuple[Cadence, ...]) -> int:
        """Steps the next call may run: at most steps_per_execution, and none past the next
        log line, step-triggered checkpoint or export, or num_steps, so that those happen at
        the same steps as with one step per call; one step once the dead_line has passed."""
        if self.stop_signals.dead_line_passed():
            return 1  # EasyRec ends with the step that finishes after the dead_line
        limits = [self._steps_per_execution(), log_every - step % log_every]
        limits += [left for left in (c.steps_left(step) for c in cadences) if left]
        if num_steps is not None:
            limits.append(num_steps - step)
        return max(min(limits), 1)

    def _traced_step(self):
        """The concrete function of the compiled step the loop calls (for write_graph)."""
        if self._train_steps is None:
            return self._train_step.get_concrete_function(self.input.output_signature)
        return self._train_steps.get_concrete_function(tf.TensorSpec([], tf.int64))

    def _observe_drift(self, step: int, batch: dict[str, tf.Tensor],
                       result: dict[str, tf.Tensor]) -> None:
        """Feeds the drift guard; saves and raises DriftStopError when its alarm stops training."""
        if self.drift_guard is None:
            return
        self.drift_guard.observe(step, batch, result)
        if self.drift_guard.should_stop:
            self._save(step)
            raise DriftStopError(
                f"drift alarm at step {step} (see "
                f"{os.path.join(self.config.model_dir, 'alarms.jsonl')}); "
                "drift_guard.stop_on_alarm is set, so training stopped after saving "
                "a checkpoint")

    def _next_batch(self) -> dict[str, tf.Tensor] | None:
        try:
            with malformed_rows_reported():
                return self.input.next_batch()
        except StopIteration:
            return None

    def _save(self, step: int) -> None:
        path = self.manager.save(checkpoint_number=step)
        logger.info("saved checkpoint %s", path)
        self.input.after_save()

    def _log(self, step: int, result: dict[str, tf.Tensor], throughput: Throughput,
             total: int | None) -> None:
        """The loss line and the progress line (loss_report, progress), and their
        TensorBoard scalars."""
        values = {k: float(result[k]) for k in self._loss_keys}
        loss = values.pop("loss")
        lr = float(self.optimizers.dense_optimizer.learning_rate(self.global_step))
        examples_per_sec = throughput.window_rate()
        run = throughput.summary()
        logger.info("%s", loss_line(step, lr, values))
        logger.info("%s", progress_line(step, total, run["steps"] / max(run["seconds"], 1e-9),
                                        examples_per_sec))
        with self._summary.as_default(step=step):
            tf.summary.scalar("loss", loss)
            for name, value in values.items():
                tf.summary.scalar(f"loss/{name}", value)
            tf.summary.scalar("learning_rate", lr)
            tf.summary.scalar("examples_per_sec", examples_per_sec)

    def _report_data_quality(self) -> None:
        malformed = int(self.malformed_rows.numpy())
        if malformed:
            logger.warning("skipped %d malformed training rows (data_config.ignore_error)", malformed)
        layer = self.model.feature_layer
        for name, count in zip(layer.identity_features, layer.out_of_range_ids.numpy()):
            if count:
                logger.warning("feature %s: %d ids outside [0, num_buckets) were mapped to 0",
                               name, count)

    # ------------------------------------------------------------------ eval / export
    def _evaluate_and_export(self, step: int, final: bool = False) -> dict[str, float]:
        """Evaluates and exports the averaged weights when use_moving_average is set."""
        with self.moving_average.swapped():
            here = self._evaluates_here()
            results = self.evaluator.evaluate(step) if here else {}
            if here and self._eval_observer is not None:
                self._eval_observer(step, results)
            self.exports.after_evaluation(results, final)
        return results

    def _may_export(self, kind: str) -> bool:
        """The export gate: no export while a drift alarm is raised."""
        if self.drift_guard is None or not bool(self.drift_guard.alarmed):
            return True
        logger.warning("drift alarm raised: %s export skipped until the stream is back within "
                       "bounds", kind)
        return False
