"""The evaluator task of TF_CONFIG (EasyRec's separate evaluator): evaluates every new
checkpoint the chief writes into model_dir, on its own, until the chief marks the job done.

It takes part in no training step and no collective, so it cannot hang the job. As with
EasyRec's separate evaluator (TensorFlow's train_and_evaluate), the chief then evaluates
nothing, not even the last checkpoint (the evaluator does); it still checkpoints and exports.
The chief knows of the evaluator from TF_CONFIG's cluster when it is listed there (a
Kubernetes TFJob), else from the marker this task keeps in model_dir while it runs
(cluster.EVALUATOR_MARKER; the launcher leaves the evaluator out of the cluster, as EasyRec
does). A checkpoint removed by keep_checkpoint_max before its turn is skipped.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time

import tensorflow as tf

from easy_rec.distribute.cluster import DONE_MARKER, announce_evaluator
from easy_rec.input.reader import eval_input_path
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.protos import pipeline_pb2
from easy_rec.training.evaluation.evaluator import Evaluator
from easy_rec.training.restore import checkpoint_step, read_model_weights

logger = logging.getLogger(__name__)

_POLL_SECS = 2.0


def evaluate_checkpoints(config: pipeline_pb2.EasyRecConfig, base_dir: str | None) -> dict:
    """Evaluates model_dir's checkpoints as they appear; returns the last results with their
    global step (no eval input: returns at once)."""
    path = eval_input_path(config)
    if not path:
        logger.warning("the evaluator task has no eval input (eval_input_path): nothing to do")
        return {"role": "evaluator"}
    started = time.time()
    marker = announce_evaluator(config.model_dir)
    try:
        return _evaluate_until_done(config, base_dir, path, started)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(marker)


def _evaluate_until_done(config: pipeline_pb2.EasyRecConfig, base_dir: str | None, path: str,
                         started: float) -> dict:
    model = build_model(config, base_dir)
    evaluator = Evaluator(config, model, path, model_column_plan(config, model))
    done = os.path.join(config.model_dir, DONE_MARKER)
    seen, results = None, {}
    while True:
        finished = os.path.exists(done) and os.path.getmtime(done) >= started
        latest = tf.train.latest_checkpoint(config.model_dir)
        if latest and latest != seen:
            try:
                read_model_weights(model, latest)
            except (tf.errors.NotFoundError, ValueError) as error:
                logger.warning("skipped %s: %s", latest, error)
            else:
                results = {"global_step": checkpoint_step(latest),
                           **evaluator.evaluate(checkpoint_step(latest))}
            seen = latest
        elif finished:
            return results
        else:
            time.sleep(_POLL_SECS)
