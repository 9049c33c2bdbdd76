"""Evaluation driver: maps ``EvalMetrics`` protos to numpy metric functions.

Typical use during evaluation::

    acc = MetricAccumulator(group_fields=column_plan.group_keys)  # easy_rec.input.column_plan
    for labels, outputs, features in batches:        # numpy arrays per batch
        acc.update(labels, outputs, features)
    results = acc.result(eval_config.metrics_set, num_class=1)
    write_eval_result(model_dir, results, global_step, num_examples=acc.num_examples)
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from easy_rec.metrics import classification as cls
from easy_rec.metrics import metric_learning, retrieval
from easy_rec.metrics import regression as reg
from easy_rec.protos import eval_pb2
from easy_rec.utils.files import atomic_write_text

logger = logging.getLogger(__name__)

#: EvalMetrics oneof field name -> result key.
METRIC_KEYS: dict[str, str] = {
    "auc": "auc",
    "gauc": "gauc",
    "session_auc": "session_auc",
    "log_loss": "logloss",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "root_mean_squared_error": "rmse",
    "max_f1": "max_f1",
    "recall_at_topk": "recall_at_topk",
    "precision_at_topk": "MAP",
}

_REGRESSION_METRICS = frozenset(
    {"mean_squared_error", "mean_absolute_error", "root_mean_squared_error"}
)
EVAL_RESULTS_DIR = "eval_results"
HISTORY_FILE = "history.jsonl"


def metric_result_keys(metric: eval_pb2.EvalMetrics) -> list[str]:
    """Result keys one EvalMetrics entry produces (before repeat suffixes), e.g. ['auc'] or
    ['recall@10', 'recall@50']."""
    name = metric.WhichOneof("metric")
    if name in retrieval.RETRIEVAL_METRICS:
        return retrieval.result_keys(metric)
    if name == "precision_at_topk":
        return [f"MAP@{metric.precision_at_topk.topk}"]
    return [METRIC_KEYS[name]]


def is_result_key(metric: str, keys: Sequence[str]) -> bool:
    """True when `metric` is one of `keys`, or a multi-task model's per-task form of one
    (the key followed by '_<tower name>', e.g. 'auc_ctr')."""
    return metric in keys or any(metric.startswith(f"{key}_") for key in keys)


# --------------------------------------------------------------------------- compute
def _require(outputs: Mapping[str, np.ndarray], key: str, metric_name: str) -> np.ndarray:
    """Fetch ``outputs[key]`` or raise a helpful KeyError."""
    if key not in outputs:
        raise KeyError(f"metric {metric_name!r} needs outputs[{key!r}]; got keys {sorted(outputs)}")
    return np.asarray(outputs[key])


def _compute_one(
    name: str,
    config: Any,
    labels: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    weights: np.ndarray | None,
    batch_sizes: Sequence[int] = (),
) -> float:
    """Compute one metric given its oneof ``name`` and sub-message ``config``."""
    if name == "precision_at_topk":
        return _metric_learning(metric_learning.mean_average_precision_at_k, name, config.topk,
                                labels, outputs, batch_sizes)
    if name == "recall_at_topk" and _ranks_embeddings(outputs):
        return _metric_learning(metric_learning.recall_at_k, name, config.topk, labels, outputs,
                                batch_sizes)
    if name in _REGRESSION_METRICS:
        preds = _require(outputs, "y", name)
        fn: Callable[..., float] = {
            "mean_squared_error": reg.mse,
            "mean_absolute_error": reg.mae,
            "root_mean_squared_error": reg.rmse,
        }[name]
        return fn(labels, preds, weights)
    probs = _require(outputs, "probs", name)
    if name == "auc":
        return cls.roc_auc(labels, probs, weights)
    if name in cls.GROUPED_AUC_FIELDS:  # gauc, session_auc: AUC per user / session
        column = getattr(config, cls.GROUPED_AUC_FIELDS[name])
        if column not in features:
            raise KeyError(f"{name} needs feature column {column!r}")
        return cls.gauc(labels, probs, features[column], config.reduction, weights)
    if name == "log_loss":
        return cls.logloss(labels, probs, weights)
    if name == "accuracy":
        return cls.accuracy(labels, probs, config.threshold, weights)
    if name == "precision":
        return cls.precision(labels, probs, config.threshold, weights)
    if name == "recall":
        return cls.recall(labels, probs, config.threshold, weights)
    if name == "max_f1":
        return cls.max_f1(labels, probs, weights)
    if name == "recall_at_topk":
        return cls.recall_at_topk(labels, probs, config.topk, weights)
    raise ValueError(f"unsupported metric {name!r}")


def _ranks_embeddings(outputs: Mapping[str, np.ndarray]) -> bool:
    """True for a metric-learning model's outputs (embeddings, no class probabilities): its
    recall_at_topk is metric learning's (metric_learning.py)."""
    return metric_learning.EMBEDDING_OUTPUT in outputs and "probs" not in outputs


def _metric_learning(metric: Callable[..., float], name: str, topk: int, labels: np.ndarray,
                     outputs: Mapping[str, np.ndarray], batch_sizes: Sequence[int]) -> float:
    """A metric-learning metric at k within each eval batch (metric_learning.py)."""
    embeddings = _require(outputs, metric_learning.EMBEDDING_OUTPUT, name)
    sessions = outputs.get(metric_learning.SESSION_OUTPUT)
    bounds = np.cumsum([0, *batch_sizes]) if batch_sizes else np.array([0, len(labels)])
    batches = [(embeddings[a:b], labels[a:b], None if sessions is None else sessions[a:b])
               for a, b in zip(bounds[:-1], bounds[1:])]
    return metric(batches, topk)


def _check_num_class(name: str, num_class: int) -> None:
    """Reject metric / num_class combinations that are not defined."""
    binary_only = {"auc", "gauc", "session_auc", "precision", "recall", "max_f1"}
    if name in binary_only and num_class > 2:
        raise ValueError(
            f"metric {name!r} is only defined for binary models, num_class={num_class}"
        )
    if name == "recall_at_topk" and num_class < 2:
        raise ValueError("recall_at_topk needs a multi-class model (num_class > 1)")


def _unique_key(key: str, results: Mapping[str, float]) -> str:
    """``key`` or ``key_<n>`` so that repeated metrics do not overwrite each other."""
    if key not in results:
        return key
    n = 1
    while f"{key}_{n}" in results:
        n += 1
    return f"{key}_{n}"


def compute_metrics(
    metrics_set: Sequence[eval_pb2.EvalMetrics],
    labels: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    features: Mapping[str, np.ndarray],
    weights: np.ndarray | None = None,
    num_class: int = 1,
    batch_sizes: Sequence[int] = (),
) -> dict[str, float]:
    """Compute every metric of ``metrics_set`` over the whole eval set.

    Args:
      metrics_set: ``EvalMetrics`` protos (e.g. ``eval_config.metrics_set``).
      labels: ``[N]`` labels.
      outputs: model outputs, ``'probs'`` (``[N]`` or ``[N, C]``) for classification
        metrics and ``'y'`` (``[N]``) for regression metrics.
      features: raw feature columns; gauc reads ``features[uid_field]``.
      weights: optional ``[N]`` sample weights.
      num_class: number of classes of the model (1 for binary / regression).
      batch_sizes: rows of each eval batch, in order (metric learning's precision_at_topk
        and recall_at_topk rank the rows of a batch among themselves, as EasyRec does);
        empty: one batch.

    Returns:
      ``{result_key: value}``; a metric repeated in ``metrics_set`` gets a ``_<n>`` suffix.
    """
    labels = np.asarray(labels)
    results: dict[str, float] = {}
    for metric in metrics_set:
        name = metric.WhichOneof("metric")
        if name is None:
            logger.warning("skipping EvalMetrics with no metric set")
            continue
        if name in retrieval.RETRIEVAL_METRICS:  # ranked over an item corpus, not per row
            continue
        if name not in METRIC_KEYS:
            raise ValueError(f"unsupported metric {name!r}")
        if not (name == "recall_at_topk" and _ranks_embeddings(outputs)):
            _check_num_class(name, num_class)
        value = _compute_one(name, getattr(metric, name), labels, outputs, features, weights,
                             batch_sizes)
        results[_unique_key(metric_result_keys(metric)[0], results)] = float(value)
    return results


# --------------------------------------------------------------------------- accumulate
class MetricAccumulator:
    """Collects per-batch numpy arrays and computes metrics over all of them."""

    def __init__(
        self,
        group_fields: Sequence[str] = (),
        output_keys: Sequence[str] = ("probs", "y", metric_learning.EMBEDDING_OUTPUT,
                                      metric_learning.SESSION_OUTPUT),
    ) -> None:
        """
        Args:
          group_fields: feature columns to keep (those grouped metrics read).
          output_keys: output entries to keep when present in a batch.
        """
        self.group_fields = list(group_fields)
        self.output_keys = list(output_keys)
        self.reset()

    def reset(self) -> None:
        """Drop everything collected so far."""
        self._labels: list[np.ndarray] = []
        self._outputs: dict[str, list[np.ndarray]] = {}
        self._features: dict[str, list[np.ndarray]] = {f: [] for f in self.group_fields}
        self._weights: list[np.ndarray] = []
        self._sizes: list[int] = []
        self._num_examples = 0

    @property
    def num_examples(self) -> int:
        """Number of rows collected so far."""
        return self._num_examples

    def update(
        self,
        labels: np.ndarray,
        outputs: Mapping[str, Any],
        features: Mapping[str, Any],
        weights: np.ndarray | None = None,
    ) -> None:
        """Append one batch (arrays with the batch size as first dimension)."""
        batch_labels = np.asarray(labels).reshape(-1)
        size = batch_labels.shape[0]
        if self._labels and (weights is None) != (not self._weights):
            raise ValueError("weights must be given for every batch or for none")
        self._labels.append(batch_labels)
        for key in self.output_keys:
            if key in outputs:
                value = np.asarray(outputs[key])
                if value.ndim == 2 and value.shape[1] == 1:
                    value = value[:, 0]
                self._outputs.setdefault(key, []).append(value)
        for field in self.group_fields:
            if field not in features:
                raise KeyError(f"batch lacks feature column {field!r} needed by grouped metrics")
            column = np.asarray(features[field]).reshape(-1)
            if column.shape[0] != size:
                raise ValueError(f"feature {field!r} has {column.shape[0]} rows, expected {size}")
            self._features[field].append(column)
        if weights is not None:
            self._weights.append(np.asarray(weights, dtype=np.float64).reshape(-1))
        self._sizes.append(size)
        self._num_examples += size

    def result(
        self, metrics_set: Sequence[eval_pb2.EvalMetrics], num_class: int = 1
    ) -> dict[str, float]:
        """Concatenate all batches and run :func:`compute_metrics`."""
        if not self._labels:
            logger.warning("MetricAccumulator.result called before any update; returning {}")
            return {}
        labels = np.concatenate(self._labels)
        outputs = {k: np.concatenate(v) for k, v in self._outputs.items()}
        features = {k: np.concatenate(v) for k, v in self._features.items()}
        weights = np.concatenate(self._weights) if self._weights else None
        return compute_metrics(metrics_set, labels, outputs, features, weights, num_class,
                               self._sizes)


# --------------------------------------------------------------------------- write
def _json_value(value: Any) -> Any:
    """Convert numpy scalars to python; non-finite floats become None (strict JSON)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_eval_result(
    model_dir: str,
    results: Mapping[str, Any],
    global_step: int,
    name: str = "eval",
    num_examples: int | None = None,
) -> str:
    """Persist one evaluation.

    Writes ``<model_dir>/eval_results/step_<global_step>.json`` atomically and
    appends the same record as one line to ``<model_dir>/eval_results/history.jsonl``.
    The record holds the metrics plus ``global_step``, ``num_examples`` (argument,
    else ``results['num_examples']``, else null), ``time`` (unix seconds) and ``name``.
    Non-finite metric values are stored as null.

    Returns:
      Path of the step JSON file.
    """
    out_dir = os.path.join(model_dir, EVAL_RESULTS_DIR)
    os.makedirs(out_dir, exist_ok=True)
    if num_examples is None:
        num_examples = results.get("num_examples")
    record = {str(k): _json_value(v) for k, v in results.items()}
    record.update(
        global_step=int(global_step),
        num_examples=None if num_examples is None else int(num_examples),
        time=time.time(),
        name=name,
    )
    json_path = os.path.join(out_dir, f"step_{int(global_step)}.json")
    atomic_write_text(json_path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    with open(os.path.join(out_dir, HISTORY_FILE), "a", encoding="utf-8") as history:
        history.write(json.dumps(record, sort_keys=True) + "\n")
    logger.info("eval results at step %d written to %s", global_step, json_path)
    return json_path
