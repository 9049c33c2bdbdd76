"""Tests for easy_rec.metrics (classification, regression, evaluator)."""

from __future__ import annotations

import json
import logging
import math
import os

import numpy as np
import pytest

from easy_rec.input.column_plan import gauc_group_fields
from easy_rec.metrics import classification as cls
from easy_rec.metrics import regression as reg
from easy_rec.metrics.evaluator import (
    MetricAccumulator,
    compute_metrics,
    write_eval_result,
)
from easy_rec.protos import eval_pb2


def brute_force_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """Pairwise AUC: P(score_pos > score_neg) + 0.5 P(tie), weighted by w_pos * w_neg."""
    pos = labels != 0
    sp, wp = scores[pos], weights[pos]
    sn, wn = scores[~pos], weights[~pos]
    pair_w = wp[:, None] * wn[None, :]
    wins = (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])
    return float(np.sum(pair_w * wins) / (wp.sum() * wn.sum()))


def gauc_by_loop(labels, scores, keys, reduction, weights=None):
    """Reference GAUC with an explicit python loop over groups (EasyRec algorithm)."""
    weights = np.ones(len(labels)) if weights is None else weights
    aucs, group_weights = [], []
    for key in np.unique(keys):
        mask = keys == key
        y = labels[mask]
        if np.all(y == 1) or np.all(y == 0):
            continue
        aucs.append(brute_force_auc(y, scores[mask], weights[mask]))
        group_weights.append(
            {"mean": 1.0, "mean_by_sample_num": mask.sum(), "mean_by_positive_num": y.sum()}[
                reduction
            ]
        )
    return float(np.average(aucs, weights=group_weights))


def make_metric(name: str, **fields) -> eval_pb2.EvalMetrics:
    """Build an EvalMetrics proto with oneof ``name`` set."""
    metric = eval_pb2.EvalMetrics()
    getattr(metric, name).SetInParent()
    for key, value in fields.items():
        setattr(getattr(metric, name), key, value)
    return metric


# --------------------------------------------------------------------------- AUC
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("use_weights", [False, True])
def test_auc_matches_brute_force_with_ties(seed, use_weights):
    rng = np.random.default_rng(seed)
    n = 400
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.random(n), 1)  # heavy ties
    weights = rng.random(n) * 3 if use_weights else np.ones(n)
    got = cls.roc_auc(labels, scores, weights if use_weights else None)
    assert got == pytest.approx(brute_force_auc(labels, scores, weights), abs=1e-12)


def test_auc_simple_values():
    assert cls.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert cls.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert cls.roc_auc([1, 0], [0.9, 0.1]) == pytest.approx(1.0)
    # [N, 2] probs use the positive column; [N, 1] is flattened.
    assert cls.roc_auc([0, 1], [[0.9, 0.1], [0.2, 0.8]]) == pytest.approx(1.0)
    assert cls.roc_auc([0, 1], [[0.1], [0.8]]) == pytest.approx(1.0)


def test_auc_single_class_is_nan_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        value = cls.roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    assert math.isnan(value)
    assert "one class" in caplog.text
    assert math.isnan(cls.roc_auc([0, 0], [0.2, 0.5]))
    # zero weight on every negative also leaves a single class.
    assert math.isnan(cls.roc_auc([0, 1], [0.2, 0.5], weights=[0.0, 1.0]))


# --------------------------------------------------------------------------- GAUC
@pytest.mark.parametrize("reduction", ["mean", "mean_by_sample_num", "mean_by_positive_num"])
@pytest.mark.parametrize("key_kind", ["int", "str", "bytes"])
def test_gauc_matches_group_loop(reduction, key_kind):
    rng = np.random.default_rng(7)
    n = 2000
    raw_keys = rng.integers(0, 60, n)
    keys = {
        "int": raw_keys,
        "str": np.array([f"u{k}" for k in raw_keys], dtype=object),
        "bytes": np.array([f"u{k}".encode() for k in raw_keys], dtype=object),
    }[key_kind]
    labels = rng.integers(0, 2, n)
    labels[raw_keys == 5] = 1  # single-class groups must be skipped
    labels[raw_keys == 6] = 0
    scores = np.round(rng.random(n), 2)
    expected = gauc_by_loop(labels, scores, keys, reduction)
    assert cls.gauc(labels, scores, keys, reduction) == pytest.approx(expected, abs=1e-12)


def test_gauc_with_weights_matches_group_loop():
    rng = np.random.default_rng(11)
    n = 1500
    keys = rng.integers(0, 40, n)
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.random(n), 1)
    weights = rng.random(n)
    expected = gauc_by_loop(labels, scores, keys, "mean", weights)
    assert cls.gauc(labels, scores, keys, "mean", weights) == pytest.approx(expected, abs=1e-12)


def test_gauc_no_valid_group_and_bad_reduction():
    assert math.isnan(cls.gauc([1, 0], [0.3, 0.2], ["a", "b"]))
    with pytest.raises(ValueError):
        cls.gauc([1, 0], [0.3, 0.2], ["a", "a"], reduction="median")


def test_gauc_of_random_scores_on_many_groups_is_near_half():
    rng = np.random.default_rng(0)
    n = 200_000
    keys = rng.integers(0, 20_000, n)
    labels = rng.integers(0, 2, n)
    scores = rng.random(n).astype(np.float32)
    value = cls.gauc(labels, scores, keys, "mean_by_sample_num")
    assert 0.45 < value < 0.55


# --------------------------------------------------------------------------- others
def test_logloss_hand_computed():
    labels = np.array([1, 0, 1, 0])
    probs = np.array([0.9, 0.2, 0.6, 0.0])  # 0.0 is clipped to 1e-7
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6) + math.log(1 - 1e-7)) / 4
    assert cls.logloss(labels, probs) == pytest.approx(expected)
    weights = np.array([1.0, 2.0, 0.0, 1.0])
    expected_w = -(math.log(0.9) + 2 * math.log(0.8) + math.log(1 - 1e-7)) / 4
    assert cls.logloss(labels, probs, weights) == pytest.approx(expected_w)
    assert cls.logloss([1], [1.0]) == pytest.approx(-math.log(1 - 1e-7))
    assert cls.logloss([0], [1.0]) == pytest.approx(-math.log(1e-7))
    # categorical
    probs_mc = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert cls.logloss([0, 1], probs_mc) == pytest.approx(-(math.log(0.7) + math.log(0.1)) / 2)


def test_accuracy_precision_recall_hand_computed():
    labels = np.array([1, 1, 0, 0, 1, 0])
    probs = np.array([0.9, 0.4, 0.6, 0.1, 0.5, 0.5])
    # predicted (> 0.5): 1 0 1 0 0 0 -> tp=1, fp=1, fn=2, tn=2
    assert cls.accuracy(labels, probs) == pytest.approx(3 / 6)
    assert cls.precision(labels, probs) == pytest.approx(1 / 2)
    assert cls.recall(labels, probs) == pytest.approx(1 / 3)
    # threshold 0.3: predicted 1 1 1 0 1 1 -> tp=3, fp=2, fn=0
    assert cls.accuracy(labels, probs, threshold=0.3) == pytest.approx(4 / 6)
    assert cls.precision(labels, probs, threshold=0.3) == pytest.approx(3 / 5)
    assert cls.recall(labels, probs, threshold=0.3) == pytest.approx(1.0)
    weights = np.array([2.0, 1.0, 1.0, 1.0, 1.0, 3.0])
    assert cls.accuracy(labels, probs, weights=weights) == pytest.approx((2 + 1 + 3) / 9)
    assert cls.precision(labels, probs, weights=weights) == pytest.approx(2 / 3)
    assert cls.recall(labels, probs, weights=weights) == pytest.approx(2 / 4)
    # nothing predicted positive -> precision 0
    assert cls.precision([1, 0], [0.1, 0.2]) == 0.0
    # multi-class accuracy is argmax
    probs_mc = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    assert cls.accuracy([0, 1, 1], probs_mc) == pytest.approx(2 / 3)


def test_max_f1_hand_computed():
    labels = np.array([1, 0, 1, 0, 1])
    probs = np.array([0.9, 0.8, 0.7, 0.3, 0.2])
    # cuts: {.9}: tp1 -> 2/(1+3)=.5; {.9,.8}: 2/(2+3)=.4; {..,.7}: 4/(3+3)=.667;
    # {..,.3}: 4/7; all: 6/8=.75
    assert cls.max_f1(labels, probs) == pytest.approx(0.75)
    # ties are cut as a block: both 0.5 rows enter together.
    assert cls.max_f1([1, 0], [0.5, 0.5]) == pytest.approx(2 / 3)
    assert cls.max_f1([1, 0, 0], [0.9, 0.5, 0.5]) == pytest.approx(1.0)
    assert cls.max_f1([0, 0], [0.9, 0.5]) == 0.0


def test_max_f1_matches_threshold_scan():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    probs = np.round(rng.random(300), 2)
    best = 0.0
    for t in np.unique(probs):
        pred = probs >= t
        tp = np.sum(pred & (labels == 1))
        f1 = 2 * tp / (pred.sum() + labels.sum())
        best = max(best, f1)
    assert cls.max_f1(labels, probs) == pytest.approx(best)


def test_recall_at_topk():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.4, 0.4, 0.2], [0.6, 0.3, 0.1]])
    labels = np.array([1, 0, 1, 2])
    assert cls.recall_at_topk(labels, probs, topk=1) == pytest.approx(1 / 4)  # tie counts
    assert cls.recall_at_topk(labels, probs, topk=2) == pytest.approx(2 / 4)
    assert cls.recall_at_topk(labels, probs, topk=3) == pytest.approx(1.0)


def test_regression_hand_computed():
    labels = np.array([1.0, 2.0, 3.0, 4.0])
    preds = np.array([1.5, 2.0, 2.0, 6.0])
    assert reg.mse(labels, preds) == pytest.approx((0.25 + 0 + 1 + 4) / 4)
    assert reg.mae(labels, preds) == pytest.approx((0.5 + 0 + 1 + 2) / 4)
    assert reg.rmse(labels, preds) == pytest.approx(math.sqrt(5.25 / 4))
    weights = np.array([2.0, 1.0, 1.0, 0.0])
    assert reg.mse(labels, preds, weights) == pytest.approx((0.5 + 1) / 4)
    assert reg.mae(labels, preds, weights) == pytest.approx((1.0 + 1) / 4)


# --------------------------------------------------------------------------- evaluator
def _classification_metrics() -> list[eval_pb2.EvalMetrics]:
    return [
        make_metric("auc"),
        make_metric("gauc", uid_field="user_id", reduction="mean_by_sample_num"),
        make_metric("log_loss"),
        make_metric("accuracy", threshold=0.3),
        make_metric("precision"),
        make_metric("recall"),
        make_metric("max_f1"),
    ]


def test_compute_metrics_keys_and_values():
    rng = np.random.default_rng(5)
    n = 500
    labels = rng.integers(0, 2, n)
    probs = rng.random(n)
    users = np.array([f"{u}".encode() for u in rng.integers(0, 20, n)], dtype=object)
    weights = rng.random(n)
    result = compute_metrics(
        _classification_metrics(), labels, {"probs": probs}, {"user_id": users}, weights
    )
    assert set(result) == {"auc", "gauc", "logloss", "accuracy", "precision", "recall", "max_f1"}
    assert result["auc"] == pytest.approx(cls.roc_auc(labels, probs, weights))
    assert result["gauc"] == pytest.approx(
        cls.gauc(labels, probs, users, "mean_by_sample_num", weights)
    )
    assert result["accuracy"] == pytest.approx(cls.accuracy(labels, probs, 0.3, weights))
    assert all(isinstance(v, float) for v in result.values())

    reg_metrics = [
        make_metric("mean_squared_error"),
        make_metric("mean_absolute_error"),
        make_metric("root_mean_squared_error"),
    ]
    y = rng.random(n)
    result = compute_metrics(reg_metrics, labels, {"y": y}, {})
    assert set(result) == {"mse", "mae", "rmse"}
    assert result["rmse"] == pytest.approx(math.sqrt(result["mse"]))

    probs_mc = rng.random((n, 4))
    labels_mc = rng.integers(0, 4, n)
    mc_metrics = [make_metric("recall_at_topk", topk=2), make_metric("accuracy")]
    result = compute_metrics(mc_metrics, labels_mc, {"probs": probs_mc}, {}, num_class=4)
    assert set(result) == {"recall_at_topk", "accuracy"}
    with pytest.raises(ValueError):
        compute_metrics([make_metric("auc")], labels_mc, {"probs": probs_mc}, {}, num_class=4)
    with pytest.raises(KeyError):
        compute_metrics([make_metric("auc")], labels, {"y": y}, {})


def test_compute_metrics_duplicate_metric_gets_suffix():
    labels = np.array([0, 1, 0, 1])
    probs = np.array([0.1, 0.9, 0.6, 0.4])
    metrics = [make_metric("accuracy", threshold=0.5), make_metric("accuracy", threshold=0.05)]
    result = compute_metrics(metrics, labels, {"probs": probs}, {})
    assert result == {"accuracy": 0.5, "accuracy_1": 0.5}


def test_accumulator_matches_single_shot():
    rng = np.random.default_rng(9)
    n = 1000
    labels = rng.integers(0, 2, n)
    probs = rng.random(n)
    users = rng.integers(0, 30, n)
    other = rng.random(n)
    metrics = _classification_metrics()
    fields = gauc_group_fields(metrics)
    assert fields == ["user_id"]
    acc = MetricAccumulator(group_fields=fields)
    for start in range(0, n, 128):
        sl = slice(start, start + 128)
        acc.update(
            labels[sl],
            {"probs": probs[sl, None], "logits": probs[sl]},
            {"user_id": users[sl, None], "unused": other[sl]},
        )
    assert acc.num_examples == n
    expected = compute_metrics(metrics, labels, {"probs": probs}, {"user_id": users})
    assert acc.result(metrics, num_class=1) == pytest.approx(expected)
    with pytest.raises(ValueError):
        acc.update(labels[:2], {"probs": probs[:2]}, {"user_id": users[:2]}, weights=np.ones(2))
    acc.reset()
    assert acc.result(metrics) == {}


def test_write_eval_result_atomic_and_history(tmp_path):
    model_dir = str(tmp_path / "model")
    path1 = write_eval_result(model_dir, {"auc": np.float32(0.75), "gauc": float("nan")}, 100,
                              num_examples=10)
    assert path1 == os.path.join(model_dir, "eval_results", "step_100.json")
    with open(path1, encoding="utf-8") as handle:
        record = json.load(handle)
    assert record["auc"] == pytest.approx(0.75)
    assert record["gauc"] is None
    assert record["global_step"] == 100 and record["num_examples"] == 10
    assert isinstance(record["time"], float)

    path2 = write_eval_result(model_dir, {"auc": 0.8, "num_examples": 20}, 200)
    path3 = write_eval_result(model_dir, {"auc": 0.85}, 200)  # re-eval same step overwrites
    assert path2 == path3
    with open(path2, encoding="utf-8") as handle:
        assert json.load(handle)["auc"] == pytest.approx(0.85)

    files = sorted(os.listdir(os.path.join(model_dir, "eval_results")))
    assert files == ["history.jsonl", "step_100.json", "step_200.json"]  # no temp files left
    with open(os.path.join(model_dir, "eval_results", "history.jsonl"), encoding="utf-8") as h:
        history = [json.loads(line) for line in h]
    assert [r["global_step"] for r in history] == [100, 200, 200]
    assert history[1]["num_examples"] == 20
    assert history[0] == record


def test_write_eval_result_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    model_dir = str(tmp_path)
    write_eval_result(model_dir, {"auc": 0.7}, 5)

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_eval_result(model_dir, {"auc": 0.9}, 5)
    monkeypatch.undo()
    out_dir = os.path.join(model_dir, "eval_results")
    assert sorted(os.listdir(out_dir)) == ["history.jsonl", "step_5.json"]
    with open(os.path.join(out_dir, "step_5.json"), encoding="utf-8") as handle:
        assert json.load(handle)["auc"] == pytest.approx(0.7)


def test_session_auc_is_gauc_over_sessions():
    labels = np.array([1, 0, 1, 0, 1, 1])
    probs = np.array([0.9, 0.2, 0.3, 0.6, 0.5, 0.4])
    sessions = np.array([7, 7, 8, 8, 9, 9])  # session 9 has one class: skipped
    metric = eval_pb2.EvalMetrics()
    metric.session_auc.session_id_field = "sid"
    assert gauc_group_fields([metric]) == ["sid"]
    result = compute_metrics([metric], labels, {"probs": probs}, {"sid": sessions})
    assert result == {"session_auc": pytest.approx((1.0 + 0.0) / 2)}


def test_metric_learning_recall_at_topk_by_hand():
    """EasyRec's metric-learning recall@k: each row's k true rows are its most similar relevant
    rows (not itself), completed by the first rows by position; hits / (rows * k)."""
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])  # cosines: 01 0.8, 02 0, 12 0.6
    labels = np.array([5, 5, 6])
    from easy_rec.metrics.metric_learning import recall_hits_at_k

    # k=1: rows 0 and 1 find each other; row 2 (no relevant row) has true row 0, predicts 1
    assert recall_hits_at_k(emb, labels, 1) == (2, 3)
    # k=2: row 0 true [1, 0] vs predicted [1, 2]; row 1 [0, 1] vs [0, 2]; row 2 [0, 1] vs [1, 0]
    assert recall_hits_at_k(emb, labels, 2) == (4, 6)
    metric = eval_pb2.EvalMetrics()
    metric.recall_at_topk.topk = 2
    # batches [row 0] (k = 1: itself, 1 hit) and [rows 1, 2] (no relevant rows: 2 + 2 hits)
    result = compute_metrics([metric], labels, {"float_emb": emb}, {}, batch_sizes=[1, 2])
    assert result == {"recall_at_topk": pytest.approx(5 / 5)}
    result = compute_metrics([metric], labels, {"float_emb": emb}, {})
    assert result == {"recall_at_topk": pytest.approx(4 / 6)}


def test_precision_at_topk_by_hand():
    """Rows 0 and 1 share a label (relevant to each other), row 2 is alone; the row itself
    counts in the denominator (EasyRec's mask keeps the diagonal)."""
    emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    labels = np.array([5, 5, 6])
    # row 0: sims to 1, 2 = 0.8, 0 -> ranking [1, 2, 0]; hits [1, 0, 1]
    # row 1: sims to 0, 2 = 0.8, 0.6 -> ranking [0, 2, 1]; hits [1, 0, 1]
    # row 2: sims to 0, 1 = 0, 0.6 -> ranking [1, 0, 2]; hits [0, 0, 1]
    from easy_rec.metrics.metric_learning import average_precision_at_k

    np.testing.assert_allclose(average_precision_at_k(emb, labels, 2), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(average_precision_at_k(emb, labels, 3),
                               [(1 + 2 / 3) / 2, (1 + 2 / 3) / 2, 1 / 3])
    sessions = np.array([1, 2, 2])  # rows 0 and 1 no longer relevant to each other
    np.testing.assert_allclose(average_precision_at_k(emb, labels, 2, sessions), [0, 0, 0])
    metric = eval_pb2.EvalMetrics()
    metric.precision_at_topk.topk = 2
    # eval batches [row 0] and [rows 1, 2]: each row ranks only the rows of its batch, where
    # row 0 finds itself first (AP 1); rows 1 and 2 find the other row, then themselves (1/2)
    result = compute_metrics([metric], labels, {"float_emb": emb}, {}, batch_sizes=[1, 2])
    assert result == {"MAP@2": pytest.approx((1.0 + 0.5 + 0.5) / 3)}
