"""Exact, vectorised classification metrics computed with numpy.

All functions take whole-eval-set numpy arrays (see ``easy_rec.metrics.evaluator``).
Binary metrics accept ``probs`` of shape ``[N]`` or ``[N, 2]`` (the positive class
column is used, as EasyRec does for ``num_class == 2``). Labels are treated as
positive when they are non-zero (``tf.cast(label, tf.bool)`` semantics).

Threshold metrics (accuracy, precision, recall) predict the positive class when
``prob > threshold``, matching ``tf.compat.v1.metrics.*_at_thresholds``.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

LOGLOSS_EPS = 1e-7
GAUC_REDUCTIONS = ("mean", "mean_by_sample_num", "mean_by_positive_num")
#: AUC metrics computed per group of rows -> the field of their message naming the group column
GROUPED_AUC_FIELDS = {"gauc": "uid_field", "session_auc": "session_id_field"}


# --------------------------------------------------------------------------- helpers
def _as_1d(x: np.ndarray, name: str) -> np.ndarray:
    """Return ``x`` as a flat numpy array (``[N, 1]`` is accepted)."""
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _weights_or_ones(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Return float64 sample weights of length ``n`` (ones when ``weights`` is None)."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = _as_1d(weights, "weights").astype(np.float64)
    if w.shape[0] != n:
        raise ValueError(f"weights has {w.shape[0]} rows, expected {n}")
    return w


def binary_scores(probs: np.ndarray) -> np.ndarray:
    """Return the positive-class score as float64 ``[N]`` from ``[N]``, ``[N,1]`` or ``[N,2]``."""
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return arr[:, 1]
    return _as_1d(arr, "probs")


def _binary_inputs(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert binary-metric inputs to (bool labels, scores, weights)."""
    scores = binary_scores(probs)
    y = _as_1d(labels, "labels")
    if y.shape[0] != scores.shape[0]:
        raise ValueError(f"labels has {y.shape[0]} rows but probs has {scores.shape[0]}")
    return y != 0, scores, _weights_or_ones(weights, y.shape[0])


def _safe_div(num: float, den: float) -> float:
    """``num / den`` or 0.0 when ``den`` is zero (TF metric convention)."""
    return float(num / den) if den > 0 else 0.0


# --------------------------------------------------------------------------- AUC core
def _grouped_auc(
    group_ids: np.ndarray,
    num_groups: int,
    positive: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted rank AUC for every group at once.

    Rows are sorted by (group, score); rows sharing both form a tie block that counts
    half (average rank). For a block with positive weight ``P_b`` and negative weight
    ``N_b`` the contribution is ``P_b * (negatives below the block + N_b / 2)``.

    Args:
      group_ids: int array ``[N]`` with values in ``[0, num_groups)``.
      num_groups: number of groups.
      positive: bool array ``[N]``.
      scores: float array ``[N]``.
      weights: float64 array ``[N]``.

    Returns:
      (auc, pos_weight, neg_weight) arrays of shape ``[num_groups]``; ``auc`` is nan
      for groups lacking either class.
    """
    # One int64 key per (group, score rank): a single argsort is much faster than lexsort.
    distinct_scores, score_rank = np.unique(scores, return_inverse=True)
    num_ranks = max(int(distinct_scores.shape[0]), 1)
    key = group_ids.astype(np.int64) * num_ranks + score_rank.reshape(-1)
    order = np.argsort(key)
    sorted_key = key[order]
    g = sorted_key // num_ranks
    pos_w = np.where(positive[order], weights[order], 0.0)
    neg_w = weights[order] - pos_w

    new_block = np.empty(g.shape[0], dtype=bool)
    new_block[:1] = True
    new_block[1:] = sorted_key[1:] != sorted_key[:-1]
    block_id = np.cumsum(new_block) - 1
    num_blocks = int(block_id[-1]) + 1 if block_id.size else 0
    block_group = g[new_block]

    block_pos = np.bincount(block_id, weights=pos_w, minlength=num_blocks)
    block_neg = np.bincount(block_id, weights=neg_w, minlength=num_blocks)

    neg_before = np.cumsum(block_neg) - block_neg  # global, exclusive
    first_block = np.ones(num_blocks, dtype=bool)
    first_block[1:] = block_group[1:] != block_group[:-1]
    group_offset = np.zeros(num_groups, dtype=np.float64)
    group_offset[block_group[first_block]] = neg_before[first_block]
    neg_below = neg_before - group_offset[block_group]

    contrib = block_pos * (neg_below + 0.5 * block_neg)
    area = np.bincount(block_group, weights=contrib, minlength=num_groups)
    pos_total = np.bincount(block_group, weights=block_pos, minlength=num_groups)
    neg_total = np.bincount(block_group, weights=block_neg, minlength=num_groups)
    denom = pos_total * neg_total
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(denom > 0, area / np.where(denom > 0, denom, 1.0), np.nan)
    return auc, pos_total, neg_total


def roc_auc(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Exact ROC AUC (Mann-Whitney statistic with average ranks for ties).

    Args:
      labels: ``[N]`` binary labels (non-zero means positive).
      probs: ``[N]`` (or ``[N, 2]``) predicted scores.
      weights: optional ``[N]`` non-negative sample weights.

    Returns:
      The AUC, or ``nan`` (with a warning) when only one class has positive weight.
    """
    positive, scores, w = _binary_inputs(labels, probs, weights)
    if positive.size == 0:
        logger.warning("AUC is undefined on an empty eval set; returning nan")
        return float("nan")
    auc, _, _ = _grouped_auc(np.zeros(positive.size, dtype=np.int64), 1, positive, scores, w)
    if np.isnan(auc[0]):
        logger.warning("AUC is undefined when only one class is present; returning nan")
    return float(auc[0])


def encode_groups(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary group keys (ints, str or bytes) to dense int ids.

    Object arrays of str/bytes are converted to fixed-width numpy strings first,
    which makes the sort inside ``np.unique`` several times faster.
    """
    arr = _as_1d(keys, "group keys")
    if arr.dtype == object and arr.size:
        first = arr[0]
        if isinstance(first, bytes):
            arr = arr.astype(np.bytes_)
        elif isinstance(first, str):
            arr = arr.astype(np.str_)
    uniq, inverse = np.unique(arr, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), int(uniq.shape[0])


def gauc(
    labels: np.ndarray,
    probs: np.ndarray,
    group_keys: np.ndarray,
    reduction: str = "mean",
    weights: np.ndarray | None = None,
) -> float:
    """Group AUC: AUC per group, averaged over groups having both classes.

    EasyRec semantics: groups with a single class are skipped; the per-group AUCs
    are averaged with weight 1 (``mean``), the group's sample count
    (``mean_by_sample_num``) or the group's sum of labels (``mean_by_positive_num``).
    Sample ``weights`` (optional) only weight rows inside each per-group AUC.

    Returns:
      The reduced AUC, or ``nan`` (with a warning) if no group has both classes.
    """
    if reduction not in GAUC_REDUCTIONS:
        raise ValueError(f"gauc reduction must be one of {GAUC_REDUCTIONS}, got {reduction!r}")
    positive, scores, w = _binary_inputs(labels, probs, weights)
    group_ids, num_groups = encode_groups(group_keys)
    if group_ids.shape[0] != positive.shape[0]:
        raise ValueError(f"group keys have {group_ids.shape[0]} rows, expected {positive.size}")
    if positive.size == 0:
        logger.warning("GAUC is undefined on an empty eval set; returning nan")
        return float("nan")
    auc, _, _ = _grouped_auc(group_ids, num_groups, positive, scores, w)
    valid = ~np.isnan(auc)
    if not valid.any():
        logger.warning("GAUC: no group contains both classes; returning nan")
        return float("nan")
    if reduction == "mean":
        group_weight = np.ones(num_groups, dtype=np.float64)
    elif reduction == "mean_by_sample_num":
        group_weight = np.bincount(group_ids, minlength=num_groups).astype(np.float64)
    else:
        label_values = _as_1d(labels, "labels").astype(np.float64)
        group_weight = np.bincount(group_ids, weights=label_values, minlength=num_groups)
    total = group_weight[valid].sum()
    if total <= 0:
        logger.warning("GAUC: reduction weights sum to zero; returning nan")
        return float("nan")
    return float(np.sum(auc[valid] * group_weight[valid]) / total)


# --------------------------------------------------------------------------- other metrics
def logloss(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Weighted mean cross entropy with probs clipped to ``[1e-7, 1 - 1e-7]``.

    ``probs`` of shape ``[N]`` is binary (labels may be soft targets in [0, 1]);
    ``[N, C]`` is categorical with integer class labels.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = _as_1d(labels, "labels")
    w = _weights_or_ones(weights, y.shape[0])
    p = np.clip(p, LOGLOSS_EPS, 1.0 - LOGLOSS_EPS)
    if p.ndim == 2 and p.shape[1] > 1:
        picked = p[np.arange(y.shape[0]), y.astype(np.int64)]
        losses = -np.log(picked)
    else:
        p = _as_1d(p, "probs")
        yf = y.astype(np.float64)
        losses = -(yf * np.log(p) + (1.0 - yf) * np.log(1.0 - p))
    return _safe_div(float(np.sum(w * losses)), float(np.sum(w)))


def accuracy(
    labels: np.ndarray,
    probs: np.ndarray,
    threshold: float = 0.5,
    weights: np.ndarray | None = None,
) -> float:
    """Weighted accuracy: ``prob > threshold`` for binary ``[N]`` probs, argmax for ``[N, C]``."""
    p = np.asarray(probs, dtype=np.float64)
    y = _as_1d(labels, "labels")
    w = _weights_or_ones(weights, y.shape[0])
    if p.ndim == 2 and p.shape[1] > 1:
        correct = np.argmax(p, axis=1) == y.astype(np.int64)
    else:
        correct = (_as_1d(p, "probs") > threshold) == (y != 0)
    return _safe_div(float(np.sum(w * correct)), float(np.sum(w)))


def _confusion(
    labels: np.ndarray, probs: np.ndarray, threshold: float, weights: np.ndarray | None
) -> tuple[float, float, float]:
    """Weighted (true positives, false positives, false negatives) at ``threshold``."""
    positive, scores, w = _binary_inputs(labels, probs, weights)
    predicted = scores > threshold
    tp = float(np.sum(w[predicted & positive]))
    fp = float(np.sum(w[predicted & ~positive]))
    fn = float(np.sum(w[~predicted & positive]))
    return tp, fp, fn


def precision(
    labels: np.ndarray,
    probs: np.ndarray,
    threshold: float = 0.5,
    weights: np.ndarray | None = None,
) -> float:
    """Weighted precision ``tp / (tp + fp)`` at ``prob > threshold`` (0 if nothing predicted)."""
    tp, fp, _ = _confusion(labels, probs, threshold, weights)
    return _safe_div(tp, tp + fp)


def recall(
    labels: np.ndarray,
    probs: np.ndarray,
    threshold: float = 0.5,
    weights: np.ndarray | None = None,
) -> float:
    """Weighted recall ``tp / (tp + fn)`` at ``prob > threshold`` (0 if no positives)."""
    tp, _, fn = _confusion(labels, probs, threshold, weights)
    return _safe_div(tp, tp + fn)


def max_f1(
    labels: np.ndarray, probs: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Best F1 over every possible decision threshold (exact, not bucketed).

    Rows are sorted by descending score; cutting after each tie block gives every
    distinct classifier ``prob >= t``. F1 = 2 tp / (tp + fp + P). Returns 0 when
    there is no positive weight.
    """
    positive, scores, w = _binary_inputs(labels, probs, weights)
    total_pos = float(np.sum(w[positive]))
    if positive.size == 0 or total_pos <= 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    tp = np.cumsum(np.where(positive[order], w[order], 0.0))
    predicted = np.cumsum(w[order])
    block_end = np.ones(s.shape[0], dtype=bool)
    block_end[:-1] = s[1:] != s[:-1]
    f1 = 2.0 * tp[block_end] / (predicted[block_end] + total_pos)
    return float(np.max(f1))


def recall_at_topk(
    labels: np.ndarray, probs: np.ndarray, topk: int = 5, weights: np.ndarray | None = None
) -> float:
    """Weighted fraction of rows whose label is within the top-k classes of ``probs``.

    Ties follow ``tf.nn.in_top_k``: the label is in the top k when fewer than k
    classes score strictly higher than it.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"recall_at_topk needs [N, C] probs, got shape {p.shape}")
    y = _as_1d(labels, "labels").astype(np.int64)
    w = _weights_or_ones(weights, y.shape[0])
    label_score = p[np.arange(y.shape[0]), y]
    num_higher = np.sum(p > label_score[:, None], axis=1)
    hit = num_higher < topk
    return _safe_div(float(np.sum(w * hit)), float(np.sum(w)))
