"""Drift guard: statistics of the training stream per window of samples, checked against bounds.

Per window of ``drift_guard.window_size`` trained samples it computes the share of positive
labels, the share of empty cells per feature input column, mean and std of RawFeature inputs,
the share of IdFeature values never seen in earlier windows, and the AUC of the predictions
the train step made before its update. The first ``warmup_windows`` windows only set the
reference (mean / std, seen ids). A window outside a bound logs an alarm and appends one JSON
record to ``model_dir/alarms.jsonl``; while alarmed, the trainer exports nothing. The first
window back within bounds clears the alarm (a "clear" record).

The reference statistics, the seen-id bit sets and the alarm state are tf.Variables saved in the
training checkpoint; the window being filled is not (a restart begins a new window).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.fields import column_dtypes
from easy_rec.input.line_parser import MISSING_KEY
from easy_rec.metrics.classification import roc_auc
from easy_rec.models.base import RankModel
from easy_rec.protos import pipeline_pb2
from easy_rec.tables.errors import InputError
from easy_rec.utils.files import append_line

ALARMS_FILE = "alarms.jsonl"
_NUMERIC = (tf.int32, tf.int64, tf.float32, tf.float64)

logger = logging.getLogger(__name__)


class DriftStopError(InputError):
    """A drift alarm stopped training (drift_guard.stop_on_alarm)."""


@dataclass
class _Window:
    """Sums over the samples of the window being filled."""

    count: int = 0
    labels: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    missing: np.ndarray | None = None
    raw_sums: np.ndarray | None = None  # [raw columns, 3]: count, sum, sum of squares
    id_seen: list[list[np.ndarray]] = field(default_factory=list)  # bucket ids per id column
    unseen: np.ndarray | None = None  # [id columns, 2]: unseen, present


class DriftGuard(tf.Module):
    """Accumulates window statistics from trained batches and raises or clears alarms."""

    def __init__(self, config: pipeline_pb2.EasyRecConfig, model: RankModel, plan: ColumnPlan,
                 columns: list[str]):
        """`plan`: the job's column plan (which columns are raw / id feature inputs);
        `columns`: the input columns of the batches' missing-cell matrix, in order."""
        super().__init__(name="drift_guard")
        self._guard = config.drift_guard
        self._alarms_path = os.path.join(config.model_dir, ALARMS_FILE)
        task = model.tasks[0]
        binary = task.num_class == 1 and not task.is_regression
        self._label = task.label_field if binary else None
        self._probs_key = task.key("probs") if binary else None
        dtypes = column_dtypes(config.data_config)
        used = set(plan.feature_inputs)
        self._feature_columns = [i for i, c in enumerate(columns) if c in used]
        self._columns = columns
        raw, ids = plan.feature_inputs_of_type("RawFeature"), plan.feature_inputs_of_type("IdFeature")
        self._raw = [c for c in columns if c in raw and dtypes[c] in _NUMERIC]
        self._ids = [c for c in columns if c in ids]
        self._buckets = int(self._guard.seen_id_buckets)
        self._missing_bounds = {c.input_name: c.max_missing_rate
                                for c in self._guard.column_missing_rate}
        self.alarmed = tf.Variable(False, trainable=False, name="alarmed")
        self.windows = tf.Variable(0, dtype=tf.int64, trainable=False, name="windows")
        self.reference = tf.Variable(tf.zeros([len(self._raw), 3], tf.float64), trainable=False,
                                     name="reference")
        self.seen_bits = tf.Variable(tf.zeros([len(self._ids), (self._buckets + 7) // 8], tf.uint8),
                                     trainable=False, name="seen_bits")
        self._seen: np.ndarray | None = None  # unpacked seen_bits, loaded after restore
        self._window = self._new_window()
        self.should_stop = False

    def _new_window(self) -> _Window:
        return _Window(missing=np.zeros(len(self._feature_columns), np.int64),
                       raw_sums=np.zeros([len(self._raw), 3]),
                       id_seen=[[] for _ in self._ids],
                       unseen=np.zeros([len(self._ids), 2], np.int64))

    @property
    def train_outputs(self) -> list[str]:
        """Model outputs the train step must return for the guard (the pre-update probs)."""
        return [self._probs_key] if self._probs_key else []

    # -------------------------------------------------------------- per batch
    def observe(self, step: int, batch: dict[str, tf.Tensor], result: dict[str, tf.Tensor]) -> None:
        """Adds a trained batch; closes the window when it is full."""
        missing = batch[MISSING_KEY].numpy()
        size = missing.shape[0]
        if size == 0:
            return
        if self._seen is None:
            self._seen = np.unpackbits(self.seen_bits.numpy(), axis=1)[:, :self._buckets].astype(bool)
        w = self._window
        w.count += size
        if self._label:
            w.labels.append(batch[self._label].numpy())
            w.probs.append(result[self._probs_key].numpy())
        w.missing += missing[:, self._feature_columns].sum(axis=0)
        for i, name in enumerate(self._raw):
            present = ~missing[:, self._columns.index(name)]
            values = batch[name].numpy().astype(np.float64)[present]
            w.raw_sums[i] += (values.size, values.sum(), np.square(values).sum())
        for i, name in enumerate(self._ids):
            present = ~missing[:, self._columns.index(name)]
            ids = tf.strings.to_hash_bucket_fast(_as_text(batch[name]), self._buckets).numpy()[present]
            w.unseen[i] += (int((~self._seen[i, ids]).sum()), ids.size)
            w.id_seen[i].append(ids)
        if w.count >= self._guard.window_size:
            self._close_window(step)

    # -------------------------------------------------------------- per window
    def _close_window(self, step: int) -> None:
        w, self._window = self._window, self._new_window()
        index = int(self.windows) + 1
        metrics = self._metrics(w)
        warmup = index <= self._guard.warmup_windows
        if warmup:
            self.reference.assign_add(w.raw_sums)
        violations = [] if warmup else self._violations(metrics)
        for i, parts in enumerate(w.id_seen):
            if parts:
                self._seen[i, np.concatenate(parts)] = True
        self.seen_bits.assign(np.packbits(self._seen, axis=1))
        self.windows.assign(index)
        logger.info("drift guard window %d (%d samples)%s: %s", index, w.count,
                    " [warm-up]" if warmup else "", json.dumps(metrics, sort_keys=True))
        record = {"global_step": step, "window": index, "samples": w.count, "metrics": metrics}
        if violations:
            self.alarmed.assign(True)
            self.should_stop = bool(self._guard.stop_on_alarm)
            logger.error("DRIFT ALARM at step %d: %s; exports are blocked%s", step,
                         "; ".join(v["message"] for v in violations),
                         ", training stops" if self.should_stop else "")
            self._append({"event": "alarm", **record, "violations": violations})
        elif bool(self.alarmed):
            self.alarmed.assign(False)
            logger.warning("drift alarm cleared at step %d: metrics back within bounds", step)
            self._append({"event": "clear", **record})

    def _metrics(self, w: _Window) -> dict:
        metrics: dict = {}
        if self._label and w.labels:
            labels = np.concatenate(w.labels)
            positive = labels != 0
            metrics["positive_ratio"] = float(positive.mean())
            has_both = positive.any() and not positive.all()
            metrics["auc"] = roc_auc(labels, np.concatenate(w.probs)) if has_both else None
        metrics["missing_rate"] = {
            self._columns[c]: float(m) / w.count for c, m in zip(self._feature_columns, w.missing)}
        mean, std = _mean_std(w.raw_sums)
        metrics["mean"] = dict(zip(self._raw, mean))
        metrics["std"] = dict(zip(self._raw, std))
        metrics["unseen_id_rate"] = {
            name: (float(u) / n if n else 0.0) for name, (u, n) in zip(self._ids, w.unseen)}
        return _json_safe(metrics)

    def _violations(self, metrics: dict) -> list[dict]:
        g = self._guard
        found: list[dict] = []

        def bound(metric: str, value: float | None, limit: float, upper: bool,
                  column: str | None = None) -> None:
            if value is None or not (value > limit if upper else value < limit):
                return
            name = f"{metric}[{column}]" if column else metric
            found.append({"metric": metric, "column": column, "value": value,
                          "bound": ("max " if upper else "min ") + f"{limit:g}",
                          "message": f"{name} {value:.4g} {'>' if upper else '<'} {limit:g}"})

        if "positive_ratio" in metrics:
            bound("positive_ratio", metrics["positive_ratio"], g.min_positive_ratio, upper=False)
            bound("positive_ratio", metrics["positive_ratio"], g.max_positive_ratio, upper=True)
            if g.min_auc > 0:
                bound("auc", metrics["auc"], g.min_auc, upper=False)
        for name, rate in metrics["missing_rate"].items():
            bound("missing_rate", rate, self._missing_bounds.get(name, g.max_missing_rate),
                  upper=True, column=name)
        for name, rate in metrics["unseen_id_rate"].items():
            bound("unseen_id_rate", rate, g.max_unseen_id_rate, upper=True, column=name)
        ref_mean, ref_std = _mean_std(self.reference.numpy())
        for i, name in enumerate(self._raw):
            mean, std = metrics["mean"][name], metrics["std"][name]
            if mean is None or ref_mean[i] is None:
                continue
            if g.max_mean_shift > 0:
                shift = abs(mean - ref_mean[i]) / max(ref_std[i], 1e-12)
                bound("mean_shift", shift, g.max_mean_shift, upper=True, column=name)
            if g.max_std_ratio > 0:
                ratio = std / max(ref_std[i], 1e-12) if (std or ref_std[i]) else 1.0
                bound("std_ratio", ratio, g.max_std_ratio, upper=True, column=name)
                bound("std_ratio", ratio, 1.0 / g.max_std_ratio, upper=False, column=name)
        return found

    def _append(self, record: dict) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record}
        append_line(self._alarms_path, json.dumps(_json_safe(record), sort_keys=True))


def _as_text(values: tf.Tensor) -> tf.Tensor:
    return values if values.dtype == tf.string else tf.strings.as_string(values)


def _mean_std(sums: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """Per row of [count, sum, sum of squares]: mean and population std (None when empty)."""
    means, stds = [], []
    for count, total, squares in sums:
        if count <= 0:
            means.append(None)
            stds.append(None)
            continue
        mean = total / count
        means.append(float(mean))
        stds.append(float(math.sqrt(max(squares / count - mean * mean, 0.0))))
    return means, stds


def _json_safe(value):
    """NaN / inf -> None, recursively, so records are strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value



