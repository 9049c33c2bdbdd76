"""Evaluation loop: predictions over the eval input -> metrics JSON and TensorBoard scalars."""
from __future__ import annotations

import logging
import math
import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.empty_input import no_rows_error
from easy_rec.input.line_parser import MALFORMED_KEY, checked_batches
from easy_rec.input.reader import build_reader
from easy_rec.metrics.evaluator import MetricAccumulator, write_eval_result
from easy_rec.metrics.metric_learning import EMBEDDING_OUTPUT, SESSION_OUTPUT
from easy_rec.models.base import RankModel
from easy_rec.protos import dataset_pb2, pipeline_pb2
from easy_rec.training.evaluation.retrieval import RetrievalEvaluation
from easy_rec.training.loss_report import LossMeans

logger = logging.getLogger(__name__)

LEARNING_OUTPUTS = (EMBEDDING_OUTPUT, SESSION_OUTPUT)
LOSSES, REGULARIZATION = "losses", "regularization"


def eval_batch_size(data_config: dataset_pb2.DatasetConfig) -> int:
    """data_config.eval_batch_size when the config sets it, else batch_size."""
    if data_config.HasField("eval_batch_size"):
        return int(data_config.eval_batch_size)
    return int(data_config.batch_size)


class Evaluator:
    """Runs the model over the whole eval input (or eval_config.num_examples rows)."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, model: RankModel, input_path: str,
                 plan: ColumnPlan, write_results: bool = True):
        """`plan`: the columns to read (model_column_plan(config, model)); `write_results`
        False keeps model_dir untouched (no eval_results, no TensorBoard summaries)."""
        self._config = config
        self._model = model
        # per task: its own metrics_set, else eval_config's
        self._metrics = [list(t.metrics) or list(config.eval_config.metrics_set) for t in model.tasks]
        self._group_fields = list(plan.group_keys)
        self._reader = build_reader(config.data_config, input_path, plan)
        self._reader.check_head("evaluation")  # before training starts, not after it ends
        self._weight = plan.sample_weight
        spec = dict(self._reader.output_signature)
        spec[MALFORMED_KEY] = tf.TensorSpec([], tf.int64)
        self._predict = tf.function(self._predict_batch, input_signature=[spec], autograph=False)
        self._writer = (tf.summary.create_file_writer(os.path.join(config.model_dir, "eval"))
                        if write_results else None)
        # recall@k etc. of matching models, when metrics ask for them
        self._retrieval = RetrievalEvaluation.create(config, model, self._metrics[0], plan)

    def _predict_batch(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = self._model(batch, training=False)
        keep = {t.key(k): outputs[t.key(k)] for t in self._model.tasks for k in ("probs", "y")
                if t.key(k) in outputs}
        # metric learning (precision_at_topk): embeddings and session ids of the rows
        keep.update({k: outputs[k] for k in LEARNING_OUTPUTS if k in outputs})
        # the loss terms and regularization terms by name, for loss_report.LossMeans
        keep[LOSSES] = self._model.loss_dict(outputs, batch)
        keep[REGULARIZATION] = self._model.regularization_dict(outputs)
        if self._retrieval is not None:
            keep.update(self._retrieval.outputs(outputs))
        return keep

    def _no_rows_error(self, malformed: int) -> Exception:
        """Metrics of no rows would be invented (loss 0): the error to raise instead."""
        reason = (f"all {malformed} rows were malformed and skipped (data_config.ignore_error)"
                  if malformed else "nothing to evaluate, so no metrics were computed")
        return no_rows_error("evaluation", self._reader.files, reason)

    def evaluate(self, global_step: int) -> dict[str, float]:
        """Metrics at `global_step`; also written to model_dir/eval_results and TensorBoard
        (unless write_results is False)."""
        batch_size = eval_batch_size(self._config.data_config)
        dataset = self._reader.make_dataset(batch_size, num_epochs=1, shuffle=False)
        limit = int(self._config.eval_config.num_examples)
        if limit:
            dataset = dataset.take(math.ceil(limit / batch_size))
        tasks = self._model.tasks
        accumulators = [MetricAccumulator(self._group_fields) for _ in tasks]
        losses = LossMeans()
        malformed, num_examples = 0, 0
        if self._retrieval is not None:
            self._retrieval.reset()
        for batch in tqdm(checked_batches(dataset), desc=f"eval@{global_step}", unit="batch",
                          leave=False, disable=None):
            out = self._predict(batch)
            size = int(tf.size(batch[tasks[0].label_field]))
            losses.add(*({k: float(v) for k, v in out[part].items()}
                         for part in (LOSSES, REGULARIZATION)), size)
            num_examples += size
            malformed += int(batch[MALFORMED_KEY])
            groups = {f: batch[f].numpy() for f in self._group_fields}
            weights = batch[self._weight].numpy() if self._weight else None
            for task, accumulator in zip(tasks, accumulators):
                accumulator.update(
                    batch[task.label_field].numpy(),
                    {**{k: out[task.key(k)].numpy() for k in ("probs", "y")
                        if task.key(k) in out},
                     **{k: out[k].numpy() for k in LEARNING_OUTPUTS if k in out}},
                    groups, weights)
            if self._retrieval is not None:
                self._retrieval.update(batch, out)
        if not num_examples:
            raise self._no_rows_error(malformed)
        results: dict[str, float] = {}
        for task, accumulator, metrics in zip(tasks, accumulators, self._metrics):
            task_results = accumulator.result(metrics, task.metric_classes)
            results.update({task.key(k): v for k, v in task_results.items()})
        if self._retrieval is not None:
            results.update(self._retrieval.result())
        results.update(losses.result())
        if malformed:
            results["malformed_rows"] = malformed
            logger.warning("eval skipped %d malformed rows", malformed)
        if self._writer is not None:
            self._write(results, global_step, num_examples)
        logger.info("eval at step %d on %d examples: %s", global_step, num_examples,
                    ", ".join(f"{k}={v:.6g}" for k, v in results.items()))
        return results

    def _write(self, results: dict[str, float], global_step: int, num_examples: int) -> None:
        """Writes one evaluation to model_dir/eval_results and TensorBoard."""
        write_eval_result(self._config.model_dir, results, global_step, num_examples=num_examples)
        with self._writer.as_default(step=global_step):
            for key, value in results.items():
                if isinstance(value, float) and np.isfinite(value):
                    tf.summary.scalar(key, value)
        self._writer.flush()
