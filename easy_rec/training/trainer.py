"""Training loop: tf.function train step, sparse embedding updates, checkpoints, eval, export.

Everything the job needs to resume lives in one checkpoint: model and optimizer state, the
global step, the malformed-row count and the input position (the tf.data iterator of file
input, the next offset of each partition of a Kafka stream; see train_input.py), so a restart
continues with exactly the next unseen batch.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import tensorflow as tf
from tqdm import tqdm

from easy_rec.export.exporter import export_saved_model
from easy_rec.input.csv_input import MALFORMED_KEY
from easy_rec.input.reader import eval_input_path, needed_fields
from easy_rec.models.builder import build_model
from easy_rec.protos import pipeline_pb2
from easy_rec.training.drift_guard import DriftGuard, DriftStopError
from easy_rec.training.evaluation import Evaluator
from easy_rec.training.optimizers import build_optimizers, clip_by_global_norm
from easy_rec.training.restore import read_model_weights, resolve_checkpoint
from easy_rec.training.train_input import InputStateError, build_train_input

logger = logging.getLogger(__name__)

BatchObserver = Callable[[dict[str, tf.Tensor]], None]
EvalObserver = Callable[[int, dict[str, float]], None]


class MalformedInputError(ValueError):
    """A malformed input row stopped the job (data_config.ignore_error is false)."""


def _malformed_message(error: tf.errors.InvalidArgumentError) -> str | None:
    marker = "malformed CSV row at "
    text = error.message
    if marker not in text:
        return None
    start = text.index(marker)
    end = text.find("\n", start)
    return text[start:end if end > 0 else None].rstrip("]").strip()


def configure_threads(train_config) -> None:
    """Applies inter/intra-op thread counts from train_config (0 keeps TensorFlow's choice)."""
    if train_config.inter_op_parallelism_threads:
        tf.config.threading.set_inter_op_parallelism_threads(train_config.inter_op_parallelism_threads)
    if train_config.intra_op_parallelism_threads:
        tf.config.threading.set_intra_op_parallelism_threads(train_config.intra_op_parallelism_threads)


class Trainer:
    """Trains the model a pipeline config describes."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, base_dir: str | None = None,
                 batch_observer: BatchObserver | None = None,
                 eval_observer: EvalObserver | None = None):
        """eval_observer, if given, is called with (global_step, results) after each evaluation
        (e.g. to report intermediate metrics to a hyperparameter tuner)."""
        self.config = config
        self.train_config = config.train_config
        configure_threads(self.train_config)
        self.model = build_model(config, base_dir)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.malformed_rows = tf.Variable(0, dtype=tf.int64, trainable=False, name="malformed_rows")
        self._batch_observer = batch_observer
        self._eval_observer = eval_observer
        self._split_variables()
        self.dense_optimizer, self.embedding_optimizer = build_optimizers(self.train_config)
        self.dense_optimizer.build(self._dense_vars)
        self.embedding_optimizer.build(self._table_vars)
        self._label = config.data_config.label_fields[0]
        self.input = build_train_input(config, needed_fields(config, self.model.serving_input_names))
        self.drift_guard = (DriftGuard(config, self.model, self.input.missing_columns)
                            if config.HasField("drift_guard") else None)
        self._train_step = tf.function(self._step, input_signature=[self.input.output_signature],
                                       autograph=False)
        guard = {"drift_guard": self.drift_guard} if self.drift_guard else {}
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, dense_optimizer=self.dense_optimizer,
            embedding_optimizer=self.embedding_optimizer, global_step=self.global_step,
            malformed_rows=self.malformed_rows, **self.input.checkpoint_items(), **guard)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, config.model_dir, max_to_keep=self.train_config.keep_checkpoint_max or None,
            step_counter=self.global_step)
        eval_path = eval_input_path(config)
        self.evaluator = Evaluator(config, self.model, eval_path) if eval_path else None
        self._summary = tf.summary.create_file_writer(os.path.join(config.model_dir, "train"))
        self._best_metric: float | None = None
        self.train_stats: dict[str, float] = {}

    def _split_variables(self) -> None:
        tables = {t.weights.ref() for t in self.model.feature_layer.embedding_tables()}
        self._table_vars = [t.weights for t in self.model.feature_layer.embedding_tables()]
        self._dense_vars = [v for v in self.model.trainable_variables if v.ref() not in tables]

    # ------------------------------------------------------------------ the step
    def _step(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        if self.config.data_config.ignore_error:
            # a batch is empty when every row in it was malformed and skipped
            empty = {"loss": tf.constant(0.0), "total_loss": tf.constant(0.0),
                     **{k: tf.zeros([0]) for k in self._guard_outputs}}
            result = tf.cond(tf.size(batch[self._label]) > 0, lambda: self._update(batch),
                             lambda: empty)
        else:
            result = self._update(batch)
        self.malformed_rows.assign_add(batch[MALFORMED_KEY])
        self.input.record(batch)
        self.global_step.assign_add(1)
        return result

    def _update(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        variables = self._dense_vars + self._table_vars
        with tf.GradientTape() as tape:
            outputs = self.model(batch, training=True)
            loss = self.model.loss(outputs, batch)
            total = loss + self.model.regularization(outputs)
        grads = tape.gradient(total, variables)
        if self.train_config.gradient_clipping_by_norm > 0:
            grads = clip_by_global_norm(grads, self.train_config.gradient_clipping_by_norm)
        n = len(self._dense_vars)
        self.dense_optimizer.apply_gradients(zip(grads[:n], self._dense_vars), step=self.global_step)
        self.embedding_optimizer.apply_gradients(zip(grads[n:], self._table_vars),
                                                 step=self.global_step)
        # the predictions made before this update, for the drift guard's window AUC
        return {"loss": loss, "total_loss": total, **{k: outputs[k] for k in self._guard_outputs}}

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
            logger.info("resumed from %s at global step %d", latest, int(self.global_step))
            return True
        if self.train_config.fine_tune_checkpoint:
            path = resolve_checkpoint(self.train_config.fine_tune_checkpoint)
            read_model_weights(self.model, path)
            logger.info("warm-started model weights from %s", path)
        return False

    # ------------------------------------------------------------------ loop
    def train(self) -> dict[str, float]:
        """Trains until num_steps or the end of the input; returns the last eval results."""
        self.restore()
        tc = self.train_config
        num_steps = int(tc.num_steps) or None
        step = int(self.global_step)
        if num_steps is None and not self.config.data_config.num_epochs:
            logger.warning("neither train_config.num_steps nor data_config.num_epochs is set: "
                           "training runs until stopped")
        last_save_step, last_save_time = step, time.time()
        last_export_step, last_export_time = step, time.time()
        last_eval_time = 0.0
        log_every = max(int(tc.log_step_count_steps), 1)
        window_start, window_examples = time.time(), 0
        progress = tqdm(total=num_steps, initial=step, unit="step", desc="train", disable=None)
        loop_start, examples, first_step, eval_seconds = time.time(), 0, step, 0.0
        try:
            while num_steps is None or step < num_steps:
                batch = self._next_batch()
                if batch is None:
                    break
                if self._batch_observer is not None:
                    self._batch_observer(batch)
                result = self._train_step(batch)
                step += 1
                if self.drift_guard is not None:
                    self.drift_guard.observe(step, batch, result)
                    if self.drift_guard.should_stop:
                        self._save(step)
                        raise DriftStopError(
                            f"drift alarm at step {step} (see "
                            f"{os.path.join(self.config.model_dir, 'alarms.jsonl')}); "
                            "drift_guard.stop_on_alarm is set, so training stopped after saving "
                            "a checkpoint")
                batch_size = int(batch[self._label].shape[0])
                window_examples += batch_size
                examples += batch_size
                progress.update(1)
                if step % log_every == 0:
                    elapsed = max(time.time() - window_start, 1e-9)
                    self._log(step, result, window_examples / elapsed)
                    window_start, window_examples = time.time(), 0
                if self._should_save(step, last_save_step, last_save_time):
                    self._save(step)
                    last_save_step, last_save_time = step, time.time()
                    if self.evaluator and time.time() - last_eval_time >= \
                            self.config.eval_config.eval_interval_secs:
                        eval_start = time.time()
                        self._evaluate_and_export(step)
                        last_eval_time = time.time()
                        eval_seconds += last_eval_time - eval_start
                if self._should_export(step, last_export_step, last_export_time):
                    self._export("latest")
                    last_export_step, last_export_time = step, time.time()
        finally:
            progress.close()
        seconds = time.time() - loop_start - eval_seconds
        self.train_stats = {"steps": step - first_step, "examples": examples, "seconds": seconds,
                            "examples_per_sec": examples / max(seconds, 1e-9)}
        logger.info("trained %d steps, %d examples in %.1f s excluding evaluation (%.0f examples/s)",
                    step - first_step, examples, seconds, self.train_stats["examples_per_sec"])
        if step != last_save_step or not self.manager.latest_checkpoint:
            self._save(step)
        self.input.close()
        self._report_data_quality()
        results = self._evaluate_and_export(step, final=True)
        return results

    def _next_batch(self) -> dict[str, tf.Tensor] | None:
        try:
            return self.input.next_batch()
        except StopIteration:
            logger.info("training input exhausted at step %d", int(self.global_step))
            return None
        except tf.errors.InvalidArgumentError as error:
            message = _malformed_message(error)
            if message is None:
                raise
            raise MalformedInputError(message) from None

    def _should_save(self, step: int, last_step: int, last_time: float) -> bool:
        tc = self.train_config
        if tc.save_checkpoints_secs:
            return time.time() - last_time >= tc.save_checkpoints_secs
        return bool(tc.save_checkpoints_steps) and step - last_step >= tc.save_checkpoints_steps

    def _save(self, step: int) -> None:
        path = self.manager.save(checkpoint_number=step)
        logger.info("saved checkpoint %s", path)
        self.input.after_save()

    def _should_export(self, step: int, last_step: int, last_time: float) -> bool:
        export = self.config.export_config
        if export.export_every_n_secs and time.time() - last_time >= export.export_every_n_secs:
            return True
        return bool(export.export_every_n_steps) and step - last_step >= export.export_every_n_steps

    def _log(self, step: int, result: dict[str, tf.Tensor], examples_per_sec: float) -> None:
        loss, total = float(result["loss"]), float(result["total_loss"])
        lr = float(self.dense_optimizer.learning_rate(self.global_step))
        logger.info("step %d: loss=%.5f total_loss=%.5f lr=%.3g examples/s=%.0f",
                    step, loss, total, lr, examples_per_sec)
        with self._summary.as_default(step=step):
            tf.summary.scalar("loss", loss)
            tf.summary.scalar("total_loss", total)
            tf.summary.scalar("learning_rate", lr)
            tf.summary.scalar("examples_per_sec", examples_per_sec)

    def _report_data_quality(self) -> None:
        malformed = int(self.malformed_rows)
        if malformed:
            logger.warning("skipped %d malformed training rows (data_config.ignore_error)", malformed)
        layer = self.model.feature_layer
        for name, count in zip(layer.identity_features, layer.out_of_range_ids.numpy()):
            if count:
                logger.warning("feature %s: %d ids outside [0, num_buckets) were mapped to 0",
                               name, count)

    # ------------------------------------------------------------------ eval / export
    def _evaluate_and_export(self, step: int, final: bool = False) -> dict[str, float]:
        results = self.evaluator.evaluate(step) if self.evaluator else {}
        if self.evaluator and self._eval_observer is not None:
            self._eval_observer(step, results)
        kind = self.config.export_config.exporter_type or "final"
        if kind == "latest" or (kind == "best" and self._improved(results)) or (
                kind == "final" and final):
            self._export(kind)
        return results

    def _export(self, kind: str) -> None:
        """Exports to <export root>/<kind>/<timestamp>/, unless a drift alarm is raised."""
        if self.drift_guard is not None and bool(self.drift_guard.alarmed):
            logger.warning("drift alarm raised: %s export skipped until the stream is back within "
                           "bounds", kind)
            return
        export = self.config.export_config
        root = export.export_dir or os.path.join(self.config.model_dir, "export")
        keep = 0 if kind == "final" else export.exports_to_keep
        export_saved_model(self.model, self.config.data_config, os.path.join(root, kind), keep=keep)

    def _improved(self, results: dict[str, float]) -> bool:
        export = self.config.export_config
        value = results.get(export.best_exporter_metric)
        if value is None:
            return False
        better = self._best_metric is None or (
            value > self._best_metric if export.metric_bigger else value < self._best_metric)
        if better:
            self._best_metric = value
        return better
