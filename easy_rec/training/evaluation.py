"""Evaluation loop: predictions over the eval input -> metrics JSON and TensorBoard scalars."""
from __future__ import annotations

import logging
import math
import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from easy_rec.input.csv_input import MALFORMED_KEY
from easy_rec.input.reader import build_reader, needed_fields
from easy_rec.metrics.evaluator import MetricAccumulator, gauc_group_fields, write_eval_result
from easy_rec.models.base import RankModel
from easy_rec.protos import pipeline_pb2

logger = logging.getLogger(__name__)


class Evaluator:
    """Runs the model over the whole eval input (or eval_config.num_examples rows)."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, model: RankModel, input_path: str):
        self._config = config
        self._model = model
        self._reader = build_reader(config, input_path, needed_fields(config, model.serving_input_names))
        self._label = config.data_config.label_fields[0]
        self._weight = config.data_config.sample_weight or None
        self._group_fields = gauc_group_fields(config.eval_config.metrics_set)
        spec = dict(self._reader.output_signature)
        spec[MALFORMED_KEY] = tf.TensorSpec([], tf.int64)
        self._predict = tf.function(self._predict_batch, input_signature=[spec], autograph=False)
        self._writer = tf.summary.create_file_writer(os.path.join(config.model_dir, "eval"))

    def _predict_batch(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = self._model(batch, training=False)
        weights = batch[self._weight] if self._weight else None
        loss = self._model.loss(outputs, batch[self._label], weights)
        keep = {k: outputs[k] for k in ("probs", "y") if k in outputs}
        keep["loss"] = loss
        return keep

    def evaluate(self, global_step: int) -> dict[str, float]:
        """Metrics at `global_step`; also written to model_dir/eval_results and TensorBoard."""
        data = self._config.data_config
        dataset = self._reader.make_dataset(data.batch_size, num_epochs=1, shuffle=False)
        limit = int(self._config.eval_config.num_examples)
        if limit:
            dataset = dataset.take(math.ceil(limit / data.batch_size))
        accumulator = MetricAccumulator(self._group_fields)
        loss_sum, malformed = 0.0, 0
        for batch in tqdm(dataset, desc=f"eval@{global_step}", unit="batch", leave=False,
                          disable=None):
            out = self._predict(batch)
            size = int(tf.size(batch[self._label]))
            loss_sum += float(out["loss"]) * size
            malformed += int(batch[MALFORMED_KEY])
            accumulator.update(
                batch[self._label].numpy(),
                {k: v.numpy() for k, v in out.items() if k != "loss"},
                {f: batch[f].numpy() for f in self._group_fields},
                batch[self._weight].numpy() if self._weight else None,
            )
        results = accumulator.result(self._config.eval_config.metrics_set, self._model.num_class)
        results["loss"] = loss_sum / max(accumulator.num_examples, 1)
        if malformed:
            results["malformed_rows"] = malformed
            logger.warning("eval skipped %d malformed rows", malformed)
        write_eval_result(self._config.model_dir, results, global_step,
                          num_examples=accumulator.num_examples)
        with self._writer.as_default(step=global_step):
            for key, value in results.items():
                if isinstance(value, float) and np.isfinite(value):
                    tf.summary.scalar(key, value)
        self._writer.flush()
        logger.info("eval at step %d on %d examples: %s", global_step, accumulator.num_examples,
                    ", ".join(f"{k}={v:.6g}" for k, v in results.items()))
        return results
